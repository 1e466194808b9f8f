"""`poptui import` of state the REAL fetchmail, getmail6 and mpop wrote: each tool fetches from
the suite's Dovecot keeping mail on the server, poptui imports its setup and state, new mail
arrives, and poptui fetches only that new mail (the old is neither fetched nor deleted)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.unit.cli_helpers import PoptuiRunner
from tui.core.delivery import list_targets
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, ImportedUidl, database_proxy
from tui.core.storage.source_files import read_source

OLD, NEW = 3, 2


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: apt-get install {name}", pytrace=False)
    return found


def _run_tool(argv: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{argv[0]} failed: {done.stdout}\n{done.stderr}"
    return done


def _fetchmail(dovecot: DovecotServer, user: PopUser, home: Path) -> tuple[str, Path]:
    rc = home / ".fetchmailrc"
    # `via localhost`: fetchmail checks the certificate's common name, which is localhost.
    rc.write_text(
        f"set daemon 300\n"
        f"poll dovecot via localhost with proto pop3 service {dovecot.tls_port}\n"
        f'    user "{user.name}" there with password "{user.password}" is nobody here\n'
        f'    options keep ssl sslcertck sslcertfile "{dovecot.cert_path}"\n'
        '    mda "cat >/dev/null"\n'
    )
    rc.chmod(0o600)
    _run_tool([_tool("fetchmail"), "--daemon", "0", "--nodetach", "--nosyslog"], home)
    assert len((home / ".fetchids").read_text().splitlines()) == OLD
    return "fetchmail", rc


def _getmail(dovecot: DovecotServer, user: PopUser, home: Path) -> tuple[str, Path]:
    directory = home / ".getmail"
    directory.mkdir()
    rc = directory / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = 127.0.0.1\n"
        f"port = {dovecot.tls_port}\nusername = {user.name}\npassword = {user.password}\n"
        f"ca_certs = {dovecot.cert_path}\n"
        "[destination]\ntype = MDA_external\npath = /bin/sh\n"
        "arguments = ('-c', 'cat >/dev/null')\nallow_root_commands = true\n"
        "[options]\nread_all = false\ndelete = false\n"
    )
    rc.chmod(0o600)
    _run_tool([_tool("getmail"), "--getmaildir", str(directory), "--quiet"], home)
    (state,) = directory.glob("oldmail-*")
    assert len(state.read_text().splitlines()) == OLD
    return "getmail", directory


def _mpop(dovecot: DovecotServer, user: PopUser, home: Path) -> tuple[str, Path]:
    rc = home / ".mpoprc"
    rc.write_text(
        f"defaults\ntls on\ntls_trust_file {dovecot.cert_path}\n"
        f"account box\nhost 127.0.0.1\nport {dovecot.tls_port}\ntls_starttls off\n"
        f"user {user.name}\npassword {user.password}\nkeep on\n"
        'delivery mda "cat >/dev/null"\n'
    )
    rc.chmod(0o600)
    _run_tool([_tool("mpop"), "--quiet", "box"], home)
    (state,) = (home / ".mpop_uidls").iterdir()
    assert f" {OLD} 127.0.0.1 {user.name}" in state.read_text()
    return "mpop", rc


@pytest.mark.parametrize(
    "peer_run", [_fetchmail, _getmail, _mpop], ids=["fetchmail", "getmail", "mpop"]
)
def test_poptui_fetches_only_the_mail_the_real_tool_did_not(
    peer_run: Callable[[DovecotServer, PopUser, Path], tuple[str, Path]],
    dovecot: DovecotServer,
    pop_user: PopUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    old = [make_message(i) for i in range(OLD)]
    dovecot.deliver_many(pop_user.name, old)
    peer, path = peer_run(dovecot, pop_user, home)

    poptui = PoptuiRunner(tmp_path, monkeypatch)
    poptui.use_file_store()
    imported = poptui("import", peer, str(path))
    assert imported.code == 0, imported.err
    assert "Created 1 mailboxes, stored 1 passwords, filed 3 already-fetched UIDLs" in imported.out
    assert "password: clear text in" in imported.out
    assert "could not be mapped" in imported.out  # the tool's CA file
    assert pop_user.password not in imported.out + imported.err

    again = poptui("import", peer, str(path))  # idempotent
    assert "Created 0 mailboxes, stored 0 passwords, filed 0 already-fetched UIDLs" in again.out

    new = [make_message(100 + i) for i in range(NEW)]
    dovecot.deliver_many(pop_user.name, new)
    open_database(poptui.url)
    (account,) = Account.select()
    assert account.delete_policy == "leave"  # every tool kept mail on the server
    (target,) = list_targets(account)  # the tool's delivery command, run without a shell
    assert target.kind.value == "mda" and "cat >/dev/null" in target.address
    fetched = poptui("fetch", "--account", account.name, "--ca-file", str(dovecot.cert_path))
    assert fetched.code == 0, fetched.err + fetched.out

    db = database_proxy.obj
    ids = [row[0] for row in db.execute_sql("SELECT message_id FROM message_source")]
    stored = [read_source(db, message_id) or b"" for message_id in ids]
    subjects = sorted(raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for raw in stored)
    assert subjects == [b"Message number 100", b"Message number 101"]
    assert len(dovecot.maildir_files(pop_user.name)) == OLD + NEW  # nothing deleted
    assert ImportedUidl.select().count() == OLD
    database = Path(poptui.url.removeprefix("sqlite:///"))
    for file in (database, database.with_name(database.name + "-wal")):
        if file.exists():
            assert pop_user.password.encode() not in file.read_bytes()  # only in the store
    assert "password" not in {c.name for c in Account._meta.sorted_fields}
