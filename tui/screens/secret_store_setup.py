"""Where passwords are kept, chosen inside the app: an encrypted file, password commands, or the
system keyring. Also opens the configured store when the app starts, off the UI thread.

Over SSH the system keyring usually does not work; the app still starts, holds an
`UnavailableStore` carrying the advice, and shows `SecretStoreSetupScreen`. The encrypted
file's passphrase is asked in `PassphraseDialog` (never with getpass). The choice, never a
password, is saved with `save_choice`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.secrets import (
    ALTERNATIVES,
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_PROBE_TIMEOUT,
    EncryptedFileStore,
    KeyringHealth,
    KeyringProblem,
    KeyringStore,
    PasswordCommandStore,
    PendingStore,
    SecretKind,
    SecretStore,
    SecretStoreError,
    StoreChoice,
    UnavailableStore,
    WrongPassphraseError,
    default_encrypted_file_path,
    open_store,
    parse_secret_id,
    probe_keyring,
    secret_id,
)
from tui.core.secrets.setup import (
    PASSPHRASE_ENV,
    passphrase_from_environment,
    save_store_choice,
    saved_store_choice,
)
from tui.core.storage.models import database_proxy
from tui.core.text import clean
from tui.services import Services
from tui.widgets.safe_text import safe_content

START_GROUP = "secret-store-start"
SETUP_GROUP = "secret-store-setup"
PASSPHRASE_GROUP = "secret-store-passphrase"

OPENING_ADVICE = (
    "poptui is still opening the password store (checking the system keyring); "
    "try again in a moment."
)
IN_APP_HINT = "To choose where passwords are kept: p on a mailbox, then Ctrl+L."
PROBE_GRACE_S = 2.0
"""Waited beyond the probe's own timeout before giving up on it."""


def _without_alternatives(advice: str) -> str:
    """The probe's advice without its list of alternatives: the setup screen shows them."""
    return advice.replace(f" Choose one: {ALTERNATIVES}", "").strip()


@dataclass(frozen=True)
class SecretStoreConfig:
    """How the app opens and offers secret stores; tests inject the probe and the file path."""

    owner: str | None = None
    """Whose choice is saved (the account store's owner)."""
    probe: Callable[[], KeyringHealth] = probe_keyring
    """Finds out whether the system keyring really keeps passwords (blocking, in a worker)."""
    encrypted_file: Path | None = None
    """The encrypted file offered by default; None means `default_encrypted_file_path()`."""
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT + PROBE_GRACE_S
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    def default_file(self) -> Path:
        return self.encrypted_file or default_encrypted_file_path()

    def file_of(self, choice: StoreChoice) -> Path:
        return Path(choice.path).expanduser() if choice.path else self.default_file()

    def choice_for_file(self, path: Path) -> StoreChoice:
        """The choice to save: no path when it is the default one, so the default can move."""
        default = path == default_encrypted_file_path()
        return StoreChoice("cryptfile", path=None if default else str(path))


class SecretStoreChanged(Message):
    """`Services.secrets` was replaced; screens showing where passwords are kept refresh."""

    bubble = False


def use_store(app: App[Any], services: Services, store: SecretStore) -> None:
    """Make `store` the one every screen uses from now on, and tell the screens."""
    services.secrets = store
    for screen in app.screen_stack:
        screen.post_message(SecretStoreChanged())


def probe_within(probe: Callable[[], KeyringHealth], timeout: float) -> KeyringHealth | None:
    """Run `probe` in a daemon thread; None when the calling worker was cancelled meanwhile.

    A daemon thread, polled, so neither a probe that never returns nor quitting the app while
    it runs can hang the worker: the thread is left behind and HANGING is reported instead.
    """
    box: list[KeyringHealth] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append(probe())
        except Exception as error:  # the probe is meant not to raise; say so if it does
            advice = f"The keyring check failed ({type(error).__name__})."
            box.append(KeyringHealth(KeyringProblem.ERROR, "", advice))
        finally:
            done.set()

    threading.Thread(target=target, name="poptui-keyring-probe", daemon=True).start()
    worker = get_current_worker()
    deadline = time.monotonic() + timeout
    while not done.wait(0.05):
        if worker.is_cancelled:
            return None
        if time.monotonic() > deadline:
            return KeyringHealth(
                KeyringProblem.HANGING,
                "",
                f"The system keyring did not answer within {timeout:g} s. It is probably locked "
                "and waiting for an unlock prompt on a desktop you cannot see, which is common "
                "over SSH.",
            )
    return box[0]


