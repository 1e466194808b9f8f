"""Screens composed ahead (tui.screens.ready): `a`, `p` and `o` push them, and they show the
mailbox, its mail and names as they are when the key is pressed, not when they were composed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from tests.ui.conftest import AppFactory, add_account, type_text
from tui.core.secrets import UnavailableStore
from tui.core.storage.models import Account, Message
from tui.screens import ready
from tui.screens.account_form import AccountFormScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.message_browser import MessageBrowserScreen
from tui.screens.password_editor import PasswordEditorScreen


async def composed_ahead(pilot: Pilot[Any], key: str) -> Screen[Any]:
    """The screen the app prepared under `key`, once it is composed and mounted."""
    for _ in range(200):
        screen = ready.prepared(pilot.app, key)
        if screen is not None and screen.is_mounted:
            await pilot.pause()
            return screen
        await asyncio.sleep(0.025)
    raise AssertionError(f"nothing was prepared under {key!r}")


async def test_a_pushes_the_form_composed_ahead_and_checks_names_taken_since(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    add_account("Work", "ana@example.com", activate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await composed_ahead(pilot, ready.ADD_FORM)
        assert not form.is_active
        # Added elsewhere (another session, `poptui account add`) after the form was composed.
        add_account("Home", "ana@home.example")
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is form and isinstance(form, AccountFormScreen)
        assert app.focused is form.query_one("#name", Input)
        await type_text(pilot, "Home")
        await form.fields.ensure_built()
        form.fields.check_all()
        await pilot.pause()
        message = str(form.query_one("#name-message", Static).render())
        assert "already called “Home”" in message

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert not form.is_attached  # used once, then gone
        again = await composed_ahead(pilot, ready.ADD_FORM)
        assert again is not form  # the next `a` gets a fresh one


async def test_p_pushes_the_editor_composed_ahead_only_while_it_fits(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com", activate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await composed_ahead(pilot, ready.PASSWORD_EDITOR)
        assert isinstance(editor, PasswordEditorScreen) and editor.account_id == account.id
        await pilot.press("p")
        await pilot.pause()
        assert app.screen is editor
        assert app.focused is editor.query_one("#incoming-password", Input)
        await pilot.press("escape")
        await pilot.pause()

        stale = await composed_ahead(pilot, ready.PASSWORD_EDITOR)
        assert stale is not editor
        # Disabled after the editor was composed: `p` must not show the old state.
        Account.update(disabled=True, disabled_reason="Too many failures").where(
            Account.id == account.id
        ).execute()
        await pilot.press("p")
        await pilot.pause()
        shown = app.screen
        assert isinstance(shown, PasswordEditorScreen) and shown is not stale
        assert not stale.is_attached
        banner = shown.query_one("#disabled-banner", Static)
        assert banner.display and "Too many failures" in str(banner.render())


async def test_o_pushes_the_browser_composed_ahead_with_the_mail_stored_since(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    account = add_account("Work", "ana@example.com", activate=True, messages=2)
    async with app.run_test(size=(80, 24)) as pilot:
        ahead = await composed_ahead(pilot, ready.MESSAGES)
        assert isinstance(ahead, MessageBrowserScreen) and not ahead.is_active
        browser: MessageBrowserScreen = ahead
        assert browser.message_list.total == 2
        # Fetched by another process (`poptui fetch` from cron) after it was composed.
        Message.create(account=account, uidl="uid-new", size=100, subject="Fresh \x1b[31mnews")
        await pilot.press("o", "slash", *"news")
        await pilot.pause()
        assert app.screen is ahead
        assert browser.message_list.total == 3
        assert "3 messages" in str(browser.query_one("#browser-summary", Static).render())
        assert app.focused is browser.search_input
        assert browser.search_input.value == "news"

        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert not browser.is_attached  # used once, then gone
        again = await composed_ahead(pilot, ready.MESSAGES)
        assert again is not browser


async def test_footer_keeps_its_keys_when_they_do_not_change(app_factory: AppFactory) -> None:
    """Moving between fields leaves the form's keys as they are: the footer is not rebuilt
    (Textual's rebuilt it after every focus change); when the keys change, it is."""
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AccountFormScreen)
        before = list(form.query(FooterKey))
        assert before
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is form.query_one("#email", Input)
        assert list(form.query(FooterKey)) == before  # the same widgets, not new ones

        form.query_one("#name", Input).focus()
        await pilot.pause()
        app.screen.refresh_bindings()
        await pilot.pause()
        assert list(form.query(FooterKey)) == before
        assert "Password store" not in {key.description for key in before}

        app.services.secrets = UnavailableStore("No password store is open.")
        form.refresh_bindings()  # ctrl+l is offered now
        await pilot.pause()
        after = list(form.query(FooterKey))
        assert "Password store" in {key.description for key in after}


@pytest.mark.parametrize("quit_by", ["exit", "teardown"])
@pytest.mark.parametrize("key", [ready.ADD_FORM, ready.PASSWORD_EDITOR, ready.MESSAGES])
async def test_quitting_while_a_screen_is_prepared_off_screen_is_no_error(
    app_factory: AppFactory, key: str, quit_by: str
) -> None:
    """The app may quit while it composes a screen ahead. Textual stops starting widgets when
    its message loop ends and closes the rest in no set order, so a screen composing then was
    left half mounted and mount handlers (ours, and Textual's `Header`) raised on the way out;
    CI caught `#save-anyway` so, twice. Quit (`exit`, as the quit key does, or a test's end,
    which shuts the app down directly) at once and after each of the next steps of composing."""
    for steps in (0, 1, 2, 3, 5, 8):
        app = app_factory()
        if not Account.select().exists():
            add_account("Work", "ana@example.com", activate=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await composed_ahead(pilot, key)
            home = app.screen
            assert isinstance(home, MailboxListScreen)
            row = home.table.highlighted
            assert row is not None
            screen: Screen[Any]
            if key == ready.ADD_FORM:
                screen = AccountFormScreen(app.services)
            elif key == ready.PASSWORD_EDITOR:
                account = Account.get_by_id(row.account_id)
                screen = PasswordEditorScreen(app.services, account, store_setup=app.store_setup)
            else:
                screen = app._message_browser(row.account_id)
            ready.prepare(app, key, screen)
            for _ in range(steps):
                await asyncio.sleep(0)  # the screen's queue composes and mounts meanwhile
            if quit_by == "exit":
                app.exit()
        assert app._exception is None, (key, steps, app._exception)


async def test_a_preparing_tick_after_the_app_is_shut_down_does_nothing(
    app_factory: AppFactory,
) -> None:
    """The preparing interval may fire once more while a test's end shuts the app down without
    `exit()`: the screen stack is already empty then. CI caught `self.screen` raising
    ScreenStackError there once; the tick must stand back instead."""
    app = app_factory()
    add_account("Work", "ana@example.com", activate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await composed_ahead(pilot, ready.ADD_FORM)
    assert not app._screen_stack  # as it was when the late tick came
    app._prepare_screens()
    assert app._exception is None
