"""The encrypted password file's passphrase, asked in a dialog (never with getpass, which would
write under the app's screen) and checked by unlocking the file in a thread worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from tui.core.secrets import EncryptedFileStore, SecretStore, SecretStoreError, WrongPassphraseError
from tui.core.text import clean
from tui.screens.dialogs import CentredDialog
from tui.screens.escape_keys import cancel_key
from tui.widgets.status_line import StatusLine

PASSPHRASE_GROUP = "secret-store-passphrase"


def unlock_failure_words(error: Exception) -> str:
    """What the dialog says when the file did not open; the user may try again."""
    if isinstance(error, WrongPassphraseError):
        return f"{error} Try again."
    if isinstance(error, SecretStoreError):
        return str(error)
    return f"The password file could not be opened ({type(error).__name__})."


class PassphraseDialog(CentredDialog[SecretStore | None]):
    """Asks the encrypted file's passphrase (twice for a new file) and unlocks it in a worker.

    Returns the unlocked store, or None when cancelled. A wrong passphrase is said inline and
    the user tries again; the passphrase is never shown, stored or logged.
    """

    DEFAULT_CSS = """
    #passphrase-text {
        margin: 1 0;
    }
    #passphrase-status {
        padding: 0;
        max-height: 12;
    }
    /* On the parts, not the line: an empty status line takes no room at all. */
    #passphrase-status > .status-text, #passphrase-status > LoadingIndicator {
        margin-top: 1;
    }
    """

    BINDINGS = [
        cancel_key("passphrase-cancel", "Leave the password file locked"),
    ]

    @dataclass
    class Unlocked(Message):
        """The worker opened the file with the passphrase typed."""

        store: EncryptedFileStore

    @dataclass
    class UnlockFailed(Message):
        """The worker could not open the file; `text` says why, for the user."""

        text: str

    def __init__(self, path: Path, *, creating: bool, problem: str = "") -> None:
        super().__init__()
        self._path = path
        self._creating = creating
        self._problem = problem

    def compose(self) -> ComposeResult:
        where = clean(str(self._path))
        if self._creating:
            title = "Create the encrypted password file"
            text = Content.assemble(
                "Passwords will be kept in ",
                (where, "bold"),
                ", encrypted with a passphrase of your choice. poptui asks it once per "
                "session and never stores it: if it is lost, so are the passwords in the file.",
            )
            verb = "Create"
        else:
            title = "Unlock the password file"
            text = Content.assemble(
                "Passwords are kept in ",
                (where, "bold"),
                ". Enter its passphrase to use them in this session.",
            )
            verb = "Unlock"
        with Vertical(id="passphrase-dialog", classes="dialog"):
            yield Static(title, classes="dialog-title")
            yield Static(text, id="passphrase-text")
            yield self._field("Passphrase", "passphrase")
            if self._creating:
                yield self._field("Again", "passphrase-again")
            yield StatusLine(id="passphrase-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    f"{verb} (Enter)",
                    id="unlock",
                    variant="primary",
                    compact=True,
                    action="screen.unlock",
                )
                yield Button("Cancel (Esc)", id="cancel", compact=True, action="screen.cancel")

    @staticmethod
    def _field(label: str, widget_id: str) -> Horizontal:
        return Horizontal(
            Label(label, classes="field-label"),
            Vertical(Input(password=True, id=widget_id, compact=True), classes="field-body"),
            classes="field",
        )

    @property
    def _status(self) -> StatusLine:
        return self.query_one("#passphrase-status", StatusLine)

    def on_mount(self) -> None:
        self.watch(self._status, "is_busy", self._lock_form)
        if self._problem:
            self._status.error(self._problem)
        self.query_one("#passphrase", Input).focus()

    def _lock_form(self, busy: bool) -> None:
        """Nothing to type or press while the file is being unlocked (except Cancel)."""
        self.query_one("#unlock", Button).disabled = busy
        for field in self.query(Input):
            field.disabled = busy

    @on(Input.Submitted, "#passphrase")
    def _first_submitted(self) -> None:
        if self._creating and not self.query_one("#passphrase-again", Input).value:
            self.query_one("#passphrase-again", Input).focus()
        else:
            self.action_unlock()

    @on(Input.Submitted, "#passphrase-again")
    def _again_submitted(self) -> None:
        self.action_unlock()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, PASSPHRASE_GROUP)
        self.dismiss(None)

    def action_unlock(self) -> None:
        if self._status.is_busy:
            return
        first = self.query_one("#passphrase", Input)
        if not first.value.strip():
            self._status.error("Enter the passphrase.")
            first.focus()
            return
        if self._creating:
            again = self.query_one("#passphrase-again", Input)
            if again.value != first.value:
                self._status.error("The two passphrases differ: type the same passphrase twice.")
                again.value = ""
                again.focus()
                return
        self._status.busy("Creating the file…" if self._creating else "Unlocking…")
        self._unlock(first.value)

    # A fixed description: Textual's default is the call with its arguments' reprs, which
    # would put the passphrase into worker logs.
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=PASSPHRASE_GROUP,
        description="unlock the encrypted password file",
    )
    def _unlock(self, passphrase: str) -> None:
        try:
            store = EncryptedFileStore(self._path, passphrase)
            del passphrase
            store.unlock()
        except Exception as error:
            self.post_message(self.UnlockFailed(unlock_failure_words(error)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Unlocked(store))

    @on(Unlocked)
    def _unlocked(self, message: Unlocked) -> None:
        self.dismiss(message.store)

    @on(UnlockFailed)
    def _unlock_failed(self, message: UnlockFailed) -> None:
        self._status.error(message.text)
        for field in self.query(Input):
            field.value = ""
        self.query_one("#passphrase", Input).focus()
