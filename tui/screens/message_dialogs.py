"""The small dialogs of the message browser and reader: confirm a delete here, pick a mailbox to
browse, choose where an attachment goes. They share one frame (`MessageDialog`).

Each returns its answer through `dismiss`; safe answers have the initial focus (Cancel), so a
stray Enter never deletes. Subjects, names and file names are untrusted and shown as `Content`.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.core.storage.models import Account
from tui.core.storage.queries import MessageRow
from tui.core.text import clean, human_bytes
from tui.screens.dialogs import AnswerType, CentredDialog
from tui.screens.escape_keys import cancel_key
from tui.widgets.action_button import action_button
from tui.widgets.message_list import display_sender


class MessageDialog(CentredDialog[AnswerType]):
    """Framed, with its buttons (if any) on the right of the last line.

    Its own frame rule, not app.tcss's `.dialog`: app CSS outranks a widget's DEFAULT_CSS, so
    `.dialog` would override each message dialog's own width and border.
    """

    DEFAULT_CSS = """
    MessageDialog {
        & > .message-dialog {
            width: 76;
            max-width: 100%;
            height: auto;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        .message-dialog-buttons {
            height: 1;
            margin-top: 1;
            align-horizontal: right;
            & > Button {
                margin-left: 2;
            }
        }
    }
    """


class ConfirmDeleteHereDialog(MessageDialog[bool]):
    """Asks before deleting a message here; says whether the server copy goes too."""

    DEFAULT_CSS = """
    ConfirmDeleteHereDialog {
        #delete-here-dialog {
            width: 72;
            border: thick $error;
        }
        #delete-here-text {
            margin-top: 1;
        }
    }
    """

    BINDINGS = [
        Binding(
            "y",
            "answer(True)",
            "Delete",
            id="delete-here-confirm",
            tooltip="Delete the message here",
        ),
        cancel_key(
            "delete-here-cancel", "Keep the message", action="answer(False)", keys="escape,n"
        ),
    ]

    def __init__(self, row: MessageRow, *, deletes_on_server: bool) -> None:
        super().__init__()
        self._row = row
        self._deletes_on_server = deletes_on_server

    def compose(self) -> ComposeResult:
        subject = clean(self._row.subject).strip() or "(no subject)"
        sender = display_sender(self._row.from_addr) or "unknown sender"
        consequence = (
            "This mailbox is set to delete from the server when deleted here: the server's "
            "copy is deleted at the next fetch."
            if self._deletes_on_server
            else "The copy on the server is not touched."
        )
        text = Content.assemble(
            "Delete ",
            (subject, "bold"),
            " from ",
            sender,
            " here? It leaves this list.\n",
            consequence,
        )
        with Vertical(id="delete-here-dialog", classes="message-dialog"):
            yield Static("Delete message", classes="dialog-title")
            yield Static(text, id="delete-here-text")
            with Horizontal(id="delete-here-buttons", classes="message-dialog-buttons"):
                yield action_button(
                    "Delete here (y)", "screen.answer(True)", id="delete-here", variant="error"
                )
                yield action_button(
                    "Cancel (Esc)", "screen.answer(False)", id="delete-cancel", variant="primary"
                )

    def on_mount(self) -> None:
        self.query_one("#delete-cancel", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class MailboxPickerDialog(MessageDialog[int | None]):
    """The user's mailboxes; Enter browses the highlighted one (it does not make it active)."""

    DEFAULT_CSS = """
    MailboxPickerDialog {
        #mailbox-picker {
            width: 64;
            max-height: 80%;
        }
        #mailbox-options {
            height: auto;
            max-height: 20;
            margin-top: 1;
        }
    }
    """

    BINDINGS = [
        cancel_key("mailbox-picker-cancel", "Keep browsing this mailbox", action="dismiss(None)"),
    ]

    def __init__(self, accounts: list[Account], current: int | None, viewer: str = "") -> None:
        super().__init__()
        self._accounts = accounts
        self._current = current
        self._viewer = viewer or (accounts[0].owner if accounts else "")

    def compose(self) -> ComposeResult:
        options = []
        for account in self._accounts:
            label = Content.assemble(
                (clean(account.name), "bold"),
                f"  <{clean(account.email)}>",
                (
                    "  ● active" if account.is_active and account.owner == self._viewer else "",
                    "$success",
                ),
                (
                    f"  shared by {clean(account.owner)}, read-only"
                    if account.owner != self._viewer
                    else "",
                    "$accent",
                ),
                ("  (shown)" if account.id == self._current else "", "dim"),
            )
            options.append(Option(label, id=str(account.id)))
        with Vertical(id="mailbox-picker", classes="message-dialog"):
            yield Static("Browse mailbox", classes="dialog-title")
            yield OptionList(*options, id="mailbox-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        for index, account in enumerate(self._accounts):
            if account.id == self._current:
                options.highlighted = index

    @on(OptionList.OptionSelected, "#mailbox-options")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.dismiss(int(event.option.id))


class SaveAttachmentDialog(MessageDialog[str | None]):
    """Asks where to save an attachment: a folder (the shown name is used) or a full path."""

    DEFAULT_CSS = """
    SaveAttachmentDialog #save-text {
        margin: 1 0;
    }
    """

    BINDINGS = [
        cancel_key("save-attachment-cancel", "Do not save", action="dismiss(None)"),
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
            f" ({human_bytes(self._byte_size, short=True)}) into this folder, or type a full "
            "path to choose the file name. An existing file is never replaced.",
        )
        with Vertical(id="save-dialog", classes="message-dialog"):
            yield Static("Save attachment", classes="dialog-title")
            yield Static(text, id="save-text")
            yield Input(value=str(self._default), id="save-path")
            with Horizontal(id="save-buttons", classes="message-dialog-buttons"):
                yield action_button("Save", "screen.save", id="save", variant="primary")
                yield action_button("Cancel (Esc)", "screen.dismiss(None)", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(Input.Submitted, "#save-path")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        self.dismiss(self.query_one("#save-path", Input).value.strip() or None)
