"""Starting without a usable keyring (over SSH): the app starts, says so, and lets the user pick
an encrypted file, password commands or the keyring; the passphrase is asked in a dialog."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static
from textual.worker import Worker

from tests.ui.conftest import (
    OWNER,
    FakeOutgoingTester,
    FakeTester,
    add_account,
    add_sample_accounts,
    disable_cursor_blink,
    fixed_clock,
    open_form,
    replace_text,
    type_text,
)
from tui.app import PoptuiApp, make_app
from tui.core.secrets import (
    EncryptedFileStore,
    KeyringHealth,
    KeyringStore,
    MemoryStore,
    PasswordCommandStore,
    PendingStore,
    SecretKind,
    StoreChoice,
    UnavailableStore,
    probe_keyring,
)
from tui.core.secrets.setup import save_store_choice, saved_store_choice
from tui.core.storage.models import database_proxy
from tui.messages import FetchFailed
from tui.screens.account_form import AccountFormScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.passphrase_dialog import PassphraseDialog
from tui.screens.password_editor import PasswordEditorScreen
from tui.screens.secret_store_setup import SecretStoreSetupScreen
from tui.widgets.status_line import StatusLine

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
PASSPHRASE = "correct horse battery staple"
MAIL_PASSWORD = "Mail-pa55word-unique"
SNAPSHOT_FILE = Path("/home/ana/.local/share/poptui/secrets.cfg")
"""Shown in snapshots instead of this machine's home directory."""

Probe = Callable[[], KeyringHealth]
Build = Callable[..., PoptuiApp]


def fail_probe() -> KeyringHealth:
    """The real probe against keyring's fail backend: what an SSH session without D-Bus gets."""
    return probe_keyring(backend=fail.Keyring())


class MemoryKeyring(KeyringBackend):
    """A keyring backend that works (for "try the keyring again")."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return tmp_path / "private" / "secrets.cfg"


@pytest.fixture
def build(db_path: Path, secrets_file: Path) -> Iterator[Build]:
    """The app as `poptui` builds it (no store given: opened after start), with a fake probe."""

    def make(probe: Probe = fail_probe, encrypted_file: Path = secrets_file) -> PoptuiApp:
        return make_app(
            f"sqlite:///{db_path}",
            tester=FakeTester(),
            outgoing_tester=FakeOutgoingTester(),
            clock=fixed_clock,
            owner=OWNER,
            keyring_probe=probe,
            encrypted_file=encrypted_file,
        )

    yield make
    if database_proxy.obj is not None:
        database_proxy.close()


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], limit: float = 15) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def wait_for_screen(pilot: Pilot[Any], kind: type[object]) -> None:
    """Wait until a screen of `kind` is on top, then for its mount (screen switches lag)."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, kind))
    await pilot.pause()
    await pilot.pause()


def text_of(app: PoptuiApp, selector: str) -> str:
    """The text shown by a Static, or by a StatusLine's message."""
    widget = app.screen.query_one(selector)
    if isinstance(widget, StatusLine):
        widget = widget.query_one(".status-text", Static)
    assert isinstance(widget, Static)
    return str(widget.render())


def says_something(app: PoptuiApp, selector: str) -> bool:
    """A StatusLine shows a message and is no longer busy."""
    line = app.screen.query_one(selector, StatusLine)
    return not line.is_busy and bool(line.query_one(".status-text").display)


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


def file_and_database_bytes(*paths: Path) -> bytes:
    found = b""
    for path in paths:
        for each in path.parent.glob(path.name + "*"):
            found += each.read_bytes()
    return found


# ---------------------------------------------------------------- no keyring at start


async def test_without_keyring_the_app_starts_and_an_encrypted_file_is_set_up(
    build: Build, secrets_file: Path, db_path: Path
) -> None:
    app = build()
    account = add_account("Work", "ana@example.com", activate=True)
    seen: list[TextualMessage] = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        assert "No usable system keyring" in text_of(app, "#setup-advice")
        assert "no password store is open" in text_of(app, "#setup-current")
        assert any("No usable system keyring" in text for text in notices(seen))
        assert isinstance(app.services.secrets, UnavailableStore)
        assert app.screen.query_one("#file-path", Input).value == str(secrets_file)

        await pilot.press("enter")  # Enter in the file field: use that file
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PassphraseDialog)
        assert len(dialog.query(Input)) == 2  # a new file: the passphrase is asked twice
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")  # to the second field
        await type_text(pilot, PASSPHRASE + "!")
        await pilot.press("enter")
        assert "differ" in text_of(app, "#passphrase-status")
        assert app.screen is dialog

        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for_screen(pilot, MailboxListScreen)
        store = app.services.secrets
        assert isinstance(store, EncryptedFileStore)
        choice = saved_store_choice(OWNER)
        assert choice is not None and choice.kind == "cryptfile"
        assert choice.path == str(secrets_file)
        assert any("encrypted file" in text for text in notices(seen))

        # The password editor now keeps passwords in the file.
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PasswordEditorScreen)
        assert "encrypted file" in text_of(app, "#store-line")
        await replace_text(pilot, "#incoming-password", MAIL_PASSWORD)
        await replace_text(pilot, "#incoming-again", MAIL_PASSWORD)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, MailboxListScreen)

    on_disk = file_and_database_bytes(secrets_file, db_path)
    assert MAIL_PASSWORD.encode() not in on_disk
    assert PASSPHRASE.encode() not in on_disk
    reopened = EncryptedFileStore(secrets_file, PASSPHRASE)
    assert reopened.get(account.secret_key, SecretKind.INCOMING) == MAIL_PASSWORD
    assert all(MAIL_PASSWORD not in text and PASSPHRASE not in text for text in notices(seen))
    workers = [repr(m.worker) for m in seen if isinstance(m, Worker.StateChanged)]
    assert workers and all(MAIL_PASSWORD not in w and PASSPHRASE not in w for w in workers)


