"""Export from the message browser: the messages shown (the search's, or the whole mailbox)
to a Maildir or an mbox file, in a thread, with the count going up as it writes."""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, RadioButton, RadioSet, Static
from textual.worker import get_current_worker

from tui.core.delivery import ExportFormat, export_mail
from tui.core.errors import PoptuiError
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.models import database_proxy
from tui.core.text import clean
from tui.screens.dialogs import DIALOG_BREAKPOINTS, CentredDialog
from tui.screens.escape_keys import cancel_key
from tui.widgets.action_button import action_button
from tui.widgets.safe_text import safe_content


@dataclass
class ExportProgressed(Message, bubble=False):
    done: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExportProgressed)


@dataclass
class ExportEnded(Message, bubble=False):
    words: str
    ok: bool


class ExportDialog(CentredDialog[None]):
    """Where to, and in which format; then the export runs and says how it went."""

    AUTO_FOCUS = "#export-path"
    HORIZONTAL_BREAKPOINTS = DIALOG_BREAKPOINTS
    BINDINGS = [cancel_key("export-cancel", "Export nothing", action="dismiss(None)")]

    def __init__(self, view: MailboxView, search: str, mailbox: str) -> None:
        super().__init__()
        self._view = view
        self._search = search
        self._mailbox = mailbox

    def compose(self) -> ComposeResult:
        what = (
            f"the messages found for “{clean(self._search)}”" if self._search else "every message"
        )
        with Vertical(id="export-dialog", classes="dialog"):
            yield Static("Export", classes="dialog-title")
            yield Static(f"Copy {what} of {clean(self._mailbox)} to:", markup=False)
            with RadioSet(id="export-format"):
                yield RadioButton("Maildir (a folder)", value=True, id="export-maildir")
                yield RadioButton("mbox (one file)", id="export-mbox")
            yield Input(placeholder="~/Mail/export", id="export-path")
            yield Static(id="export-status", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield action_button("Export", None, id="export-go", variant="primary")
                yield action_button("Cancel (Esc)", "screen.dismiss(None)", id="export-close")

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted, "#export-path")
    def _go(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self._status("Write where to export to.")
            return
        mbox = self.query_one("#export-mbox", RadioButton).value
        self.query_one("#export-go", Button).disabled = True
        self._status("Exporting…")
        self._export(ExportFormat.MBOX if mbox else ExportFormat.MAILDIR, path)

    def _status(self, words: str, style: str = "") -> None:
        self.query_one("#export-status", Static).update(safe_content(words, style))

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export(self, fmt: ExportFormat, path: str) -> None:
        worker = get_current_worker()

        def progress(done: int, _total: int | None) -> None:
            if worker.is_cancelled:
                raise PoptuiError(f"Export stopped after {done:,} messages")
            self.post_message(ExportProgressed(done))

        try:
            with database_proxy.connection_context():
                result = export_mail(
                    self._view,
                    fmt,
                    os.path.expanduser(path),
                    search=self._search or None,
                    progress=progress,
                )
        except PoptuiError as error:
            self.post_message(ExportEnded(error.in_words(), ok=False))
            return
        again = f" ({result.already_there:,} were there already)" if result.already_there else ""
        words = f"Exported {result.written:,} messages to {fmt.value} {path}{again}"
        self.post_message(ExportEnded(words, ok=True))

    @on(ExportProgressed)
    def _progressed(self, event: ExportProgressed) -> None:
        self._status(f"Exporting… {event.done:,} messages written")

    @on(ExportEnded)
    def _ended(self, event: ExportEnded) -> None:
        if event.ok:
            self.app.notify(clean(event.words), markup=False)
            self.dismiss(None)
        else:
            self._status(event.words, "$text-error")
            self.query_one("#export-go", Button).disabled = False
