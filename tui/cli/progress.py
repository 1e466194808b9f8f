"""Progress of several fetches at once on a terminal: one line per mailbox being fetched.

The lines are redrawn in place (cursor up, erase line) at most 10 times a second, from whichever
fetch thread reports; a line never wraps, so the cursor arithmetic holds on a narrow terminal.
Only for a terminal: when output goes to a file or a pipe nothing of this is written.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import TextIO

from tui.core.sync import SyncProgress
from tui.core.text import clean, human_bytes

BAR_WIDTH = 20
REDRAW_SECONDS = 0.1
_UP_TO_LINE_START = "\x1b[{}F"
_ERASE_LINE = "\x1b[2K"
_ERASE_BELOW = "\x1b[J"


def progress_text(progress: SyncProgress) -> str:
    """name [#####.....] 120/500 1.2 MB 300 KB/s, or "name: listing…"."""
    name = clean(progress.account)
    if progress.phase == "fetching" and progress.total:
        filled = int(BAR_WIDTH * progress.done / progress.total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return (
            f"{name} [{bar}] {progress.done}/{progress.total} "
            f"{human_bytes(progress.bytes_done)} {human_bytes(int(progress.rate))}/s"
        )
    return f"{name}: {progress.phase}…"


class ProgressBoard:
    """One line per mailbox now being fetched (in the order given), under a count line."""

    def __init__(self, stream: TextIO, names: list[str]) -> None:
        self.stream = stream
        self.order = {name: index for index, name in enumerate(names)}
        self.total = len(names)
        self.done = 0
        self.lines: dict[str, str] = {}
        self.phases: dict[str, str] = {}
        self.drawn = 0
        self.last = 0.0
        self._lock = threading.Lock()

    def __call__(self, progress: SyncProgress) -> None:
        """The engine's progress callback, from any fetch thread."""
        with self._lock:
            new_phase = self.phases.get(progress.account) != progress.phase
            last_one = bool(progress.total) and progress.done == progress.total
            self.phases[progress.account] = progress.phase
            self.lines[progress.account] = progress_text(progress)
            self._draw(force=new_phase or last_one)

    def finished(self, name: str) -> None:
        with self._lock:
            self.lines.pop(name, None)
            self.done += 1
            self._draw(force=True)

    def clear(self) -> None:
        with self._lock:
            if self.drawn:
                self.stream.write(_UP_TO_LINE_START.format(self.drawn) + _ERASE_BELOW)
                self.stream.flush()
                self.drawn = 0

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self.last < REDRAW_SECONDS:
            return
        self.last = now
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        rows = [f"{self.done}/{self.total} mailboxes fetched"] if self.total > 1 else []
        rows += [self.lines[n] for n in sorted(self.lines, key=lambda n: self.order.get(n, 0))]
        out = [_UP_TO_LINE_START.format(self.drawn)] if self.drawn else []
        out += [_ERASE_LINE + row[:width] + "\n" for row in rows]
        out.append(_ERASE_BELOW)
        self.stream.write("".join(out))
        self.stream.flush()
        self.drawn = len(rows)