async def test_saved_encrypted_file_asks_its_passphrase_at_start_and_says_when_wrong(
    build: Build, secrets_file: Path
) -> None:
    probed: list[bool] = []

    def recording_probe() -> KeyringHealth:
        probed.append(True)
        return fail_probe()

    app = build(probe=recording_probe)
    account = add_account("Work", "ana@example.com")
    EncryptedFileStore(secrets_file, PASSPHRASE).set(
        account.secret_key, SecretKind.INCOMING, MAIL_PASSWORD
    )
    save_store_choice(StoreChoice("cryptfile", path=str(secrets_file)), OWNER)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, PassphraseDialog)
        dialog = app.screen
        assert len(dialog.query(Input)) == 1  # an existing file: asked once
        await type_text(pilot, "not the passphrase")
        await pilot.press("enter")
        await wait_until(pilot, lambda: says_something(app, "#passphrase-status"))
        assert "Wrong passphrase" in text_of(app, "#passphrase-status")
        assert dialog.query_one("#passphrase", Input).value == ""
        assert app.screen is dialog

        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for_screen(pilot, MailboxListScreen)
        store = app.services.secrets
        assert isinstance(store, EncryptedFileStore)
        assert store.get(account.secret_key, SecretKind.INCOMING) == MAIL_PASSWORD
        assert probed == []  # the keyring is not touched when the file is chosen


async def test_cancelled_passphrase_leaves_the_store_locked_with_advice(
    build: Build, secrets_file: Path
) -> None:
    app = build()
    account = add_account("Work", "ana@example.com")
    EncryptedFileStore(secrets_file, PASSPHRASE).unlock()
    save_store_choice(StoreChoice("cryptfile", path=str(secrets_file)), OWNER)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, PassphraseDialog)
        await pilot.press("escape")
        await pilot.pause()
        store = app.services.secrets
        assert isinstance(store, UnavailableStore)
        assert "locked" in store.advice and "Press u" in store.advice
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, PasswordEditorScreen)
        assert "locked" in text_of(app, "#store-problem")
        assert account.secret_key  # the account itself is untouched


async def test_after_a_cancelled_passphrase_u_unlocks_and_fetch_errors_say_so(
    build: Build, secrets_file: Path
) -> None:
    """The lock stays visible (a banner, the u key, a palette entry) and a fetch meanwhile says
    how to unlock; u asks again and the passphrase opens the file."""
    app = build()
    account = add_account("Work", "ana@example.com", activate=True)
    EncryptedFileStore(secrets_file, PASSPHRASE).set(
        account.secret_key, SecretKind.INCOMING, MAIL_PASSWORD
    )
    save_store_choice(StoreChoice("cryptfile", path=str(secrets_file)), OWNER)
    seen: list[TextualMessage] = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for_screen(pilot, PassphraseDialog)
        await pilot.press("escape")
        await wait_for_screen(pilot, MailboxListScreen)
        banner = app.screen.query_one("#lock-banner", Static)
        assert banner.display and "u unlocks" in str(banner.render())
        assert any(b.binding.key == "u" for b in app.active_bindings.values())
        names = [c.title for c in app.screen.palette_commands()]  # type: ignore[attr-defined]
        assert "Unlock passwords" in names

        await pilot.press("f")
        await wait_until(pilot, lambda: any(isinstance(m, FetchFailed) for m in seen))
        await pilot.pause()
        assert any("is locked" in n and "Press u" in n for n in notices(seen))

        await pilot.press("u")
        await wait_for_screen(pilot, PassphraseDialog)
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for_screen(pilot, MailboxListScreen)
        store = app.services.secrets
        assert isinstance(store, EncryptedFileStore)
        assert store.get(account.secret_key, SecretKind.INCOMING) == MAIL_PASSWORD
        await pilot.pause()
        assert not app.screen.query_one("#lock-banner", Static).display
        assert not any(b.binding.key == "u" for b in app.active_bindings.values())


