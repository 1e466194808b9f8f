"""`poptui import` writing (or, dry, not writing) the database and the secret store: byte for
byte unchanged by --dry-run, nothing created twice, nothing half-created on a failure, and a
Thunderbird profile's popstate.dat honoured by a real fetch from Dovecot."""

from __future__ import annotations

import poplib
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.unit.cli_helpers import PoptuiRunner
from tests.unit.test_imports import thunderbird_profile, write
from tui.core.imports import Peer, apply_plan, plan_import
from tui.core.secrets import MemoryStore, SecretKind, SecretStoreError
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, ImportedUidl, Message

RC = """\
poll one.example.com proto pop3 user "a" there with password "pa" options keep ssl
poll two.example.com proto pop3 user "b" there with password "pb" options keep ssl
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("FETCHMAILHOME", raising=False)
    return home


def _database_bytes(url: str) -> bytes:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(path + "-wal")
    return Path(path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_dry_run_changes_neither_database_nor_secret_store(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(home / ".fetchmailrc", RC)
    write(home / ".fetchids", "a@one.example.com U1\n")
    poptui = PoptuiRunner(tmp_path, monkeypatch)
    poptui.use_file_store()
    assert poptui("account", "add", "Other", "--incoming-host", "x.example", "--username", "x",
                  "--email", "x@x.example", "--password-stdin", stdin="pw\n").code == 0  # fmt: skip
    before = (_database_bytes(poptui.url), poptui.secrets_file.read_bytes())
    dry = poptui("import", "fetchmail", "--dry-run")
    assert dry.code == 0, dry.err
    assert (_database_bytes(poptui.url), poptui.secrets_file.read_bytes()) == before
    assert "+ one.example.com: would be created" in dry.out
    assert "would go to the secret store" in dry.out
    assert "Dry run: would create 2 mailboxes, store 2 passwords and file 1" in dry.out
    real = poptui("import", "fetchmail")
    assert "Created 2 mailboxes, stored 2 passwords, filed 1 already-fetched UIDLs" in real.out
    assert "pa" not in real.out.split() and "pb" not in real.out.split()


def test_importing_twice_creates_nothing_twice_but_files_new_state(
    home: Path, tmp_path: Path
) -> None:
    open_database(f"sqlite:///{tmp_path}/db.sqlite")
    rc = write(home / ".fetchmailrc", RC)
    write(home / ".fetchids", "a@one.example.com U1\n")
    store, secrets = AccountStore("tester"), MemoryStore()
    first = apply_plan(plan_import(Peer.FETCHMAIL, rc), store, lambda: secrets)
    assert sorted(first.created) == ["one.example.com", "two.example.com"]
    one = store.get("one.example.com")
    assert secrets.get(one.secret_key, SecretKind.INCOMING) == "pa"
    assert store.active() is not None  # the first mailbox becomes the active one
    write(home / ".fetchids", "a@one.example.com U1\na@one.example.com U2\n")
    secrets.set(one.secret_key, SecretKind.INCOMING, "changed since")
    second = apply_plan(plan_import(Peer.FETCHMAIL, rc), store, lambda: secrets)
    assert second.created == [] and second.uidls_added == 1
    assert Account.select().count() == 2
    assert sorted(u.uidl for u in ImportedUidl.select()) == ["U1", "U2"]
    assert secrets.get(one.secret_key, SecretKind.INCOMING) == "changed since"  # left alone
    # the same server and user from another peer is the same mailbox, under another name too
    write(home / ".mpoprc", "account x\nhost ONE.example.com\nuser a\ntls on\n")
    third = apply_plan(plan_import(Peer.MPOP), store, lambda: secrets)
    assert third.created == [] and third.accounts[0].name == "one.example.com"


def test_a_name_taken_by_another_mailbox_gets_a_number(home: Path, tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path}/db.sqlite")
    store = AccountStore("tester")
    from tui.core.settings import AccountSettings

    store.create(AccountSettings(name="box", incoming_host="elsewhere", username="z"))
    write(home / ".mpoprc", "account box\nhost h\nuser u\n")
    outcome = apply_plan(plan_import(Peer.MPOP), store, None)
    assert outcome.created == ["box (2)"]


class FailingStore(MemoryStore):
    """A secret store that breaks on its second password (a keyring locked mid-way)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        self.calls += 1
        if self.calls == 2:
            raise SecretStoreError("The keyring was locked.")
        super().set(account_key, kind, password, mailbox=mailbox)