# ---------------------------------------------------------------------------------------------
# Opening the configured store when the app starts.


@dataclass(frozen=True)
class _StartOutcome:
    store: SecretStore | None = None
    advice: str = ""
    """Set when nothing usable is configured: why, for the setup screen."""
    passphrase_file: Path | None = None
    """Set when the encrypted file is chosen and its passphrase must be asked."""
    creating: bool = False
    problem: str = ""
    """Shown in the passphrase dialog (the environment's passphrase did not open the file)."""


def _open_configured(config: SecretStoreConfig) -> _StartOutcome:
    """In a thread: the saved choice, then the store it names (probing the keyring first)."""
    try:
        with database_proxy.connection_context():
            choice = saved_store_choice(config.owner)
    except SecretStoreError as error:
        return _StartOutcome(advice=str(error))
    if choice is None or choice.kind == "keyring":
        health = probe_within(config.probe, config.probe_timeout)
        if health is None:
            return _StartOutcome(advice="The keyring check was stopped.")
        if not health.usable:
            return _StartOutcome(advice=_without_alternatives(health.advice))
        try:
            return _StartOutcome(store=KeyringStore(health.backend))
        except SecretStoreError as error:
            return _StartOutcome(advice=_without_alternatives(str(error)))
    if choice.kind == "cryptfile":
        path = config.file_of(choice)
        creating = not EncryptedFileStore.exists(path)
        from_env = passphrase_from_environment()
        if from_env and not creating:
            try:
                store = EncryptedFileStore(path, from_env)
                store.unlock()
            except SecretStoreError as error:
                problem = f"{error} (the passphrase came from {PASSPHRASE_ENV})"
                return _StartOutcome(passphrase_file=path, creating=creating, problem=problem)
            return _StartOutcome(store=store)
        return _StartOutcome(passphrase_file=path, creating=creating)
    try:
        return _StartOutcome(store=open_store(choice, command_timeout=config.command_timeout))
    except SecretStoreError as error:
        return _StartOutcome(advice=str(error))


def open_store_at_start(app: App[Any], services: Services, config: SecretStoreConfig) -> None:
    """Open the configured store in a thread worker on `app`; the UI runs on meanwhile.

    Until it is open `services.secrets` is an `UnavailableStore` saying so. Afterwards: the
    store is used; or the passphrase dialog asks for the encrypted file's passphrase; or
    (no usable keyring) a notification and the setup screen say what to do.
    """
    pending = PendingStore(OPENING_ADVICE, config.probe_timeout)
    services.secrets = pending

    def run() -> None:
        try:
            outcome = _open_configured(config)
        except Exception as error:  # e.g. the database: say so rather than wait forever
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            outcome = _StartOutcome(advice=f"The password store could not be opened ({reason}).")
        if get_current_worker().is_cancelled:
            return
        try:
            app.call_from_thread(_opened_at_start, app, services, config, outcome, pending)
        except RuntimeError:  # the app is already gone
            return

    app.run_worker(
        run, name="open-secret-store", group=START_GROUP, thread=True, exit_on_error=False
    )


