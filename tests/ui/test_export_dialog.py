"""Export from the message browser (issue #13.2): x opens the dialog; the search's messages (or
all) go to a Maildir or an mbox; a failure is said in the dialog and nothing closes."""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from tests.ui.centring import assert_centred
from tests.ui.test_message_browser import BrowserApp, browser, database, mailboxes, settle
from tui.screens.export_dialog import ExportDialog

__all__ = ["database", "mailboxes"]  # the fixtures, shared with the browser tests


async def test_x_exports_the_search_results_to_an_mbox(
    mailboxes: dict[str, Any], tmp_path: Path
) -> None:
    app = BrowserApp(tmp_path)
    target = tmp_path / "found.mbox"
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        screen = browser(app)
        await pilot.press("slash", *"lunch", "enter")
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        await pilot.pause()
        assert_centred(app.screen.query_one("#export-dialog").region, app.size.width)
        await pilot.click("#export-mbox")
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.click("#export-go")
        await settle(pilot)
        assert browser(app) is screen
    box = mailbox.mbox(target, create=False)
    assert [box.get_message(k)["Subject"] for k in box.keys()] == ["Lunch on Friday"]  # noqa: SIM118


async def test_export_everything_to_a_maildir_and_a_failure_stays_in_the_dialog(
    mailboxes: dict[str, Any], tmp_path: Path
) -> None:
    app = BrowserApp(tmp_path)
    (tmp_path / "a-file").write_text("in the way")
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        dialog.query_one("#export-path", Input).value = str(tmp_path / "a-file")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog
        said = str(dialog.query_one("#export-status", Static).render())
        assert said.startswith("Could not export to Maildir") and "not a folder" in said
        dialog.query_one("#export-path", Input).value = str(tmp_path / "Mail")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ExportDialog)
    assert len(mailbox.Maildir(tmp_path / "Mail", create=False)) == 4
