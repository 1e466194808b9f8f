"""Keys typed in one go, before the screen they open is even mounted, all arrive in order.

Each test posts every key to the app at once, without waiting in between (as a fast typist or
`tmux send-keys "aWork"` does), then waits until the app has handed them all over.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from tests.ui.conftest import AppFactory, add_account, add_sample_accounts
from tui.app import PoptuiApp
from tui.screens.account_form import AccountFormScreen
from tui.screens.message_browser import MessageBrowserScreen
from tui.screens.password_editor import PasswordEditorScreen

TYPED = "Work mail (ooops, r/d/e/s keys too)"
"""Letters that are bindings on the screen being left (o opens, d deletes, e edits ...): they
must be typed into the field, not run there."""


def key_of(character: str) -> events.Key:
    names = {
        " ": "space",
        "/": "slash",
        "(": "left_parenthesis",
        ")": "right_parenthesis",
        ",": "comma",
    }
    return events.Key(names.get(character, character), character)


async def type_at_once(pilot: Pilot[Any], first: str, text: str) -> None:
    """`first` (a binding key) then `text`, all posted before any is handled."""
    app = pilot.app
    assert isinstance(app, PoptuiApp)
    for character in first + text:
        app.post_message(key_of(character))
    for _ in range(400):
        await asyncio.sleep(0.025)
        if app.keys_waiting == 0 and app.screen.is_mounted:
            break
    await pilot.pause()
    assert app.keys_waiting == 0


async def test_typing_right_after_a_lands_in_the_name_field(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        add_sample_accounts()
        app.screen.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        await type_at_once(pilot, "a", TYPED)
        assert isinstance(app.screen, AccountFormScreen)
        assert app.screen.query_one("#name", Input).value == TYPED
        assert len(app.screen_stack) == 2  # nothing else opened (o, d, e, s are bindings)


async def test_typing_right_after_p_lands_in_the_password_editor(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        add_account("Work", "ana@example.com", activate=True)
        app.screen.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        await type_at_once(pilot, "p", "n3w-Secret (pw)")
        assert isinstance(app.screen, PasswordEditorScreen)
        assert app.screen.query_one("#incoming-password", Input).value == "n3w-Secret (pw)"


async def test_typing_right_after_o_and_slash_lands_in_the_search(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        add_account("Work", "ana@example.com", activate=True, messages=30)
        app.screen.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        await type_at_once(pilot, "o/", "report, draft (old)")
        assert isinstance(app.screen, MessageBrowserScreen)
        assert app.screen.search_input.value == "report, draft (old)"