def _opened_at_start(
    app: App[Any],
    services: Services,
    config: SecretStoreConfig,
    outcome: _StartOutcome,
    pending: PendingStore,
) -> None:
    if outcome.store is not None:
        pending.settle(outcome.store)
        use_store(app, services, outcome.store)
        return
    path = outcome.passphrase_file
    if path is not None:
        locked = UnavailableStore(_locked_advice(path))
        pending.settle(locked)
        services.secrets = locked

        def unlocked(store: SecretStore | None) -> None:
            if store is None:
                app.notify(
                    f"The password file stays locked: {IN_APP_HINT}",
                    markup=False,
                    severity="warning",
                )
                return
            use_store(app, services, store)
            app.notify(f"Passwords unlocked ({clean(store.describe())}).", markup=False)

        dialog = PassphraseDialog(path, creating=outcome.creating, problem=outcome.problem)
        app.push_screen(dialog, unlocked)
        return
    unavailable = UnavailableStore(f"{outcome.advice} {IN_APP_HINT}")
    pending.settle(unavailable)
    services.secrets = unavailable
    app.notify(
        f"{clean(outcome.advice)} Choose where poptui keeps passwords.",
        title="No password store",
        markup=False,
        severity="warning",
        timeout=8,
    )
    app.push_screen(SecretStoreSetupScreen(services, config, advice=outcome.advice))


def _locked_advice(path: Path) -> str:
    return (
        f"The encrypted password file {clean(str(path))} is locked: its passphrase was not "
        f"entered. {IN_APP_HINT}"
    )


# ---------------------------------------------------------------------------------------------
# The passphrase dialog.


class PassphraseDialog(ModalScreen[SecretStore | None]):
    """Asks the encrypted file's passphrase (twice for a new file) and unlocks it in a worker.

    Returns the unlocked store, or None when cancelled. A wrong passphrase is said inline and
    the user tries again; the passphrase is never shown, stored or logged.
    """

    DEFAULT_CSS = """
    PassphraseDialog {
        align: center middle;
    }
    #passphrase-dialog {
        border: thick $accent;
    }
    #passphrase-dialog .field {
        max-width: 100%;
    }
    #passphrase-text {
        margin: 1 0;
    }
    #passphrase-message {
        height: auto;
        display: none;
        margin-top: 1;
    }
    #passphrase-status {
        height: 1;
        display: none;
    }
    #passphrase-spinner {
        width: 4;
        height: 1;
        min-height: 1;
        background: transparent;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="passphrase-cancel",
            tooltip="Leave the password file locked",
        ),
    ]

    def __init__(self, path: Path, *, creating: bool, problem: str = "") -> None:
        super().__init__()
        self._path = path
        self._creating = creating
        self._problem = problem
        self._busy = False

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
            action = "Create"
        else:
            title = "Unlock the password file"
            text = Content.assemble(
                "Passwords are kept in ",
                (where, "bold"),
                ". Enter its passphrase to use them in this session.",
            )
            action = "Unlock"
        with Vertical(id="passphrase-dialog", classes="dialog"):
            yield Static(title, classes="dialog-title")
            yield Static(text, id="passphrase-text")
            yield self._field("Passphrase", "passphrase")
            if self._creating:
                yield self._field("Again", "passphrase-again")
            yield Static(id="passphrase-message")
            with Horizontal(id="passphrase-status"):
                yield LoadingIndicator(id="passphrase-spinner")
                yield Static(id="passphrase-status-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{action} (Enter)", id="unlock", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    @staticmethod
    def _field(label: str, widget_id: str) -> Horizontal:
        return Horizontal(
            Label(label, classes="field-label"),
            Vertical(Input(password=True, id=widget_id, compact=True), classes="field-body"),
            classes="field",
        )

    def on_mount(self) -> None:
        if self._problem:
            self._say(self._problem)
        self.query_one("#passphrase", Input).focus()

    def _say(self, text: str) -> None:
        message = self.query_one("#passphrase-message", Static)
        message.update(
            Content.assemble(("✗ ", "bold"), clean(text, multiline=True)).stylize("$text-error")
        )
        message.display = bool(text)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        status = self.query_one("#passphrase-status")
        status.display = busy
        if busy:
            text = "Creating the file…" if self._creating else "Unlocking…"
            self.query_one("#passphrase-status-text", Static).update(text)
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
    @on(Button.Pressed, "#unlock")
    def _submitted(self) -> None:
        self.action_unlock()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, PASSPHRASE_GROUP)
        self.dismiss(None)

    def action_unlock(self) -> None:
        if self._busy:
            return
        first = self.query_one("#passphrase", Input)
        if not first.value.strip():
            self._say("Enter the passphrase.")
            first.focus()
            return
        if self._creating:
            again = self.query_one("#passphrase-again", Input)
            if again.value != first.value:
                self._say("The two passphrases differ: type the same passphrase twice.")
                again.value = ""
                again.focus()
                return
        self._say("")
        self._set_busy(True)
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
    def _unlock(self, passphrase: str) -> EncryptedFileStore | None:
        store = EncryptedFileStore(self._path, passphrase)
        del passphrase
        store.unlock()
        return None if get_current_worker().is_cancelled else store

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != PASSPHRASE_GROUP:
            return
        if event.state is WorkerState.SUCCESS:
            store = event.worker.result
            if isinstance(store, EncryptedFileStore):
                self.dismiss(store)
            else:
                self._set_busy(False)
        elif event.state is WorkerState.ERROR:
            self._set_busy(False)
            error = event.worker.error
            first = self.query_one("#passphrase", Input)
            if isinstance(error, WrongPassphraseError):
                self._say(f"{error} Try again.")
            elif isinstance(error, SecretStoreError):
                self._say(str(error))
            else:
                self._say(f"The password file could not be opened ({type(error).__name__}).")
            first.value = ""
            for field in self.query(Input):
                field.value = ""
            first.focus()


# ---------------------------------------------------------------------------------------------
# The setup screen.


@dataclass(frozen=True)
class _CommandRow:
    """One mailbox's password-command fields."""

    account_key: str
    name: str
    same_credentials: bool


