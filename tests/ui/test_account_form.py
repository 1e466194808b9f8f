"""The add/edit form, driven by keys: presets, validation, Test & save, certificates, secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Input, RadioButton, Static

from tests.ui.conftest import (
    FINGERPRINT,
    PASSWORD,
    AppFactory,
    FakeTester,
    add_account,
    certificate,
    open_form,
    replace_text,
    store,
    tab_to,
    type_text,
)
from tui.app import PoptuiApp
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import DeletePolicy, Security
from tui.core.storage.accounts import settings_of
from tui.screens.account_form import AccountFormScreen
from tui.screens.dialogs import CertificateTrustDialog
from tui.screens.mailbox_list import MailboxListScreen
from tui.services import TestResult
from tui.widgets.account_fields import GMAIL_RECENT_FORCES_LEAVE
from tui.widgets.status_line import StatusLine


def text_of(app: PoptuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def status_of(app: PoptuiApp) -> str:
    return app.screen.query_one(StatusLine).text


def value_of(app: PoptuiApp, selector: str) -> str:
    return app.screen.query_one(selector, Input).value


async def open_add_form(pilot: Pilot[Any]) -> None:
    await open_form(pilot, "a")
    assert isinstance(pilot.app.screen, AccountFormScreen)


async def fill_basic_form(pilot: Pilot[Any]) -> None:
    """Name, address, server and password, leaving the rest at its defaults."""
    await replace_text(pilot, "#name", "Work")
    await replace_text(pilot, "#email", "me@example.net")
    await replace_text(pilot, "#incoming-host", "pop.example.net")
    await replace_text(pilot, "#password", PASSWORD)


async def press_test_and_save(pilot: Pilot[Any], *, tab_to_button: bool = False) -> None:
    """Tab to the button and press Enter, or use its key (Ctrl+T), then wait for the worker."""
    if tab_to_button:
        await tab_to(pilot, "test-save")
        await pilot.press("enter")
    else:
        await pilot.press("ctrl+t")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def database_bytes(db_path: Path) -> bytes:
    """The SQLite file and its WAL, where fresh writes live until a checkpoint."""
    return b"".join(path.read_bytes() for path in db_path.parent.glob(db_path.name + "*"))


async def test_add_an_account_entirely_by_keyboard(
    app_factory: AppFactory, secrets: MemoryStore, tester: FakeTester, db_path: Path
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await type_text(pilot, "Work")
        await pilot.press("tab")
        await type_text(pilot, "me@example.net")
        await pilot.press("tab")
        await type_text(pilot, "pop.example.net")
        await tab_to(pilot, "password")
        assert value_of(app, "#username") == "me@example.net"  # filled from the address
        await type_text(pilot, PASSWORD)
        await press_test_and_save(pilot, tab_to_button=True)

        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Work")
        assert account.email == "me@example.net"
        assert account.incoming_host == "pop.example.net"
        assert account.is_active  # the first mailbox becomes the active one
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == PASSWORD
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) is None
        assert tester.calls[0][1] == PASSWORD
        assert PASSWORD.encode() not in database_bytes(db_path)
        assert "Work" in [row.name for row in app.screen.rows]


async def test_gmail_address_fills_the_servers_and_says_so(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await pilot.press("tab")
        await type_text(pilot, "ana.lima@gmail.com")
        await pilot.press("tab")
        summary = text_of(app, "#preset-summary")
        assert "Incoming server set to pop.gmail.com:995 (SSL/TLS)" in summary
        assert "Outgoing server set to smtp.gmail.com:465 (SSL/TLS)" in summary
        assert "Username set to ana.lima@gmail.com" in summary
        assert "app password" in summary
        assert "app password" in text_of(app, "#password-hint")
        assert value_of(app, "#incoming-host") == "pop.gmail.com"
        assert value_of(app, "#incoming-port") == "995"
        assert value_of(app, "#outgoing-host") == "smtp.gmail.com"
        assert value_of(app, "#username") == "ana.lima@gmail.com"


async def test_outlook_address_warns_that_passwords_are_refused(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await pilot.press("tab")
        await type_text(pilot, "someone@outlook.com")
        await pilot.press("tab")
        assert "OAuth2" in text_of(app, "#preset-summary")
        assert "refuses passwords" in text_of(app, "#password-hint")


async def test_typed_server_is_not_overwritten_by_the_preset(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await replace_text(pilot, "#incoming-host", "pop.relay.example")
        await replace_text(pilot, "#email", "ana@gmail.com")
        await pilot.press("tab")
        assert value_of(app, "#incoming-host") == "pop.relay.example"
        assert "kept the server you entered" in text_of(app, "#preset-summary")


async def test_recent_username_forces_leave_on_server(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        form = app.screen
        form.query_one("#policy-after-fetch", RadioButton).value = True
        await pilot.pause()
        await replace_text(pilot, "#username", "recent:ana@gmail.com")
        await pilot.pause()
        leave = form.query_one("#policy-leave", RadioButton)
        assert leave.value
        assert form.query_one("#policy-after-fetch", RadioButton).disabled
        assert form.query_one("#policy-after-days", RadioButton).disabled
        assert not leave.disabled
        explanation = form.query_one("#delete-explanation", Static)
        assert explanation.display
        assert str(explanation.render()) == GMAIL_RECENT_FORCES_LEAVE

        await replace_text(pilot, "#username", "ana@gmail.com")
        await pilot.pause()
        assert not form.query_one("#policy-after-fetch", RadioButton).disabled
        assert not explanation.display


async def test_bad_port_gets_an_inline_message(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await replace_text(pilot, "#incoming-port", "99999")
        await pilot.press("tab")
        message = app.screen.query_one("#incoming-port-message", Static)
        assert message.display
        assert "Port must be between 1 and 65535; 99999 is too large" in str(message.render())

        await replace_text(pilot, "#incoming-port", "995")  # fixed as it is typed
        assert not message.display


async def test_none_security_warns_at_once(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        app.screen.query_one("#incoming-security").value = Security.NONE  # type: ignore[attr-defined]
        await pilot.pause()
        message = text_of(app, "#incoming-security-message")
        assert "unencrypted" in message
        assert value_of(app, "#incoming-port") == "110"  # the port followed the security


async def test_tester_failure_saves_nothing_until_save_anyway(
    app_factory: AppFactory, tester: FakeTester, secrets: MemoryStore
) -> None:
    tester.results = [TestResult(False, "Password rejected by pop.example.net: [AUTH] no.")]
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await press_test_and_save(pilot)

        assert isinstance(app.screen, AccountFormScreen)
        assert store().list() == []
        assert "Password rejected by pop.example.net: [AUTH] no." in status_of(app)
        save_anyway = app.screen.query_one("#save-anyway", Button)
        assert save_anyway.display

        await pilot.click("#save-anyway")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Work")
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == PASSWORD


async def test_untrusted_certificate_can_be_pinned_and_retested(
    app_factory: AppFactory, tester: FakeTester
) -> None:
    tester.results = [
        TestResult(False, "The certificate is not trusted.", certificate()),
        TestResult(True, "Logged in."),
    ]
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await press_test_and_save(pilot)

        assert isinstance(app.screen, CertificateTrustDialog)
        shown = str(app.screen.query_one("#certificate-fingerprint", Static).render())
        assert shown.replace("\n", ":") == FINGERPRINT
        assert "CN=mail.example.test" in str(
            app.screen.query_one("#certificate-details", Static).render()
        )
        assert store().list() == []

        await pilot.press("p")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert store().get("Work").pinned_fingerprint == FINGERPRINT
        assert [settings.pinned_fingerprint for settings, _ in tester.calls] == ["", FINGERPRINT]


async def test_refusing_the_certificate_saves_nothing(
    app_factory: AppFactory, tester: FakeTester
) -> None:
    tester.results = [TestResult(False, "The certificate is not trusted.", certificate())]
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await press_test_and_save(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AccountFormScreen)
        assert "certificate was refused" in status_of(app)
        assert store().list() == []


async def test_escape_cancels_without_saving(app_factory: AppFactory, tester: FakeTester) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        app.screen.query_one("#name", Input).focus()
        await type_text(pilot, "?q")  # typed into the field, not taken as Help or Quit
        assert value_of(app, "#name") == "?q"  # focus selects all; typing replaces
        assert isinstance(app.screen, AccountFormScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert store().list() == []
        assert tester.calls == []


async def test_errors_block_testing_and_focus_the_first_field(
    app_factory: AppFactory, tester: FakeTester
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert tester.calls == []
        assert app.focused is not None and app.focused.id == "name"
        assert "Give the account a name" in text_of(app, "#name-message")
        assert "Enter the password" in text_of(app, "#password-message")
        assert "fix the fields" in status_of(app)


async def test_edit_prefills_and_keeps_the_password_when_left_empty(
    app_factory: AppFactory, tester: FakeTester, secrets: MemoryStore
) -> None:
    app = app_factory()
    account = add_account("Work", "w@example.com", activate=True)
    secrets.set(account.secret_key, SecretKind.INCOMING, "stored-pw")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_form(pilot, "e")
        assert isinstance(app.screen, AccountFormScreen)
        assert value_of(app, "#name") == "Work"
        assert value_of(app, "#incoming-host") == "pop.example.com"
        assert value_of(app, "#password") == ""
        await replace_text(pilot, "#name", "Office")
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()

        assert isinstance(app.screen, MailboxListScreen)
        assert store().names() == ["Office"]
        assert tester.calls[0][1] == "stored-pw"  # tested with the stored password
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == "stored-pw"
        assert settings_of(store().get("Office")).delete_policy is DeletePolicy.LEAVE


async def test_separate_outgoing_credentials_are_stored_separately(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        assert not app.screen.query_one("#outgoing-credentials").display
        await tab_to(pilot, "same-credentials")
        await pilot.press("space")
        await pilot.pause()
        assert app.screen.query_one("#outgoing-credentials").display
        assert value_of(app, "#outgoing-host") == "smtp.example.net"
        await replace_text(pilot, "#outgoing-username", "sender@example.net")
        await replace_text(pilot, "#outgoing-password", "smtp-secret")
        await press_test_and_save(pilot)

        account = store().get("Work")
        assert not account.same_credentials_for_outgoing
        assert account.outgoing_username == "sender@example.net"
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) == "smtp-secret"
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == PASSWORD


async def test_delete_after_days_field_appears_only_for_that_policy(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        days = app.screen.query_one("#field-delete-after-days")
        assert not days.display
        app.screen.query_one("#policy-after-days", RadioButton).value = True
        await pilot.pause()
        assert days.display


async def test_passing_test_enables_a_disabled_account(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Work", "w@example.com", activate=True, disabled_reason="10 failed logins.")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "a new password (p)" in text_of(app, "#mailbox-detail")
        await open_form(pilot, "e")
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        account = store().get("Work")
        assert not account.disabled
        assert account.disabled_reason == ""
        assert "✓ ok" not in text_of(app, "#mailbox-detail")  # enabled, not yet fetched
        assert "never fetched" in text_of(app, "#mailbox-detail")
