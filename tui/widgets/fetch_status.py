"""The one-line fetch status bar at the bottom of the mailbox list: idle, busy, progress, error.

It only draws what it is given (`FetchStatusLine`); the app feeds it from the fetch worker's
messages. The bar is hand-drawn from the width, not a `ProgressBar`, so it has no ETA or
animation: a snapshot of it is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui.core.text import clean, human_bytes

BUSY_SYMBOL = "↻"
ERROR_SYMBOL = "✗"
OK_SYMBOL = "✓"
MIN_BAR_WIDTH = 6
PHASE_WORDS = {
    "connecting": "connecting…",
    "listing": "listing the messages on the server…",
    "fetching": "fetching…",
    "deleting": "deleting fetched messages on the server…",
    "done": "finishing…",
}


class StatusKind(StrEnum):
    IDLE = "idle"
    """Nothing running: when the last fetch was and when the next one is."""
    BUSY = "busy"
    """Something running without a count yet (connecting, listing, testing)."""
    PROGRESS = "progress"
    """Fetching messages: a bar, done/total, bytes, rate."""
    ERROR = "error"
    """The last fetch or test failed: what happened, in one line."""


@dataclass(frozen=True)
class FetchStatusLine:
    """What the bar shows. `account` and `text` are untrusted and cleaned when drawn."""

    kind: StatusKind
    account: str = ""
    text: str = ""
    total: int = 0
    done: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    rate: float = 0.0

    @classmethod
    def idle(cls, text: str, account: str = "") -> FetchStatusLine:
        return cls(StatusKind.IDLE, account, text)

    @classmethod
    def busy(cls, account: str, text: str) -> FetchStatusLine:
        return cls(StatusKind.BUSY, account, text)

    @classmethod
    def error(cls, account: str, text: str) -> FetchStatusLine:
        return cls(StatusKind.ERROR, account, text)

    @classmethod
    def many(cls, running: int, waiting: int = 0) -> FetchStatusLine:
        """Several mailboxes at once: how many (each one's progress is on its own row)."""
        noun = "mailbox" if running == 1 else "mailboxes"
        text = f"Fetching {running} {noun}…"
        if waiting:
            text += f" · {waiting} waiting"
        return cls.busy("", text)

    @classmethod
    def progress(
        cls,
        account: str,
        phase: str,
        *,
        total: int = 0,
        done: int = 0,
        bytes_done: int = 0,
        bytes_total: int = 0,
        rate: float = 0.0,
    ) -> FetchStatusLine:
        """A fetch's progress: a bar once the count is known, the phase in words before."""
        if phase != "fetching" or total <= 0:
            return cls.busy(account, PHASE_WORDS.get(phase, f"{phase}…"))
        return cls(
            StatusKind.PROGRESS,
            account,
            "",
            total=total,
            done=done,
            bytes_done=bytes_done,
            bytes_total=bytes_total,
            rate=rate,
        )


def progress_figures(line: FetchStatusLine, *, brief: bool = False) -> str:
    """ "1,234/10,000 · 12.3 MB of 80.1 MB · 1.2 MB/s"; `brief` keeps only what fits 80 columns."""
    count = f"{line.done:,}/{line.total:,}"
    if brief:
        return f"{count} · {human_bytes(line.bytes_done)}"
    size = human_bytes(line.bytes_done)
    if line.bytes_total:
        size += f" of {human_bytes(line.bytes_total)}"
    return f"{count} · {size} · {human_bytes(line.rate)}/s"


class FetchStatus(Widget):
    """The fetch status bar: hidden until there is something to say."""

    DEFAULT_CSS = """
    FetchStatus {
        height: 1;
        padding: 0 1;
        background: $boost;
        display: none;
    }
    FetchStatus.-shown {
        display: block;
    }
    FetchStatus.-idle {
        color: $text-muted;
    }
    """

    line: reactive[FetchStatusLine | None] = reactive(None)
    """What the bar shows; None hides it."""

    def show(self, line: FetchStatusLine | None) -> None:
        self.line = line

    def watch_line(self, line: FetchStatusLine | None) -> None:
        self.set_class(line is not None, "-shown")
        self.set_class(line is not None and line.kind is StatusKind.IDLE, "-idle")

    def render(self) -> Content:
        line = self.line
        if line is None:
            return Content("")
        account = clean(line.account)
        if line.kind is StatusKind.PROGRESS:
            return self._render_progress(line, account)
        symbol, style = {
            StatusKind.IDLE: (OK_SYMBOL, ""),
            StatusKind.BUSY: (BUSY_SYMBOL, "$text"),
            StatusKind.ERROR: (ERROR_SYMBOL, "$text-error"),
        }[line.kind]
        if line.kind is StatusKind.IDLE and not account:
            symbol = "·"
        head = Content.styled(f"{symbol} {account}" if account else symbol, f"bold {style}".strip())
        separator = ": " if line.kind is StatusKind.ERROR else "  "
        return Content.assemble(head, (separator + clean(line.text), style))

    def _render_progress(self, line: FetchStatusLine, account: str) -> Content:
        width = self.content_size.width or self.size.width or 80
        head = f"{BUSY_SYMBOL} {account}"
        figures = progress_figures(line)
        if width - len(head) - len(figures) - 2 < MIN_BAR_WIDTH * 2:
            figures = progress_figures(line, brief=True)
        bar_width = max(0, width - len(head) - len(figures) - 2)
        filled = round(bar_width * min(line.done, line.total) / line.total) if line.total else 0
        return Content.assemble(
            (head, "bold"),
            " ",
            ("━" * filled, "$accent"),
            ("━" * (bar_width - filled), "$foreground 15%"),
            " ",
            figures,
        )
