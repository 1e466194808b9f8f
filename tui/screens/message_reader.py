"""Reading one message: sanitized headers, the text body (HTML converted, nothing fetched) and
the attachments, any of which `s` saves to a file the user chooses.

The source is read and decoded in a thread (a message can be megabytes of MIME); the body is
shown in a read-only `TextArea`, which draws only the visible lines and lets the user select
and copy text, and never interprets markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tui.core.mail.attachments import SaveError, save_attachment
from tui.core.mail.render import RenderedMessage, render_message
from tui.core.storage.models import database_proxy
from tui.core.storage.queries import load_source
from tui.core.text import clean, human_bytes
from tui.screens.escape_keys import back_key
from tui.screens.message_dialogs import SaveAttachmentDialog
from tui.widgets.safe_text import safe_content

LOAD_GROUP = "reader-load"


@dataclass
class MessageLoaded(Message):
    """The load worker read and decoded the message."""

    raw: bytes
    rendered: RenderedMessage


@dataclass
class MessageLoadFailed(Message):
    """The message could not be read or decoded."""

    error: Exception


def default_download_dir() -> Path:
    """~/Downloads when it exists, else the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class MessageReaderScreen(Screen[None]):
    """One message, read-only; escape goes back to the list."""

    DEFAULT_CSS = """
    MessageReaderScreen #reader {
        height: 1fr;
    }
    MessageReaderScreen #reader-headers {
        height: auto;
        max-height: 10;
        padding: 0 1;
        background: $boost;
    }
    MessageReaderScreen #reader-problem {
        display: none;
        padding: 0 1;
        color: $text-warning;
    }
    MessageReaderScreen #reader-attachments-title {
        display: none;
        padding: 0 1;
        color: $text-muted;
    }
    MessageReaderScreen #reader-attachments {
        display: none;
        height: auto;
        max-height: 6;
        border: none;
        padding: 0 1;
    }
    MessageReaderScreen #reader-problem.-shown,
    MessageReaderScreen #reader-attachments-title.-shown,
    MessageReaderScreen #reader-attachments.-shown {
        display: block;
    }
    MessageReaderScreen #reader-body {
        height: 1fr;
        border: none;
        border-top: hkey $panel;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding(
            "s",
            "save_attachment",
            "Save attachment",
            id="reader-save-attachment",
            tooltip="Save the highlighted attachment to a file",
        ),
        Binding(
            "a",
            "focus_attachments",
            "Attachments",
            id="reader-attachments",
            tooltip="Move to the list of attachments",
            show=False,
        ),
        back_key("reader-back", "Back to the message list"),
    ]

    def __init__(self, message_id: int, *, download_dir: Path | None = None) -> None:
        super().__init__()
        self.message_id = message_id
        self._download_dir = download_dir
        self._raw: bytes | None = None
        self.rendered: RenderedMessage | None = None
        self.saved: list[Path] = []
        """Files saved from this screen (tests and the app may read it)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="reader"):
            yield Static(Content("Loading…"), id="reader-headers")
            yield Static(id="reader-problem")
            yield Static(
                "Attachments: s saves the highlighted one (a to move here)",
                id="reader-attachments-title",
            )
            yield OptionList(id="reader-attachments")
            yield TextArea(
                "",
                read_only=True,
                soft_wrap=True,
                show_line_numbers=False,
                highlight_cursor_line=False,
                id="reader-body",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Message"
        self.query_one("#reader-body", TextArea).focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group=LOAD_GROUP)
    def load(self) -> None:
        outcome: Message
        try:
            with database_proxy.connection_context():
                raw = load_source(self.message_id)
            outcome = MessageLoaded(raw, render_message(raw))
        except Exception as error:  # a gone message or a database error: said, not crashed on
            outcome = MessageLoadFailed(error)
        if not get_current_worker().is_cancelled:
            self.post_message(outcome)

    @on(MessageLoadFailed)
    def _load_failed(self, failed: MessageLoadFailed) -> None:
        self.query_one("#reader-headers", Static).update(
            safe_content(f"This message cannot be shown: {failed.error}")
        )

    @on(MessageLoaded)
    def _show(self, loaded: MessageLoaded) -> None:
        self._raw = loaded.raw
        self.rendered = rendered = loaded.rendered
        subject = rendered.header("Subject")
        self.sub_title = f"Message · {clean(subject)}" if subject else "Message"
        lines = []
        for header in rendered.headers:
            lines.append(Content.assemble((f"{header.name + ':':<9}", "dim"), clean(header.value)))
        self.query_one("#reader-headers", Static).update(Content("\n").join(lines))

        notes = []
        if rendered.problem:
            notes.append(rendered.problem)
        if rendered.body_type == "text/html":
            notes.append("Converted from HTML; nothing was loaded from the internet.")
        if rendered.truncated:
            notes.append("The body is too long to show whole; save the message to read all.")
        problem = self.query_one("#reader-problem", Static)
        problem.update(safe_content(" ".join(notes)))
        problem.set_class(bool(notes), "-shown")

        attachments = self.query_one("#reader-attachments", OptionList)
        attachments.clear_options()
        for info in rendered.attachments:
            label = Content.assemble(
                f"{info.index + 1}. ",
                (clean(info.filename), "bold"),
                (f"  {clean(info.content_type)}  {human_bytes(info.size, short=True)}", "dim"),
            )
            attachments.add_option(Option(label, id=str(info.index)))
        attachments.set_class(bool(rendered.attachments), "-shown")
        title = self.query_one("#reader-attachments-title", Static)
        title.set_class(bool(rendered.attachments), "-shown")
        if rendered.attachments:
            attachments.highlighted = 0

        body = rendered.body if rendered.body.strip() else "(This message has no text.)"
        self.query_one("#reader-body", TextArea).load_text(body)

    # -------------------------------------------------------------- actions

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_focus_attachments(self) -> None:
        attachments = self.query_one("#reader-attachments", OptionList)
        if attachments.option_count:
            attachments.focus()

    @on(OptionList.OptionSelected, "#reader-attachments")
    def _attachment_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_save_attachment()

    def action_save_attachment(self) -> None:
        rendered = self.rendered
        if rendered is None or self._raw is None:
            return
        if not rendered.attachments:
            self.notify("This message has no attachments.", markup=False)
            return
        highlighted = self.query_one("#reader-attachments", OptionList).highlighted
        info = rendered.attachments[highlighted or 0]
        raw = self._raw

        def chosen(target: str | None) -> None:
            if target:
                self.save_to(raw, info.index, target)

        default = self._download_dir or default_download_dir()
        self.app.push_screen(SaveAttachmentDialog(info.filename, info.size, default), chosen)

    def save_to(self, raw: bytes, index: int, target: str) -> Path | None:
        """Save attachment `index` to `target` (a folder or a path); says how it went."""
        try:
            path = save_attachment(raw, index, target)
        except SaveError as error:
            self.notify(str(error), title="Attachment not saved", severity="error", markup=False)
            return None
        self.saved.append(path)
        self.notify(f"Saved {path}", markup=False)
        return path
