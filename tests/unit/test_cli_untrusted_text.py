"""The command line as a target: text from servers and other users must not drive the terminal.

Account names, server replies, user names and audit entries are planted with escape sequences
(a screen clear, an OSC 52 clipboard write, a title change), 8-bit C1 controls and bidi overrides;
whatever `poptui` prints of them must reach stdout and stderr as plain text only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.servers.fake_pop3 import FakePop3Server
from tests.unit.cli_helpers import PoptuiRunner, Run
from tui.core.errors import PoptuiError

CLEAR_SCREEN = "\x1b[2J\x1b[H"
CLIPBOARD_WRITE = "\x1b]52;c;cm0gLXJmIH4K\x07"
"""OSC 52: asks the terminal to put `rm -rf ~` on the clipboard."""
TITLE = "\x1b]0;owned\x1b\\"
C1_CSI = "\x9b31m"
"""CSI as one 8-bit character: some terminals obey it. (Dropped alone: "31m" stays as text.)"""
BIDI = "\u202etxt.exe"
HOSTILE = CLEAR_SCREEN + CLIPBOARD_WRITE + TITLE + C1_CSI + BIDI

CONTROLS = ("\x1b", "\x07", "\x9b", "\x9d", "\u202e")


def assert_plain(run: Run, *, whole_sequences: bool = True) -> None:
    """Nothing in the output can move the cursor, set the clipboard or reorder text.

    With `whole_sequences`, not even the sequences' parameters are left. Without it only the
    control characters are checked: JSON spells them out (`\\u001b]52;...`), shown as text.
    """
    forbidden = (*CONTROLS, "]52;", "[2J", "[31m") if whole_sequences else CONTROLS
    for stream, text in (("stdout", run.out), ("stderr", run.err)):
        for bad in forbidden:
            assert bad not in text, f"{bad!r} reached {stream}: {text!r}"


@pytest.fixture
def poptui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PoptuiRunner:
    return PoptuiRunner(tmp_path, monkeypatch)


def plant_hostile_account(poptui: PoptuiRunner) -> str:
    """An account whose name and last server reply came from elsewhere; its hostile name."""
    assert poptui("account", "add", "Home", "--email", "me@aol.com").code == 0
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account

    name = f"Evil{HOSTILE}Box"
    open_database(poptui.url)
    Account.update(
        name=name,
        last_fetch_status="error",
        last_fetch_error=f"-ERR [AUTH] {HOSTILE} try again\r\n[ ok  ] forged line",
    ).execute()
    return name


def test_account_list_and_show_print_hostile_names_and_replies_as_text(
    poptui: PoptuiRunner,
) -> None:
    name = plant_hostile_account(poptui)
    listing = poptui("account", "list")
    assert listing.code == 0, listing.err
    assert_plain(listing)
    assert "Evil" in listing.out and "Box" in listing.out  # the readable part is kept
    assert listing.out.count("\n") == 2  # one row and the legend: no line was forged

    shown = poptui("account", "show", name)
    assert shown.code == 0, shown.err
    assert_plain(shown)
    assert "try again" in shown.out
    assert not any(line.startswith("[ ok  ]") for line in shown.out.splitlines())

    # JSON keeps the data exactly, escaped: a script gets the real name back.
    as_json = poptui("account", "show", name, "--json")
    assert_plain(as_json, whole_sequences=False)
    assert json.loads(as_json.out)["name"] == name

    doctor = poptui("doctor")
    assert_plain(doctor)
    assert "try again" in doctor.out


def test_sharing_and_admin_views_print_other_users_words_as_text(poptui: PoptuiRunner) -> None:
    name = plant_hostile_account(poptui)
    intruder = f"mallory{CLEAR_SCREEN}{BIDI}"
    # The command line refuses such a name where it enters (#9 item 4, exit 2); another writer
    # of a shared database may not, so the views must still print it as text.
    assert poptui("admin", "grant", intruder).code == 2
    assert poptui("sharing", "set", name, "custom", "--with", intruder).code == 2
    shared = poptui("sharing", "set", name, "private")
    assert shared.code == 0, shared.err
    assert_plain(shared)
    from tui.core.settings import SharingPermission
    from tui.core.sharing.rules import PolicyMode, SharingService
    from tui.core.storage.models import Account, AuditLog

    service = SharingService()
    service.grant_admin(intruder)
    service.set_account_permission(
        Account.get(Account.name == name), SharingPermission.CUSTOM, shared_with=[intruder]
    )

    AuditLog.insert(actor=intruder, action="policy.set", target=name, detail=HOSTILE).execute()

    shown = poptui("sharing", "show", name)
    assert shown.code == 0, shown.err
    assert_plain(shown)
    assert "mallory" in shown.out

    audit = poptui("admin", "audit")
    assert audit.code == 0, audit.err
    assert_plain(audit)
    assert audit.out.count("mallory") >= 2 and "role.grant" in audit.out
    assert_plain(poptui("admin", "audit", "--json"), whole_sequences=False)

    users = poptui("admin", "users")
    assert_plain(users)
    assert "mallory" in users.out

    assert poptui("admin", "policy", "set", "--user", intruder, "--users-choice").code == 2
    service.set_policy(scope_kind="user", scope=intruder, mode=PolicyMode.USERS_CHOICE)
    policies = poptui("admin", "policy", "show")
    assert_plain(policies)
    assert "user:mallory" in policies.out


def test_fetch_prints_a_hostile_servers_words_as_text(poptui: PoptuiRunner) -> None:
    poptui.use_file_store()
    capa = ("UIDL", "USER", f"X-EVIL {HOSTILE}")
    refusal = f"-ERR [AUTH] {HOSTILE}\x1b[31mdenied"
    with FakePop3Server(capa=capa, auth_error=refusal) as server:
        added = poptui(
            "account",
            "add",
            "Box",
            "--email",
            "alice@example.com",
            "--incoming-host",
            server.host,
            "--incoming-port",
            str(server.port),
            "--incoming-security",
            "none",
            "--username",
            "alice",
            "--password-stdin",
            stdin="wrong password\n",
        )
        assert added.code == 0, added.err
        tested = poptui("fetch", "--test", "Box")
        fetched = poptui("fetch")
    assert tested.code == 1 and fetched.code == 1
    # The POP3 client drops the ESC of a server's reply itself, leaving "[2J" as text: the
    # command line's part is that no control character gets through.
    for run in (tested, fetched):
        assert_plain(run, whole_sequences=False)
    assert "X-EVIL" in tested.out
    assert "denied" in tested.err and "denied" in fetched.err


def test_an_error_is_printed_with_its_hint_and_exit_code_1(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`main` words every PoptuiError the same way: message, then what to do, both cleaned."""
    from tui.core.storage.accounts import AccountStore

    def broken_list(self: AccountStore) -> list[object]:
        raise PoptuiError(f"The database said {CLIPBOARD_WRITE}no", hint="Run: poptui doctor")

    assert poptui("account", "list").code == 0
    monkeypatch.setattr(AccountStore, "list", broken_list)
    failed = poptui("account", "list")
    assert failed.code == 1
    assert failed.err == "poptui: The database said no\nRun: poptui doctor\n"
    assert failed.out == ""