@dataclass(frozen=True)
class _Adopted:
    """A worker's success: the store to use from now on."""

    store: SecretStore
    message: str


@dataclass(frozen=True)
class _Refused:
    """A worker's failure, worded for the user; nothing was changed."""

    message: str


def _command_id(account_key: str, kind: SecretKind) -> str:
    return f"command-{kind.value}-{account_key}"


class SecretStoreSetupScreen(Screen[SecretStore | None]):
    """Explains the options and switches the store: encrypted file, password commands, keyring.

    Dismissed with the store now in use, or None when closed without a change.
    """

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
    #setup-body {
        height: 1fr;
        padding: 0 1;
        scrollbar-gutter: stable;
    }
    #setup-current {
        margin-bottom: 1;
    }
    #setup-advice {
        color: $text-warning;
        margin-bottom: 1;
    }
    .option-hint {
        color: $text-muted;
        padding-left: 2;
        max-width: 100;
    }
    .option-button {
        margin: 0 0 0 2;
    }
    .option-message {
        display: none;
        height: auto;
        padding-left: 2;
    }
    .command-row {
        height: auto;
        max-width: 100;
        padding-left: 2;
    }
    .command-row .field-label {
        width: 16;
        color: $text-muted;
    }
    .command-row Input {
        width: 1fr;
        margin-right: 1;
    }
    #command-columns {
        height: 1;
        padding-left: 18;
        color: $text-muted;
        max-width: 100;
    }
    #command-columns Static {
        width: 1fr;
    }
    #setup-status {
        height: auto;
        max-height: 3;
        padding: 0 1;
        display: none;
    }
    #setup-spinner {
        width: 4;
        height: 1;
        min-height: 1;
        background: transparent;
    }
    #setup-status-text {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "close",
            "Close",
            id="setup-close",
            tooltip="Go back; the password store stays as it is",
        ),
        Binding(
            "ctrl+f",
            "use_file",
            "Encrypted file",
            id="setup-use-file",
            tooltip="Keep passwords in an encrypted file (passphrase asked once per session)",
        ),
        Binding(
            "ctrl+r",
            "use_commands",
            "Commands",
            id="setup-use-commands",
            tooltip="Read passwords from commands such as `pass show mail/work`",
        ),
        Binding(
            "ctrl+y",
            "try_keyring",
            "Keyring",
            id="setup-try-keyring",
            tooltip="Check the system keyring again and use it if it works",
        ),
        Binding(
            "tab",
            "app.focus_next",
            "Next field",
            id="setup-next-field",
            show=False,
            priority=True,
        ),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="setup-previous-field",
            show=False,
            priority=True,
        ),
    ]

    def __init__(self, services: Services, config: SecretStoreConfig, *, advice: str = "") -> None:
        super().__init__()
        self._services = services
        self._config = config
        self._advice = advice
        self._busy = False
        self._rows: list[_CommandRow] = []
        self._saved_commands: dict[str, str] = {}
        self.sub_title = "Where passwords are kept"

    def compose(self) -> ComposeResult:
        self._load_rows()
        yield Header()
        with VerticalScroll(id="setup-body"):
            yield Static(id="setup-current")
            yield Static(id="setup-advice")
            yield Static("1  Encrypted file (works over SSH)", classes="section-title")
            yield Static(
                "Passwords are encrypted with a passphrase that poptui asks once per session.",
                classes="option-hint",
            )
            yield Horizontal(
                Label("File", classes="field-label"),
                Vertical(
                    Input(str(self._config.default_file()), id="file-path", compact=True),
                    classes="field-body",
                ),
                classes="field",
            )
            yield Button(
                "Use an encrypted file",
                id="use-file",
                variant="primary",
                compact=True,
                classes="option-button",
            )
            yield Static(id="file-message", classes="option-message")
            yield Static("2  Password commands", classes="section-title")
            yield Static(
                "poptui runs a command that prints the password, e.g. pass show mail/work. "
                "It cannot change those passwords: change them where the command reads them.",
                classes="option-hint",
            )
            yield from self._command_rows()
            yield Static(id="commands-message", classes="option-message")
            yield Static("3  System keyring", classes="section-title")
            yield Static(
                "Best on a desktop; over SSH there is usually no unlocked keyring to talk to. "
                "Setting PYTHON_KEYRING_BACKEND to a backend you trust also works.",
                classes="option-hint",
            )
            yield Button(
                "Try the keyring again", id="try-keyring", compact=True, classes="option-button"
            )
            yield Static(id="keyring-message", classes="option-message")
        with Horizontal(id="setup-status"):
            yield LoadingIndicator(id="setup-spinner")
            yield Static(id="setup-status-text")
        yield Footer()

    def _load_rows(self) -> None:
        rows: list[_CommandRow] = []
        for account in self._services.accounts.list():
            same = bool(account.same_credentials_for_outgoing)
            rows.append(_CommandRow(account.secret_key, account.name, same))
        self._rows = rows
        try:
            choice = saved_store_choice(self._config.owner)
        except SecretStoreError:
            choice = None  # a broken saved setting is simply replaced by the next choice
        if choice is not None and choice.kind == "command":
            self._saved_commands = dict(choice.commands)

    def _command_rows(self) -> ComposeResult:
        if not self._rows:
            yield Static(
                "No mailboxes yet: add one first (a on the mailbox list), then come back here.",
                classes="option-hint",
            )
            return
        yield Horizontal(
            Static("Incoming (POP3) command"),
            Static("Outgoing (SMTP) command"),
            id="command-columns",
        )
        for number, row in enumerate(self._rows):
            incoming = self._saved_commands.get(secret_id(row.account_key, SecretKind.INCOMING), "")
            outgoing = self._saved_commands.get(secret_id(row.account_key, SecretKind.OUTGOING), "")
            outgoing_input = Input(
                outgoing,
                placeholder="same as incoming" if row.same_credentials else "",
                id=_command_id(row.account_key, SecretKind.OUTGOING),
                compact=True,
                disabled=row.same_credentials,
            )
            yield Horizontal(
                Label(safe_content(row.name), classes="field-label"),
                Input(
                    incoming,
                    placeholder="e.g. pass show mail/work" if number == 0 else "",
                    id=_command_id(row.account_key, SecretKind.INCOMING),
                    compact=True,
                ),
                outgoing_input,
                classes="command-row",
            )
        yield Button(
            "Use password commands", id="use-commands", compact=True, classes="option-button"
        )

    def on_mount(self) -> None:
        self._show_current()
        self.query_one("#file-path", Input).focus()

    def _show_current(self) -> None:
        store = self._services.secrets
        current = self.query_one("#setup-current", Static)
        if isinstance(store, UnavailableStore):
            current.update(
                Content.assemble(("Now: ", "bold"), "no password store is open.").stylize(
                    "$text-warning"
                )
            )
        else:
            current.update(Content.assemble(("Now: ", "bold"), clean(store.describe())))
        advice = self.query_one("#setup-advice", Static)
        advice.update(safe_content(self._advice, multiline=True))
        advice.display = bool(self._advice)

    def on_secret_store_changed(self, _: SecretStoreChanged) -> None:
        self._show_current()

    # ------------------------------------------------------------------ status

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.query_one("#setup-status").display = busy
        self.query_one("#setup-status-text", Static).update(text)
        for button in self.query(Button):
            button.disabled = busy

    def _say(self, where: str, text: str) -> None:
        """Show a problem under one option (`where`: file, commands or keyring), hide the rest."""
        for name in ("file", "commands", "keyring"):
            widget = self.query_one(f"#{name}-message", Static)
            shown = text if name == where else ""
            widget.update(
                Content.assemble(("✗ ", "bold"), clean(shown, multiline=True)).stylize(
                    "$text-error"
                )
            )
            widget.display = bool(shown)

    # ------------------------------------------------------------------ option 1: the file

    @on(Button.Pressed, "#use-file")
    @on(Input.Submitted, "#file-path")
    def _file_chosen(self) -> None:
        self.action_use_file()

    def action_use_file(self) -> None:
        if self._busy:
            return
        text = self.query_one("#file-path", Input).value.strip()
        if not text:
            self._say("file", "Enter where the file is (or should be created).")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            self._say("file", f"{path} is a directory: name a file in it, e.g. secrets.cfg.")
            return
        self._say("file", "")
        creating = not EncryptedFileStore.exists(path)

        def unlocked(store: SecretStore | None) -> None:
            if store is None:
                self._say("file", "No passphrase entered: the password store is unchanged.")
                return
            self._set_busy(True, "Saving the choice…")
            self._adopt(self._config.choice_for_file(path), store)

        self.app.push_screen(PassphraseDialog(path, creating=creating), unlocked)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=SETUP_GROUP,
        description="save the password store choice",
    )
    def _adopt(self, choice: StoreChoice, store: SecretStore) -> _Adopted:
        with database_proxy.connection_context():
            save_store_choice(choice, self._config.owner)
        return _Adopted(store, f"Passwords are now kept in the {store.describe()}.")

    # ------------------------------------------------------------------ option 2: commands

    @on(Button.Pressed, "#use-commands")
    @on(Input.Submitted, ".command-row Input")
    def _commands_chosen(self) -> None:
        self.action_use_commands()

    def _typed_commands(self) -> StoreChoice | None:
        choice = StoreChoice("command")
        for row in self._rows:
            for kind in SecretKind:
                if kind is SecretKind.OUTGOING and row.same_credentials:
                    continue
                text = self.query_one(f"#{_command_id(row.account_key, kind)}", Input).value
                if not text.strip():
                    continue
                try:
                    choice = choice.with_command(row.account_key, kind, text)
                except SecretStoreError as error:
                    self._say("commands", f"{row.name}, {kind.value}: {error}")
                    return None
        if not choice.commands:
            self._say("commands", "Type at least one command, e.g. pass show mail/work.")
            return None
        return choice

    def action_use_commands(self) -> None:
        if self._busy:
            return
        if not self._rows:
            self._say("commands", "Add a mailbox first: commands are set per mailbox.")
            return
        choice = self._typed_commands()
        if choice is None:
            return
        self._say("commands", "")
        self._set_busy(True, "Running each command once to check it…")
        self._check_commands(choice, list(self._rows))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=SETUP_GROUP,
        description="check the password commands",
    )
    def _check_commands(self, choice: StoreChoice, rows: list[_CommandRow]) -> _Adopted | _Refused:
        commands = {parse_secret_id(key): text for key, text in choice.commands.items()}
        store = PasswordCommandStore(commands, timeout=self._config.command_timeout)
        missing: list[str] = []
        for row in rows:
            for kind in SecretKind:
                if get_current_worker().is_cancelled:
                    return _Refused("Stopped.")
                if store.command_for(row.account_key, kind) is None:
                    if kind is SecretKind.INCOMING:
                        missing.append(row.name)
                    continue
                try:
                    store.get(row.account_key, kind)  # the password itself is dropped at once
                except SecretStoreError as error:
                    return _Refused(f"{row.name}: {error}")
        with database_proxy.connection_context():
            save_store_choice(choice, self._config.owner)
        message = "Passwords now come from the commands; each one printed a password."
        if missing:
            message += f" No command yet for: {', '.join(missing)}."
        return _Adopted(store, message)

    # ------------------------------------------------------------------ option 3: the keyring

    @on(Button.Pressed, "#try-keyring")
    def _keyring_chosen(self) -> None:
        self.action_try_keyring()

    def action_try_keyring(self) -> None:
        if self._busy:
            return
        self._say("keyring", "")
        self._set_busy(True, "Checking the system keyring…")
        self._probe_keyring()

    @work(thread=True, exclusive=True, exit_on_error=False, group=SETUP_GROUP)
    def _probe_keyring(self) -> _Adopted | _Refused:
        health = probe_within(self._config.probe, self._config.probe_timeout)
        if health is None:
            return _Refused("Stopped.")
        if not health.usable:
            return _Refused(_without_alternatives(health.advice))
        store = KeyringStore(health.backend)
        with database_proxy.connection_context():
            save_store_choice(StoreChoice("keyring"), self._config.owner)
        return _Adopted(store, f"Passwords are now kept in the {store.describe()}.")

    # ------------------------------------------------------------------ results

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != SETUP_GROUP:
            return
        where = {
            "_adopt": "file",
            "_check_commands": "commands",
            "_probe_keyring": "keyring",
        }.get(worker.name, "file")
        if event.state is WorkerState.SUCCESS:
            self._set_busy(False)
            result = worker.result
            if isinstance(result, _Adopted):
                use_store(self.app, self._services, result.store)
                self.app.notify(clean(result.message), markup=False)
                self.dismiss(result.store)
            elif isinstance(result, _Refused):
                self._say(where, result.message)
        elif event.state is WorkerState.ERROR:
            self._set_busy(False)
            error = worker.error
            text = str(error) if isinstance(error, SecretStoreError) else type(error).__name__
            self._say(where, f"Nothing changed: {text}")
        elif event.state is WorkerState.CANCELLED:
            self._set_busy(False)

    @on(Button.Pressed, "#close")
    def _close_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        self.workers.cancel_group(self, SETUP_GROUP)
        self.dismiss(None)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Use an encrypted file", self.action_use_file, "Passphrase asked once a session"
            ),
            PaletteCommand(
                "Use password commands", self.action_use_commands, "Such as pass show mail/work"
            ),
            PaletteCommand(
                "Try the keyring again", self.action_try_keyring, "Use it if it works now"
            ),
            PaletteCommand("Close", self.action_close, "Keep the password store as it is"),
        ]