async def test_password_command_is_checked_once_and_then_used(build: Build) -> None:
    app = build()
    account = add_account("Work", "ana@example.com")
    command_input = f"#command-incoming-{account.secret_key}"
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        setup = app.screen
        await replace_text(pilot, command_input, "false")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: says_something(app, "#commands-message"))
        assert "failed with exit status 1" in text_of(app, "#commands-message")
        assert app.screen is setup
        assert isinstance(app.services.secrets, UnavailableStore)

        await replace_text(pilot, command_input, "echo cmd-secret")
        await pilot.press("enter")  # Enter in a command field: use the commands
        await wait_for_screen(pilot, MailboxListScreen)
        store = app.services.secrets
        assert isinstance(store, PasswordCommandStore)
        assert store.get(account.secret_key, SecretKind.INCOMING) == "cmd-secret"
        choice = saved_store_choice(OWNER)
        assert choice is not None and choice.kind == "command"
        assert dict(choice.commands) == {f"{account.secret_key}:incoming": "echo cmd-secret"}


async def test_keyring_can_be_tried_again_and_is_then_used(build: Build) -> None:
    backend = MemoryKeyring()
    answers = [fail_probe(), probe_keyring(backend=backend)]

    def probe() -> KeyringHealth:
        return answers.pop(0)

    app = build(probe=probe)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        await pilot.press("ctrl+y")
        await wait_for_screen(pilot, MailboxListScreen)
        store = app.services.secrets
        assert isinstance(store, KeyringStore)
        store.set("k", SecretKind.INCOMING, MAIL_PASSWORD)
        assert MAIL_PASSWORD in backend.values.values()
        choice = saved_store_choice(OWNER)
        assert choice is not None and choice.kind == "keyring"


async def test_keyring_still_failing_is_said_under_its_option_while_the_rest_waits(
    build: Build,
) -> None:
    release = threading.Event()
    calls: list[int] = []

    def probe() -> KeyringHealth:
        calls.append(1)
        if len(calls) > 1:  # "try again": slow, then still no keyring
            release.wait(10)
        return fail_probe()

    app = build(probe=probe)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_screen(pilot, SecretStoreSetupScreen)
            setup = app.screen
            await pilot.press("ctrl+y")
            status = setup.query_one("#keyring-message", StatusLine)
            await wait_until(pilot, lambda: status.is_busy)
            assert "Checking the system keyring" in text_of(app, "#keyring-message")
            assert all(button.disabled for button in setup.query(Button))
            await pilot.press("ctrl+r")  # ignored while the check runs
            assert text_of(app, "#commands-message") == ""

            release.set()
            await wait_until(pilot, lambda: says_something(app, "#keyring-message"))
            said = text_of(app, "#keyring-message")
            assert said.startswith("✗ No usable system keyring")
            assert "Choose one" not in said  # the screen lists the other stores itself
            assert not any(button.disabled for button in setup.query(Button))
            assert app.screen is setup
            assert isinstance(app.services.secrets, UnavailableStore)
    finally:
        release.set()


async def test_working_keyring_is_used_without_asking(build: Build) -> None:
    backend = MemoryKeyring()
    app = build(probe=lambda: probe_keyring(backend=backend))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.services.secrets, KeyringStore))
        assert isinstance(app.screen, MailboxListScreen)


async def test_hanging_probe_does_not_freeze_the_ui(build: Build) -> None:
    release = threading.Event()
    started = threading.Event()

    def hanging_probe() -> KeyringHealth:
        started.set()
        release.wait(30)
        return fail_probe()

    app = build(probe=hanging_probe)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, started.is_set)
            assert isinstance(app.screen, MailboxListScreen)
            assert isinstance(app.services.secrets, PendingStore)
            await open_form(pilot, "a")  # the UI answers while the probe is still running
            assert isinstance(app.screen, AccountFormScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, MailboxListScreen)
            assert not release.is_set()

            release.set()
            await wait_for_screen(pilot, SecretStoreSetupScreen)
    finally:
        release.set()


def test_pending_store_waits_for_the_store_being_opened() -> None:
    pending = PendingStore("still opening", wait=5)
    opened = MemoryStore({("k", SecretKind.INCOMING): MAIL_PASSWORD})
    threading.Timer(0.1, pending.settle, args=(opened,)).start()
    assert pending.get("k", SecretKind.INCOMING) == MAIL_PASSWORD

    never = PendingStore("still opening", wait=0.05)
    with pytest.raises(Exception, match="still opening"):
        never.get("k", SecretKind.INCOMING)


# ---------------------------------------------------------------- snapshots


@pytest.mark.parametrize("size", SIZES)
def test_secret_store_setup_snapshot(
    snap_compare: SnapCompare, build: Build, size: tuple[int, int]
) -> None:
    app = build(encrypted_file=SNAPSHOT_FILE)
    add_sample_accounts()

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        pilot.app.clear_notifications()  # the toast is asserted elsewhere; show the screen
        await pilot.pause()
        disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_passphrase_dialog_new_file_snapshot(snap_compare: SnapCompare, build: Build) -> None:
    app = build(encrypted_file=SNAPSHOT_FILE)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        pilot.app.clear_notifications()
        pilot.app.screen.query_one("#file-path", Input).value = "/home/ana/mail-secrets.cfg"
        await pilot.press("ctrl+f")
        await pilot.pause()
        await type_text(pilot, "short")
        await pilot.press("tab")
        await type_text(pilot, "shirt")
        await pilot.press("enter")
        disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
