"""Reading one message: sanitized headers, the text body (HTML converted, nothing fetched) and
the attachments, any of which `s` saves to a file the user chooses.

The source is read and decoded in a thread (a message can be megabytes of MIME); the body is
shown in a read-only `TextArea`, which draws only the visible lines and lets the user select
and copy text, and never interprets markup.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from tui.core.mail.attachments import SaveError, save_attachment
from tui.core.mail.render import RenderedMessage, render_message
from tui.core.storage.models import database_proxy
from tui.core.storage.queries import load_source
from tui.core.text import clean
from tui.widgets.message_list import format_size
from tui.widgets.safe_text import safe_content

LOAD_GROUP = "reader-load"


def default_download_dir() -> Path:
    """~/Downloads when it exists, else the current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


class SaveAttachmentDialog(ModalScreen[str | None]):
    """Asks where to save an attachment: a folder (the shown name is used) or a full path."""

    DEFAULT_CSS = """
    SaveAttachmentDialog {
        align: center middle;
    }
    #save-dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    #save-text {
        margin: 1 0;
    }
    #save-buttons {
        height: 1;
        margin-top: 1;
        align-horizontal: right;
    }
    #save-buttons Button {
        margin-left: 2;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "dismiss(None)",
            "Cancel",
            id="save-attachment-cancel",
            tooltip="Do not save",
        ),
    ]

    def __init__(self, filename: str, size: int, default: Path) -> None:
        super().__init__()
        self._filename = filename
        self._byte_size = size
        self._default = default

    def compose(self) -> ComposeResult:
        text = Content.assemble(
            "Save ",
            (clean(self._filename), "bold"),
            f" ({format_size(self._byte_size)}) into this folder, or type a full path to choose "
            "the file name. An existing file is never replaced.",
        )
        with Vertical(id="save-dialog"):
            yield Static("Save attachment", classes="dialog-title")
            yield Static(text, id="save-text")
            yield Input(value=str(self._default), id="save-path")
            with Horizontal(id="save-buttons"):
                yield Button("Save", id="save", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="save-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._answer(event.value)

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self._answer(self.query_one("#save-path", Input).value)

    @on(Button.Pressed, "#save-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def _answer(self, value: str) -> None:
        self.dismiss(value.strip() or None)


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
        Binding(
            "escape,q",
            "back",
            "Back",
            id="reader-back",
            tooltip="Back to the message list",
        ),
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
        with database_proxy.connection_context():
            raw = load_source(self.message_id)
        rendered = render_message(raw)
        self.app.call_from_thread(self._show, raw, rendered)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == LOAD_GROUP and event.state is WorkerState.ERROR:
            self.query_one("#reader-headers", Static).update(
                safe_content(f"This message cannot be shown: {event.worker.error}")
            )

    def _show(self, raw: bytes, rendered: RenderedMessage) -> None:
        self._raw = raw
        self.rendered = rendered
        subject = rendered.header("Subject")
        self.sub_title = f"Message · {clean(subject)}" if subject else "Message"
        lines = []
        for header in rendered.headers:
            lines.append(
                Content.assemble((f"{header.name + ':':<9}", "dim"), clean(header.value))
            )
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
                (f"  {clean(info.content_type)}  {format_size(info.size)}", "dim"),
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