def test_nothing_is_half_imported_when_the_secret_store_fails(home: Path, tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path}/db.sqlite")
    write(home / ".fetchmailrc", RC)
    write(home / ".fetchids", "a@one.example.com U1\n")
    secrets = FailingStore()
    with pytest.raises(SecretStoreError):
        apply_plan(plan_import(Peer.FETCHMAIL), AccountStore("tester"), lambda: secrets)
    assert Account.select().count() == 0 and ImportedUidl.select().count() == 0
    assert repr(secrets) == "MemoryStore(0 passwords)"  # the first one was taken back


def test_thunderbird_popstate_keeps_fetched_mail_from_being_fetched_again(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:  # fmt: skip
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    pop = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    pop.user(pop_user.name)
    pop.pass_(pop_user.password)
    uidls = [line.split()[1].decode() for line in pop.uidl()[1]]
    pop.quit()
    # Thunderbird fetched 1 and 2 whole ("k"); 3 only its headers ("b"): 3 is fetched again.
    popstate = "# POP3 State File\n# This is a generated file!  Do not edit.\n\n"
    popstate += f"*{dovecot.host} {pop_user.name}\n"
    popstate += f"k {uidls[0]} 1700000000\nk {uidls[1]} 1700000001\nb {uidls[2]} 1700000002\n"
    profile = thunderbird_profile(home, dovecot.host, dovecot.tls_port, pop_user.name, popstate)
    poptui = PoptuiRunner(tmp_path, monkeypatch)
    poptui.use_file_store()
    imported = poptui("import", "thunderbird", str(profile))
    assert "filed 2 already-fetched UIDLs" in imported.out, imported.out + imported.err
    assert poptui("password", "set", "Home mail", "--incoming", "--stdin",
                  stdin=pop_user.password + "\n").code == 0  # fmt: skip
    dovecot.deliver(pop_user.name, make_message(100))
    fetched = poptui("fetch", "--account", "Home mail", "--ca-file", str(dovecot.cert_path))
    assert fetched.code == 0, fetched.err + fetched.out
    open_database(poptui.url)
    subjects = sorted(m.subject for m in Message.select())
    assert subjects == ["Message number 100", "Message number 2"]
    # "delete when deleted here" (Thunderbird's delete_mail_left_on_server): nothing deleted yet
    assert len(dovecot.maildir_files(pop_user.name)) == 4


def test_a_broken_file_is_worded_with_its_line_and_nothing_is_created(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(home / ".mpoprc", "account good\nhost h\nuser u\npassword p\naccount bad\nport x\n")
    poptui = PoptuiRunner(tmp_path, monkeypatch)
    broken = poptui("import", "mpop")
    assert broken.code == 1
    assert "~/.mpoprc:6: port 'x' is not a number" in broken.err
    assert "Fix the file" in broken.err
    open_database(poptui.url)
    assert Account.select().count() == 0  # the good account before the error is not created


def test_a_deleting_policy_never_deletes_what_the_peer_fetched_and_says_so(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:  # fmt: skip
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    pop = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    pop.user(pop_user.name)
    pop.pass_(pop_user.password)
    uidls = [line.split()[1].decode() for line in pop.uidl()[1]]
    pop.quit()
    # mpop deletes by default (no `keep`); these three it saw while the user had `keep on`.
    write(
        home / ".mpoprc",
        f"account box\nhost {dovecot.host}\nport {dovecot.tls_port}\ntls on\ntls_starttls off\n"
        f"user {pop_user.name}\npassword {pop_user.password}\n",
    )
    write(
        home / ".mpop_uidls" / f"{pop_user.name}_at_{dovecot.host}",
        f"# mpop\n 3 {dovecot.host} {pop_user.name}\n" + "\n".join(uidls) + "\n",
    )
    poptui = PoptuiRunner(tmp_path, monkeypatch)
    poptui.use_file_store()
    imported = poptui("import", "mpop")
    assert "WARNING: poptui will DELETE messages on the server once it has stored them" in (
        imported.out
    )
    assert "3 messages mpop already fetched stay on the server" in imported.out
    dovecot.deliver_many(pop_user.name, [make_message(100), make_message(101)])
    fetched = poptui("fetch", "--account", "box", "--ca-file", str(dovecot.cert_path))
    assert fetched.code == 0, fetched.err + fetched.out
    open_database(poptui.url)
    assert sorted(m.subject for m in Message.select()) == [
        "Message number 100",
        "Message number 101",
    ]
    # the two fetched are deleted (the policy); the three the peer took are not (no copy here)
    left = [p.read_bytes() for p in dovecot.maildir_files(pop_user.name)]
    assert len(left) == 3 and all(b"Message number 10" not in raw for raw in left)
