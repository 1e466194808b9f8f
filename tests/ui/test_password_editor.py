"""The password editor (p on the mailbox list): typed twice, verified, saved; snapshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static
from textual.worker import Worker

from tests.conftest import PopUser
from tests.servers.dovecot import DovecotServer
from tests.ui.conftest import (
    OWNER,
    AppFactory,
    FakeOutgoingTester,
    FakeTester,
    add_account,
    add_sample_accounts,
    disable_cursor_blink,
    fixed_clock,
    replace_text,
    store,
    type_text,
)
from tui.app import PoptuiApp, make_app
from tui.core.secrets import MemoryStore, SecretKind, UnavailableStore
from tui.core.settings import AccountSettings, Security
from tui.core.storage.models import Account, database_proxy
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.password_editor import PasswordEditorScreen
from tui.screens.secret_store_setup import SecretStoreSetupScreen
from tui.services import TestResult, pop3_tester
from tui.widgets.password_pair import MISMATCH
from tui.widgets.status_line import StatusLine

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
NEW_PASSWORD = "n3w-Secret-pw"


def text_of(app: PoptuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def status_of(app: PoptuiApp) -> str:
    return app.screen.query_one(StatusLine).text


def shown(app: PoptuiApp, selector: str) -> bool:
    return bool(app.screen.query_one(selector).display)


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


def separate_credentials_account(name: str = "Work") -> Account:
    """A mailbox whose outgoing server has its own username and password."""
    settings = AccountSettings(
        name=name,
        email="ana@example.com",
        incoming_host="pop.example.com",
        username="ana@example.com",
        same_credentials_for_outgoing=False,
        outgoing_host="smtp.example.com",
        outgoing_port=587,
        outgoing_security=Security.STARTTLS,
        outgoing_username="ana-smtp",
    )
    return store().create(settings)


async def open_editor(pilot: Pilot[Any], account_id: int) -> PasswordEditorScreen:
    screen = pilot.app.screen
    assert isinstance(screen, MailboxListScreen)
    screen.table.select_account(account_id)
    await pilot.pause()
    await pilot.press("p")
    await pilot.pause()
    editor = pilot.app.screen
    assert isinstance(editor, PasswordEditorScreen)
    # The outgoing part is mounted once typing pauses (or Tab needs it): wait as a user would.
    await editor.ensure_built()
    await pilot.pause()
    return editor


async def press_and_wait(pilot: Pilot[Any], key: str) -> None:
    await pilot.press(key)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# ---------------------------------------------------------------- typing and saving


async def test_incoming_password_typed_twice_by_keyboard_with_mismatch_message(
    app_factory: AppFactory, secrets: MemoryStore, tester: FakeTester
) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com", activate=True)
    seen: list[TextualMessage] = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        assert app.focused is editor.query_one("#incoming-password")
        await type_text(pilot, NEW_PASSWORD)
        await pilot.press("tab")
        await type_text(pilot, NEW_PASSWORD + "x")
        assert not shown(app, "#incoming-message")  # not while still typing the second one
        await pilot.press("tab")  # leaving "Again" shows the mismatch
        assert MISMATCH in text_of(app, "#incoming-message")

        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "Nothing saved" in status_of(app)
        assert tester.calls == []
        assert app.focused is editor.query_one("#incoming-again")

        await type_text(pilot, NEW_PASSWORD)  # replaces the selected text
        assert not shown(app, "#incoming-message")  # the mismatch goes as soon as they match
        await press_and_wait(pilot, "enter")

        assert isinstance(app.screen, MailboxListScreen)
        assert tester.calls[-1][1] == NEW_PASSWORD
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == NEW_PASSWORD
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) is None
        saved = [text for text in notices(seen) if "Saved the incoming password" in text]
        assert saved and all(NEW_PASSWORD not in text for text in notices(seen))
        workers = [repr(m.worker) for m in seen if isinstance(m, Worker.StateChanged)]
        assert workers and all(NEW_PASSWORD not in text for text in workers)


async def test_same_credentials_disable_the_outgoing_part_and_say_so(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        assert "same credentials" in text_of(app, "#outgoing-same")
        assert editor.query_one("#outgoing-password", Input).disabled
        assert editor.query_one("#outgoing-again", Input).disabled
        assert "memory" in text_of(app, "#store-line")  # which store is in use


async def test_outgoing_password_is_changed_separately_and_checked_on_the_smtp_server(
    app_factory: AppFactory,
    secrets: MemoryStore,
    tester: FakeTester,
    outgoing_tester: FakeOutgoingTester,
) -> None:
    app = app_factory()
    account = separate_credentials_account()
    secrets.set(account.secret_key, SecretKind.INCOMING, "old-incoming")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        assert not editor.query_one("#outgoing-password", Input).disabled
        assert not shown(app, "#outgoing-same")
        await replace_text(pilot, "#outgoing-password", "smtp-new")
        await replace_text(pilot, "#outgoing-again", "smtp-nex")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert MISMATCH in text_of(app, "#outgoing-message")
        assert outgoing_tester.calls == []

        await replace_text(pilot, "#outgoing-again", "smtp-new")
        await press_and_wait(pilot, "ctrl+t")

        assert isinstance(app.screen, MailboxListScreen)
        assert tester.calls == []  # the incoming side was left alone
        settings, password, _ = outgoing_tester.calls[-1]
        assert password == "smtp-new"
        assert settings.effective_outgoing_username == "ana-smtp"
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) == "smtp-new"
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == "old-incoming"


async def test_rejected_password_saves_nothing_until_save_anyway(
    app_factory: AppFactory, secrets: MemoryStore, tester: FakeTester
) -> None:
    tester.results = [TestResult(False, "pop.example.com said: [AUTH] Invalid login.")]
    app = app_factory()
    account = add_account("Work", "ana@example.com", disabled_reason="10 failed logins in a row.")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        await replace_text(pilot, "#incoming-password", NEW_PASSWORD)
        await replace_text(pilot, "#incoming-again", NEW_PASSWORD)
        await press_and_wait(pilot, "ctrl+t")

        status = status_of(app)
        assert "Not saved: the incoming server refused the login" in status
        assert "[AUTH] Invalid login." in status
        assert NEW_PASSWORD not in status
        assert app.screen is editor
        assert secrets.get(account.secret_key, SecretKind.INCOMING) is None
        assert store().get("Work").disabled
        assert "Save anyway" in str(editor.query_one("#save-unverified", Button).label)

        await press_and_wait(pilot, "ctrl+o")
        assert isinstance(app.screen, MailboxListScreen)
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == NEW_PASSWORD
        assert not store().get("Work").disabled  # a new password enables it again


async def test_escape_cancels_without_saving(app_factory: AppFactory, secrets: MemoryStore) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_editor(pilot, account.id)
        await replace_text(pilot, "#incoming-password", NEW_PASSWORD)
        await replace_text(pilot, "#incoming-again", NEW_PASSWORD)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert secrets.get(account.secret_key, SecretKind.INCOMING) is None


async def test_nothing_typed_says_what_to_do(app_factory: AppFactory, tester: FakeTester) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_editor(pilot, account.id)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "Nothing to save" in status_of(app)
        assert tester.calls == []


async def test_without_an_open_store_the_advice_is_shown_instead_of_a_crash(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com")
    advice = "No usable system keyring: this is common over SSH without a desktop session."
    app.services.secrets = UnavailableStore(advice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_editor(pilot, account.id)
        assert "no password store is open" in text_of(app, "#store-line")
        assert advice in text_of(app, "#store-problem")
        await replace_text(pilot, "#incoming-password", NEW_PASSWORD)
        await replace_text(pilot, "#incoming-again", NEW_PASSWORD)
        await press_and_wait(pilot, "ctrl+o")
        status = status_of(app)
        assert "Not saved" in status and "No usable system keyring" in status

        await pilot.press("ctrl+l")  # choosing a store is one key away
        await pilot.pause()
        assert isinstance(app.screen, SecretStoreSetupScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PasswordEditorScreen)


# ---------------------------------------------------------------- against the real Dovecot


@pytest.fixture
def real_app(db_path: Path, secrets: MemoryStore) -> Iterator[Callable[[], PoptuiApp]]:
    def build() -> PoptuiApp:
        return make_app(
            f"sqlite:///{db_path}",
            secrets=secrets,
            tester=pop3_tester,
            outgoing_tester=FakeOutgoingTester(),
            clock=fixed_clock,
            owner=OWNER,
        )

    yield build
    if database_proxy.obj is not None:
        database_proxy.close()


@pytest.mark.dovecot
async def test_verify_against_real_dovecot_rejects_wrong_and_enables_on_right(
    real_app: Callable[[], PoptuiApp],
    secrets: MemoryStore,
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    app = real_app()
    account = store().create(
        AccountSettings(
            name="Work",
            email="ana@example.test",
            incoming_host=dovecot.host,
            incoming_port=dovecot.tls_port,
            incoming_security=Security.SSL,
            username=pop_user.name,
            pinned_fingerprint=dovecot.cert_fingerprint,
            outgoing_host="",
        )
    )
    Account.update(
        disabled=True,
        disabled_reason="10 failed logins in a row (last: [AUTH] Authentication failed).",
        consecutive_auth_failures=10,
    ).where(Account.id == account.id).execute()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        assert "10 failed logins" in text_of(app, "#disabled-banner")
        assert "No outgoing server" in text_of(app, "#outgoing-same")

        await replace_text(pilot, "#incoming-password", "not-the-password")
        await replace_text(pilot, "#incoming-again", "not-the-password")
        await press_and_wait(pilot, "ctrl+t")
        status = status_of(app)
        assert "Not saved: the incoming server refused the login" in status
        assert "not-the-password" not in status
        assert app.screen is editor
        assert secrets.get(account.secret_key, SecretKind.INCOMING) is None
        assert store().get("Work").disabled

        await replace_text(pilot, "#incoming-password", pop_user.password)
        await replace_text(pilot, "#incoming-again", pop_user.password)
        await press_and_wait(pilot, "ctrl+t")
        assert isinstance(app.screen, MailboxListScreen)
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == pop_user.password
        fresh = store().get("Work")
        assert not fresh.disabled
        assert fresh.disabled_reason == ""
        assert fresh.consecutive_auth_failures == 0


# ---------------------------------------------------------------- snapshots


@pytest.mark.parametrize("size", SIZES)
def test_password_editor_snapshot(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    """A disabled mailbox: why it is disabled, both parts, the outgoing part shared."""
    app = app_factory()
    add_sample_accounts()
    disabled = store().get("Old ISP")

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await open_editor(pilot, disabled.id)
        disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_password_editor_separate_outgoing_with_mismatch_snapshot(
    snap_compare: SnapCompare, app_factory: AppFactory
) -> None:
    app = app_factory()
    account = separate_credentials_account()

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await open_editor(pilot, account.id)
        await replace_text(pilot, "#outgoing-password", "smtp-new")
        await replace_text(pilot, "#outgoing-again", "smtp-nex")
        await pilot.press("ctrl+t")
        disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
