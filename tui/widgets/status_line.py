"""The one busy/status line every form uses: a spinner while work runs, then the outcome.

Screens call `busy`, `ok`, `error`, `show` or `clear` instead of keeping their own spinner and
Static in step; untrusted text is cleaned here, so a server's words can never become markup.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import LoadingIndicator, Static

from tui.core.text import clean


class StatusLine(Horizontal):
    """A spinner and one message; hidden entirely while there is nothing to say."""

    DEFAULT_CSS = """
    StatusLine {
        height: auto;
        max-height: 5;
        padding: 0 1;
    }
    StatusLine > LoadingIndicator {
        width: 4;
        height: 1;
        min-height: 1;
        background: transparent;
        display: none;
    }
    StatusLine > .status-text {
        width: 1fr;
        height: auto;
        display: none;
    }
    StatusLine.-busy > LoadingIndicator {
        display: block;
    }
    """

    is_busy: reactive[bool] = reactive(False)
    """True while work runs: the spinner turns and the screen ignores its verbs."""

    _shown: Content = Content("")

    def compose(self) -> ComposeResult:
        yield LoadingIndicator()
        yield Static(classes="status-text")

    def watch_is_busy(self, busy: bool) -> None:
        self.set_class(busy, "-busy")

    def busy(self, text: str) -> None:
        """Work has started: spinner on, `text` (our own words) beside it."""
        self.is_busy = True
        self.show(Content(text))

    def idle(self) -> None:
        """Work has ended; the message stays until the next call."""
        self.is_busy = False

    def ok(self, text: str) -> None:
        """A success, in green, spinner off."""
        self.is_busy = False
        self.show(
            Content.assemble(("✓ ", "bold"), clean(text, multiline=True)).stylize("$text-success")
        )

    def error(self, text: str) -> None:
        """A failure, in red, spinner off; `text` may quote a server and is cleaned."""
        self.is_busy = False
        self.show(
            Content.assemble(("✗ ", "bold"), clean(text, multiline=True)).stylize("$text-error")
        )

    def show(self, content: Content) -> None:
        """Any prepared content (already safe: built from `Content`, never markup)."""
        self._shown = content
        text = self.query_one(".status-text", Static)
        text.update(content)
        text.display = bool(content.plain)

    @property
    def text(self) -> str:
        """The message shown, as plain text ("" when hidden)."""
        return self._shown.plain

    def clear(self) -> None:
        self.is_busy = False
        self.show(Content(""))
