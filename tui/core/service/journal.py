"""The service's log: one line per fetch, in the form journald and syslog expect.

Under systemd (JOURNAL_STREAM is set) each line starts with a `<N>` priority prefix, which
journald turns into the entry's priority, and carries no timestamp (the journal adds its own);
elsewhere (cron, a terminal, a file) each line starts with a UTC timestamp instead. Every line
passes through `one_line`: account names and server replies may carry escape sequences.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from tui.core.storage.models import utcnow
from tui.core.sync.engine import FetchResult
from tui.core.sync.outcome import summary_line
from tui.core.text import one_line

ERROR, WARNING, NOTICE, INFO = 3, 4, 5, 6
"""syslog priorities, as sd-daemon(3) prefixes them."""


def under_journald(environ: dict[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("JOURNAL_STREAM"))


class ServiceLog:
    """Writes the service's lines to one stream (stderr), whole lines only, from any thread."""

    def __init__(
        self,
        stream: TextIO,
        *,
        journald: bool | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.stream = stream
        self.journald = under_journald() if journald is None else journald
        self.clock = clock
        self._lock = threading.Lock()

    def line(self, priority: int, text: str) -> None:
        text = one_line(text, 1000)
        if self.journald:
            out = f"<{priority}>{text}\n"
        else:
            out = f"{self.clock():%Y-%m-%dT%H:%M:%SZ} {text}\n"
        with self._lock:
            self.stream.write(out)
            self.stream.flush()

    def info(self, text: str) -> None:
        self.line(INFO, text)

    def warning(self, text: str) -> None:
        self.line(WARNING, text)

    def error(self, text: str) -> None:
        self.line(ERROR, text)

    def fetched(self, result: FetchResult, *, next_in: str = "") -> None:
        """The one line a fetch leaves: its summary, or what went wrong; then the next try."""
        tail = f" (next {next_in})" if next_in else ""
        text = f"fetched {summary_line(result)}{tail}"
        self.line(INFO if result.ok else WARNING, text)


def in_words(seconds: float) -> str:
    """ "in 5 min", "in 40 s", "in 2 h": when the next fetch comes."""
    if seconds < 90:
        return f"in {max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"in {round(seconds / 60)} min"
    return f"in {round(seconds / 3600)} h"
