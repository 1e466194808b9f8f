"""The form's "Also deliver to" section and the mailbox list's delivery lines (issue #13.1)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from tests.ui.conftest import AppFactory, FakeTester, add_account, open_form, store
from tui.core.delivery import add_target, list_targets
from tui.core.delivery.models import TargetRow
from tui.screens.account_form import AccountFormScreen
from tui.screens.mailbox_list import MailboxListScreen


async def _edit_first(pilot: Pilot[Any]) -> AccountFormScreen:
    await open_form(pilot, "e")
    screen = pilot.app.screen
    assert isinstance(screen, AccountFormScreen)
    return screen


async def _write_targets(pilot: Pilot[Any], text: str) -> None:
    area = pilot.app.screen.query_one("#delivery-targets-text", TextArea)
    area.text = text
    await pilot.pause()


async def _save(pilot: Pilot[Any]) -> None:
    await pilot.press("ctrl+t")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_form_adds_and_removes_targets(
    app_factory: AppFactory, tester: FakeTester
) -> None:
    app = app_factory()
    account = add_account("Work", "me@example.net", activate=True)
    add_target(account, "mbox:~/old.mbox")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await _edit_first(pilot)
        area = app.screen.query_one("#delivery-targets-text", TextArea)
        assert area.text == "mbox:~/old.mbox"
        await _write_targets(pilot, "maildir:~/Mail\n\nmda:procmail -d me\n")
        await _save(pilot)
        assert isinstance(app.screen, MailboxListScreen)
    assert [t.spec for t in list_targets(store().get("Work"))] == [
        "maildir:~/Mail",
        "mda:procmail -d me",
    ]


async def test_a_bad_target_saves_nothing_and_says_which_line(
    app_factory: AppFactory, tester: FakeTester
) -> None:
    app = app_factory()
    add_account("Work", "me@example.net", activate=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await _edit_first(pilot)
        await _write_targets(pilot, "maildir:~/Mail\nimap:nope")
        await _save(pilot)
        assert isinstance(app.screen, AccountFormScreen)
        error = str(app.screen.query_one("#delivery-targets-error", Static).render())
        assert error.startswith("✗ Line 2:") and "imap:nope" in error
    assert list_targets(store().get("Work")) == []
    assert tester.calls == []


async def test_the_detail_shows_targets_and_their_failure_cleaned(app_factory: AppFactory) -> None:
    app = app_factory()
    account = add_account("Work", "me@example.net", activate=True)
    target = add_target(account, "maildir:~/Mail")
    TargetRow.update(
        last_error="Could not deliver to Maildir ~/Mail: No space left \x1b[2Jon device"
    ).where(TargetRow.id == target.id).execute()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        detail = str(app.screen.query_one("#mailbox-detail", Static).render())
    assert "Deliver Maildir ~/Mail" in detail
    assert "✗ Could not deliver to Maildir ~/Mail: No space left" in detail
    assert "\x1b" not in detail
