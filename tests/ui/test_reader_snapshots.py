"""The message reader and the add form pictured at 60x20 (a small SSH window), 80x24 and
120x40: nothing a user needs is cut off at the smallest size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.ui.conftest import NOW, AppFactory, add_account, disable_cursor_blink
from tests.ui.test_message_browser import PDF, mail, store_raw
from tui.app import PoptuiApp
from tui.screens.message_reader import MessageReaderScreen

SnapCompare = Callable[..., bool]
SIZES = [
    pytest.param((60, 20), id="60x20"),
    pytest.param((80, 24), id="80x24"),
    pytest.param((120, 40), id="120x40"),
]
BODY = (
    "Hello team,\n\nthe figures for the first quarter are in the attached report: sales are "
    "up by eleven percent, costs are flat.\n\nPlease read it before Friday's meeting.\n\nAna"
)


async def open_reader(pilot: Pilot[Any]) -> None:
    await pilot.press("o")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(pilot.app.screen, MessageReaderScreen)
    disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()


def reader_app(app_factory: AppFactory) -> PoptuiApp:
    app = app_factory()
    account = add_account("Work", "ana@example.com", activate=True)
    store_raw(
        account,
        mail(
            "Quarterly report: first quarter figures and the agenda for Friday",
            "Ana Lima <ana.lima@example.com>",
            NOW - timedelta(days=1),
            BODY,
            attachment=("q1-report.pdf", PDF),
        ),
        uidl="r1",
    )
    return app


@pytest.mark.parametrize("size", SIZES)
def test_message_reader(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    assert snap_compare(reader_app(app_factory), terminal_size=size, run_before=open_reader)


async def test_reader_at_60x20_keeps_headers_body_and_attachment(app_factory: AppFactory) -> None:
    app = reader_app(app_factory)
    async with app.run_test(size=(60, 20)) as pilot:
        await open_reader(pilot)
        reader = app.screen
        headers = str(reader.query_one("#reader-headers", Static).render())
        assert "Quarterly report" in headers and "Ana Lima" in headers
        body = reader.query_one("#reader-body")
        assert body.region.height >= 5  # room to read, under the headers
        assert body.region.bottom <= 20
