"""SVG snapshots of the fetch status bar: idle, fetching with progress, and an error, at 80x24
(the SSH default) and 120x40.

The bar sits in a bare app so these snapshots change only when the bar does. Regenerate after
a deliberate change with `pytest tests/ui/test_fetch_status_snapshots.py --snapshot-update`
and look at the SVGs before accepting.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from tui.widgets.fetch_status import FetchStatus, FetchStatusLine

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class StatusBarApp(App[None]):
    """A screen of filler with the fetch status bar at the bottom, as on the mailbox list."""

    CSS = """
    #filler { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, line: FetchStatusLine) -> None:
        super().__init__()
        self._line = line

    def compose(self) -> ComposeResult:
        yield Static("(the mailbox list)", id="filler")
        yield FetchStatus(id="fetch-status")

    def on_mount(self) -> None:
        self.query_one(FetchStatus).show(self._line)


IDLE = FetchStatusLine.idle("fetched 4 min ago, 3 new · next fetch in 1 min", "Work")
PROGRESS = FetchStatusLine.progress(
    "Work",
    "fetching",
    total=10_000,
    done=3_217,
    bytes_done=41_943_040,
    bytes_total=130_547_712,
    rate=1_258_291.2,
)
ERROR = FetchStatusLine.error("Personal", "password rejected, change it with p")


@pytest.mark.parametrize("size", SIZES)
def test_fetch_status_idle(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(StatusBarApp(IDLE), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_fetch_status_fetching(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(StatusBarApp(PROGRESS), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_fetch_status_error(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(StatusBarApp(ERROR), terminal_size=size)
