"""POP-only is a first-class setup: the outgoing server is filled only when the user asks for it,
a cleared one stays cleared, and a failed outgoing check can still be saved with the incoming
server verified."""

from __future__ import annotations

from textual.widgets import Button

from tests.ui.conftest import (
    PASSWORD,
    AppFactory,
    FakeOutgoingTester,
    FakeTester,
    open_form,
    replace_text,
    store,
    tab_to,
)
from tests.ui.test_account_form import (
    fill_basic_form,
    open_add_form,
    press_test_and_save,
    status_of,
    value_of,
)
from tui.app import PoptuiApp
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.storage.accounts import settings_of
from tui.screens.account_form import AccountFormScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.services import TestResult


def notices(app: PoptuiApp) -> list[tuple[str, str]]:
    """The toasts shown so far: (severity, message)."""
    return [(notice.severity, notice.message) for notice in app._notifications]


async def test_incoming_server_does_not_fill_the_outgoing_one(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        assert value_of(app, "#outgoing-host") == ""


async def test_same_credentials_choice_fills_it_and_a_cleared_one_stays_cleared(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await tab_to(pilot, "same-credentials")
        await pilot.press("space", "space")  # off and on again: asked for shared credentials
        await pilot.pause()
        assert value_of(app, "#outgoing-host") == "smtp.example.net"
        await replace_text(pilot, "#incoming-host", "pop3.example.org")
        assert value_of(app, "#outgoing-host") == "smtp.example.org"  # it follows while filled
        await replace_text(pilot, "#outgoing-host", "")
        await replace_text(pilot, "#incoming-host", "pop.example.com")
        assert value_of(app, "#outgoing-host") == ""


async def test_pop_only_saves_without_a_warning_and_stays_cleared_on_edit(
    app_factory: AppFactory, tester: FakeTester, outgoing_tester: FakeOutgoingTester
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await press_test_and_save(pilot)

        assert isinstance(app.screen, MailboxListScreen)
        assert outgoing_tester.calls == []
        settings = settings_of(store().get("Work"))
        assert settings.outgoing_host == ""
        assert notices(app) == [("information", "Added Work. Logged in. It is the active mailbox.")]

        await open_form(pilot, "e")
        assert isinstance(app.screen, AccountFormScreen)
        await pilot.pause()
        assert value_of(app, "#outgoing-host") == ""
        await replace_text(pilot, "#incoming-host", "pop3.example.net")
        assert value_of(app, "#outgoing-host") == ""
        await press_test_and_save(pilot)
        assert isinstance(app.screen, MailboxListScreen)
        assert settings_of(store().get("Work")).outgoing_host == ""
        assert outgoing_tester.calls == []


async def test_a_cleared_outgoing_server_stays_cleared_after_save_and_edit(
    app_factory: AppFactory, outgoing_tester: FakeOutgoingTester
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await replace_text(pilot, "#outgoing-host", "smtp.example.net")
        await press_test_and_save(pilot)
        assert settings_of(store().get("Work")).outgoing_host == "smtp.example.net"

        await open_form(pilot, "e")
        await replace_text(pilot, "#outgoing-host", "")
        await press_test_and_save(pilot)
        assert isinstance(app.screen, MailboxListScreen)
        assert settings_of(store().get("Work")).outgoing_host == ""

        await open_form(pilot, "e")
        await pilot.pause()
        assert value_of(app, "#outgoing-host") == ""
        await replace_text(pilot, "#name", "Work mail")
        assert value_of(app, "#outgoing-host") == ""


async def test_outgoing_failure_says_so_and_saves_with_the_incoming_server_verified(
    app_factory: AppFactory,
    outgoing_tester: FakeOutgoingTester,
    secrets: MemoryStore,
) -> None:
    outgoing_tester.results = [TestResult(False, "Could not connect to smtp.example.net:465.")]
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await replace_text(pilot, "#outgoing-host", "smtp.example.net")
        await press_test_and_save(pilot)

        assert isinstance(app.screen, AccountFormScreen)
        assert store().list() == []
        assert status_of(app) == (
            "✗ Not saved: the incoming server works, but the outgoing server check failed: "
            "Could not connect to smtp.example.net:465. "
            "Ctrl+S saves it with the incoming server verified."
        )
        button = app.screen.query_one("#save-incoming-verified", Button)
        assert button.display

        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Work")
        assert account.outgoing_host == "smtp.example.net"
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == PASSWORD
        assert notices(app) == [
            (
                "information",
                "Added Work. Saved with the incoming server verified; the outgoing server check "
                "failed: Could not connect to smtp.example.net:465. It is the active mailbox.",
            )
        ]


async def test_save_with_incoming_verified_refuses_a_changed_incoming_server(
    app_factory: AppFactory, outgoing_tester: FakeOutgoingTester
) -> None:
    outgoing_tester.results = [TestResult(False, "Could not connect to smtp.example.net:465.")]
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await replace_text(pilot, "#outgoing-host", "smtp.example.net")
        await press_test_and_save(pilot)
        await replace_text(pilot, "#incoming-host", "pop.other.example")
        await pilot.click("#save-incoming-verified")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, AccountFormScreen)
        assert store().list() == []
        assert "changed since they were tested" in status_of(app)
