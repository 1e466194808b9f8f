"""The headless command line: every account verb, passwords from stdin, JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.cli_helpers import PASSPHRASE, PoptuiRunner

PASSWORD = "Pw-for-cli-test-7c1e"


@pytest.fixture
def poptui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PoptuiRunner:
    """Run `poptui ARGS` in-process against a fresh database and encrypted password file."""
    return PoptuiRunner(tmp_path, monkeypatch)


def test_add_fills_gmail_preset_and_shows_it(poptui: PoptuiRunner) -> None:
    result = poptui("account", "add", "Personal", "--email", "me@gmail.com")
    assert result.code == 0, result.err
    assert "pop.gmail.com:995" in result.err
    assert "app password" in result.err.lower()
    shown = json.loads(poptui("account", "show", "Personal", "--json").out)
    assert shown["incoming"] == {
        "host": "pop.gmail.com",
        "port": 995,
        "security": "ssl",
        "username": "me@gmail.com",
    }
    assert shown["outgoing"]["host"] == "smtp.gmail.com"
    assert shown["active"] is True


def test_add_takes_every_form_field_and_password_from_stdin(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    result = poptui(
        "account",
        "add",
        "Work",
        "--email",
        "me@corp.example",
        "--incoming-host",
        "pop.corp.example",
        "--incoming-port",
        "1110",
        "--incoming-security",
        "starttls",
        "--username",
        "me",
        "--delete-policy",
        "after_days",
        "--delete-after-days",
        "14",
        "--separate-outgoing-credentials",
        "--outgoing-host",
        "smtp.corp.example",
        "--outgoing-port",
        "587",
        "--outgoing-security",
        "starttls",
        "--outgoing-username",
        "sender",
        "--pin-outgoing-fingerprint",
        ":".join(["AB"] * 32),
        "--poll-minutes",
        "10",
        "--max-messages",
        "200",
        "--max-message-size",
        "25000000",
        "--password-stdin",
        stdin=f"{PASSWORD}\nout-{PASSWORD}\n",
    )
    assert result.code == 0, result.err
    data = json.loads(poptui("account", "show", "Work", "--json").out)
    assert data["incoming"] == {
        "host": "pop.corp.example",
        "port": 1110,
        "security": "starttls",
        "username": "me",
    }
    assert data["outgoing"] == {
        "host": "smtp.corp.example",
        "port": 587,
        "security": "starttls",
        "username": "sender",
        "same_credentials": False,
        "pinned_fingerprint": ":".join(["AB"] * 32),
    }
    assert (data["delete_policy"], data["delete_after_days"]) == ("after_days", 14)
    assert (data["poll_minutes"], data["max_messages_per_fetch"]) == (10, 200)
    assert data["max_message_bytes"] == 25_000_000
    # The passwords went to the encrypted file, not to the database.
    db_bytes = b"".join(p.read_bytes() for p in poptui.tmp_path.glob("cli.db*"))
    assert PASSWORD.encode() not in db_bytes
    assert PASSWORD.encode() not in (poptui.tmp_path / "secrets.cfg").read_bytes()
    from tui.core.secrets import EncryptedFileStore, SecretKind
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database

    open_database(poptui.url)
    key = AccountStore().get("Work").secret_key
    store = EncryptedFileStore(poptui.tmp_path / "secrets.cfg", PASSPHRASE)
    assert store.get(key, SecretKind.INCOMING) == PASSWORD
    assert store.get(key, SecretKind.OUTGOING) == f"out-{PASSWORD}"


def test_add_refuses_invalid_fields_with_specific_messages(poptui: PoptuiRunner) -> None:
    result = poptui(
        "account",
        "add",
        "Bad",
        "--email",
        "not-an-address",
        "--incoming-host",
        "pop.example.com",
        "--username",
        "x",
    )
    assert result.code == 1
    assert "email" in result.err
    result = poptui(
        "account",
        "add",
        "Bad",
        "--email",
        "a@example.com",
        "--incoming-host",
        "pop.example.com",
        "--incoming-port",
        "70000",
    )
    assert result.code == 1
    assert "--incoming-port" in result.err and "65535" in result.err
    result = poptui(
        "account",
        "add",
        "G",
        "--email",
        "me@gmail.com",
        "--username",
        "recent:me@gmail.com",
        "--delete-policy",
        "after_fetch",
    )
    assert result.code == 1
    assert "recent:" in result.err and "delete-policy" in result.err
    assert json.loads(poptui("account", "list", "--json").out) == []


def test_gmail_recent_with_leave_is_accepted(poptui: PoptuiRunner) -> None:
    result = poptui(
        "account", "add", "G", "--email", "me@gmail.com", "--username", "recent:me@gmail.com"
    )
    assert result.code == 0, result.err
    data = json.loads(poptui("account", "show", "G", "--json").out)
    assert data["incoming"]["username"] == "recent:me@gmail.com"
    assert data["outgoing"]["username"] == "me@gmail.com"
    assert data["delete_policy"] == "leave"


def test_list_edit_activate_remove(poptui: PoptuiRunner) -> None:
    for name in ("Home", "Work"):
        assert poptui("account", "add", name, "--email", f"{name.lower()}@yahoo.com").code == 0
    listing = json.loads(poptui("account", "list", "--json").out)
    assert [(a["name"], a["active"]) for a in listing] == [("Home", True), ("Work", False)]
    text = poptui("account", "list").out
    assert "* Home" in text and "  Work" in text
    assert poptui("account", "activate", "Work").code == 0
    listing = json.loads(poptui("account", "list", "--json").out)
    assert [a["active"] for a in listing] == [False, True]
    edited = poptui("account", "edit", "Home", "--rename", "House", "--poll-minutes", "30")
    assert edited.code == 0, edited.err
    assert json.loads(poptui("account", "show", "House", "--json").out)["poll_minutes"] == 30
    missing = poptui("account", "show", "Home")
    assert missing.code == 1 and "No account named 'Home'" in missing.err
    assert poptui("account", "remove", "Work", "--drop-mail").code == 0
    listing = json.loads(poptui("account", "list", "--json").out)
    assert [(a["name"], a["active"]) for a in listing] == [("House", True)]


def test_usage_errors_exit_2(poptui: PoptuiRunner) -> None:
    assert poptui("account", "frobnicate").code == 2
    assert poptui("account", "remove", "X").code == 2  # keep or drop must be chosen
    assert poptui("password", "set", "X").code == 2  # incoming or outgoing must be chosen


def test_password_set_from_stdin_and_outgoing_rule(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    ok = poptui("password", "set", "Home", "--incoming", "--stdin", stdin=PASSWORD + "\n")
    assert ok.code == 0, ok.err
    refused = poptui("password", "set", "Home", "--outgoing", "--stdin", stdin="x\n")
    assert refused.code == 1 and "same credentials" in refused.err
    empty = poptui("password", "set", "Home", "--incoming", "--stdin", stdin="")
    assert empty.code == 1 and "stdin" in empty.err


def test_password_set_reenables_a_disabled_account(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account

    open_database(poptui.url)
    Account.update(disabled=True, disabled_reason="10 failed logins in a row.").execute()
    result = poptui("password", "set", "Home", "--incoming", "--stdin", stdin="new\n")
    assert result.code == 0 and "enables it again" in result.out
    assert json.loads(poptui("account", "show", "Home", "--json").out)["disabled"] is False


def test_no_usable_keyring_gives_the_choices(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    result = poptui("password", "set", "Home", "--incoming", "--stdin", stdin="pw\n")
    assert result.code == 1
    assert "common over SSH" in result.err
    assert "poptui secrets use file" in result.err
    doctor = poptui("doctor")
    assert doctor.code == 1
    assert "Password store" in doctor.out and "poptui secrets use" in doctor.out


def test_doctor_warns_about_a_world_readable_database(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    db_file = poptui.tmp_path / "cli.db"
    os.chmod(db_file, 0o644)
    result = poptui("doctor", "--json")
    checks = {c["title"]: c for c in json.loads(result.out)}
    assert checks["Database"]["status"] == "ok"
    assert checks["Database file permissions"]["status"] == "warn"
    assert "chmod 600" in checks["Database file permissions"]["advice"]
    os.chmod(db_file, 0o600)
    checks = {c["title"]: c for c in json.loads(poptui("doctor", "--json").out)}
    assert checks["Database file permissions"]["status"] == "ok"


def test_fetch_without_accounts_says_how_to_start(poptui: PoptuiRunner) -> None:
    result = poptui("fetch")
    assert result.code == 1 and "poptui account add" in result.err


def test_real_entry_point_and_exit_codes(tmp_path: Path) -> None:
    env = dict(os.environ, POPTUI_DATABASE=f"sqlite:///{tmp_path}/e.db")
    exe = Path(sys.executable).with_name("poptui")
    listed = subprocess.run(
        [str(exe), "account", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])
    usage = subprocess.run([sys.executable, "-m", "tui", "nope"], env=env, capture_output=True)
    assert usage.returncode == 2
    failure = subprocess.run(
        [sys.executable, "-m", "tui", "account", "show", "Nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert failure.returncode == 1 and "No account named" in failure.stderr


def test_headless_paths_never_import_textual() -> None:
    code = (
        "import sys\n"
        "import tui, tui.cli, tui.core.sync.engine, tui.cli.fetch, tui.cli.accounts\n"
        "import tui.cli.secrets, tui.cli.sharing, tui.cli.doctor, tui.cli.parser\n"
        "import tui.cli.messages\n"
        "import tui.core.net.pop3.client, tui.core.storage.db\n"
        "import tui.core.setup.validation, tui.core.setup.providers\n"
        "import tui.core.secrets, tui.core.setup.doctor\n"
        "import tui.core.storage.accounts, tui.core.mail.parse, tui.core.secrets.setup\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "print(bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sharing_and_admin_commands(poptui: PoptuiRunner) -> None:
    import getpass

    me = getpass.getuser()
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    users = json.loads(poptui("admin", "users", "--json").out)
    assert users == [{"name": me, "admin": True}]  # the first user is the administrator
    shown = json.loads(poptui("sharing", "show", "Home", "--json").out)
    assert (shown["permission"], shown["user_may_choose"]) == ("private", True)
    assert shown["who_can_see"] == f"Only {me}."
    public = poptui("sharing", "set", "Home", "public", "--exclude-domain", "rival.com")
    assert public.code == 0, public.err
    shown = json.loads(poptui("sharing", "show", "Home", "--json").out)
    assert shown["excluded_domains"] == ["rival.com"]
    assert "rival.com stays visible only to" in shown["who_can_see"]
    too_many = poptui(
        "sharing",
        "set",
        "Home",
        "public",
        *[arg for i in range(6) for arg in ("--exclude-domain", f"d{i}.com")],
    )
    assert too_many.code == 1 and "At most 5" in too_many.err
    fixed = poptui("admin", "policy", "set", "--user", me, "--permission", "admin", "--lock")
    assert fixed.code == 0, fixed.err
    refused = poptui("sharing", "set", "Home", "private")
    assert refused.code == 1 and "fixed this permission" in refused.err
    policies = json.loads(poptui("admin", "policy", "show", "--json").out)
    assert [(p["scope"], p["permission"], p["locked"]) for p in policies] == [
        (f"user:{me}", "admin", True)
    ]
    assert poptui("admin", "grant", "bob").code == 0
    assert poptui("admin", "revoke", "bob").code == 0
    last = poptui("admin", "revoke", me)
    assert last.code == 1 and "last administrator" in last.err
    audit = json.loads(poptui("admin", "audit", "--json").out)
    assert [e["action"] for e in audit[:4]] == [
        "role.revoke",
        "role.grant",
        "policy.set",
        "account.sharing",
    ]


def test_remove_deletes_the_accounts_passwords_as_the_app_does(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    for name in ("Kept", "Dropped"):
        added = poptui(
            "account",
            "add",
            name,
            "--email",
            f"{name.lower()}@corp.example",
            "--incoming-host",
            "pop.corp.example",
            "--separate-outgoing-credentials",
            "--outgoing-host",
            "smtp.corp.example",
            "--outgoing-username",
            "sender",
            "--password-stdin",
            stdin=f"in-{PASSWORD}\nout-{PASSWORD}\n",
        )
        assert added.code == 0, added.err
    from tui.core.secrets import EncryptedFileStore, SecretKind
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database

    open_database(poptui.url)
    keys = {name: AccountStore().get(name).secret_key for name in ("Kept", "Dropped")}
    assert poptui("account", "remove", "Kept", "--keep-mail").code == 0
    assert poptui("account", "remove", "Dropped", "--drop-mail").code == 0
    store = EncryptedFileStore(poptui.secrets_file, PASSPHRASE)
    for key in keys.values():
        assert store.get(key, SecretKind.INCOMING) is None
        assert store.get(key, SecretKind.OUTGOING) is None
    assert PASSWORD.encode() not in poptui.secrets_file.read_bytes()


def test_remove_without_a_password_store_removes_and_says_where_passwords_stay(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    removed = poptui("account", "remove", "Home", "--drop-mail")
    assert removed.code == 0, removed.err
    assert "Removed account 'Home'" in removed.out
    assert "could not be removed from the system keyring" in removed.err
    assert json.loads(poptui("account", "list", "--json").out) == []


def test_remove_goes_on_when_the_chosen_keyring_fails(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyring was chosen when it worked; now (over SSH, say) it fails on every call."""
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    from tui.core.secrets import StoreChoice
    from tui.core.secrets.setup import save_store_choice
    from tui.core.storage.db import open_database

    open_database(poptui.url)
    save_store_choice(StoreChoice("keyring"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    removed = poptui("account", "remove", "Home", "--keep-mail")
    assert removed.code == 0, removed.err
    assert "Removed account 'Home'; its fetched mail was kept" in removed.out
    assert "could not be removed from the system keyring" in removed.err
    assert json.loads(poptui("account", "list", "--json").out) == []
