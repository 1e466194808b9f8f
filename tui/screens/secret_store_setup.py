"""Where passwords are kept, chosen inside the app: an encrypted file, password commands, or the
system keyring.

Over SSH the system keyring usually does not work; the app still starts (`tui.secret_store_start`),
holds an `UnavailableStore` carrying the advice, and shows `SecretStoreSetupScreen`. What each
option checks, and saving the choice, is `tui.core.secrets.opening`; this module is the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static
from textual.worker import get_current_worker

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.secrets import (
    EncryptedFileStore,
    SecretKind,
    SecretStore,
    SecretStoreError,
    StoreChoice,
    UnavailableStore,
    secret_id,
)
from tui.core.secrets.opening import (
    CommandMailbox,
    SecretStoreConfig,
    StoreRefusedError,
    StoreSwitch,
    switch_to_commands,
    switch_to_file,
    switch_to_keyring,
)
from tui.core.secrets.setup import saved_store_choice
from tui.core.text import clean
from tui.screens.escape_keys import close_key
from tui.screens.field_keys import field_focus_bindings
from tui.screens.passphrase_dialog import PassphraseDialog
from tui.services import Services
from tui.widgets.safe_text import safe_content
from tui.widgets.status_line import StatusLine

SETUP_GROUP = "secret-store-setup"
IN_APP_HINT = "To choose where passwords are kept: p on a mailbox, then Ctrl+L."

Option = Literal["file", "commands", "keyring"]
"""The setup screen's three options; each has its own status line, `#<option>-message`."""
OPTIONS: tuple[Option, ...] = ("file", "commands", "keyring")


class SecretStoreChanged(Message):
    """`Services.secrets` was replaced; screens showing where passwords are kept refresh."""

    bubble = False


def use_store(app: App[Any], services: Services, store: SecretStore) -> None:
    """Make `store` the one every screen uses from now on, and tell the screens."""
    services.secrets = store
    for screen in app.screen_stack:
        screen.post_message(SecretStoreChanged())


# ---------------------------------------------------------------------------------------------
# The setup screen.


@dataclass
class StoreSwitched(Message):
    """A setup worker checked a store and saved it as the choice."""

    switch: StoreSwitch


@dataclass
class StoreRefused(Message):
    """A setup worker found the option unusable; nothing was changed. `text` says why."""

    option: Option
    text: str


def _command_id(account_key: str, kind: SecretKind) -> str:
    return f"command-{kind.value}-{account_key}"


class SecretStoreSetupScreen(Screen[SecretStore | None]):
    """Explains the options and switches the store: encrypted file, password commands, keyring.

    Dismissed with the store now in use, or None when closed without a change.
    """

    SUB_TITLE = "Where passwords are kept"

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
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
        padding: 0 0 0 2;
        max-height: 12;
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
    """

    BINDINGS = [
        close_key("setup-close", "Go back; the password store stays as it is"),
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
        *field_focus_bindings("setup"),
    ]

    def __init__(self, services: Services, config: SecretStoreConfig, *, advice: str = "") -> None:
        super().__init__()
        self._services = services
        self._config = config
        self._advice = advice
        self._mailboxes: list[CommandMailbox] = []
        self._saved_commands: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        self._load_mailboxes()
        yield Header()
        with VerticalScroll(id="setup-body", classes="form-body"):
            yield Static(id="setup-current")
            yield Static(id="setup-advice")
            yield from self._section(
                "1  Encrypted file (works over SSH)",
                "Passwords are encrypted with a passphrase that poptui asks once per session.",
            )
            yield Horizontal(
                Label("File", classes="field-label"),
                Vertical(
                    Input(str(self._config.default_file()), id="file-path", compact=True),
                    classes="field-body",
                ),
                classes="field",
            )
            yield self._option_button("Use an encrypted file", "use_file", variant="primary")
            yield StatusLine(id="file-message", classes="option-message")
            yield from self._section(
                "2  Password commands",
                "poptui runs a command that prints the password, e.g. pass show mail/work. "
                "It cannot change those passwords: change them where the command reads them.",
            )
            yield from self._command_rows()
            yield StatusLine(id="commands-message", classes="option-message")
            yield from self._section(
                "3  System keyring",
                "Best on a desktop; over SSH there is usually no unlocked keyring to talk to. "
                "Setting PYTHON_KEYRING_BACKEND to a backend you trust also works.",
            )
            yield self._option_button("Try the keyring again", "try_keyring")
            yield StatusLine(id="keyring-message", classes="option-message")
        yield Footer()

    @staticmethod
    def _section(title: str, hint: str) -> ComposeResult:
        yield Static(title, classes="section-title")
        yield Static(hint, classes="option-hint")

    @staticmethod
    def _option_button(
        label: str, action: str, variant: Literal["default", "primary"] = "default"
    ) -> Button:
        return Button(
            label,
            variant,
            id=action.replace("_", "-"),
            compact=True,
            classes="option-button",
            action=f"screen.{action}",
        )

    def _load_mailboxes(self) -> None:
        self._mailboxes = [
            CommandMailbox(
                account.secret_key, account.name, bool(account.same_credentials_for_outgoing)
            )
            for account in self._services.accounts.list()
        ]
        try:
            choice = saved_store_choice(self._config.owner)
        except SecretStoreError:
            choice = None  # a broken saved setting is simply replaced by the next choice
        if choice is not None and choice.kind == "command":
            self._saved_commands = dict(choice.commands)

    def _command_rows(self) -> ComposeResult:
        if not self._mailboxes:
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
        for number, mailbox in enumerate(self._mailboxes):
            key = mailbox.account_key
            incoming = self._saved_commands.get(secret_id(key, SecretKind.INCOMING), "")
            outgoing = self._saved_commands.get(secret_id(key, SecretKind.OUTGOING), "")
            yield Horizontal(
                Label(safe_content(mailbox.name), classes="field-label"),
                Input(
                    incoming,
                    placeholder="e.g. pass show mail/work" if number == 0 else "",
                    id=_command_id(key, SecretKind.INCOMING),
                    compact=True,
                ),
                Input(
                    outgoing,
                    placeholder="same as incoming" if mailbox.same_credentials else "",
                    id=_command_id(key, SecretKind.OUTGOING),
                    compact=True,
                    disabled=mailbox.same_credentials,
                ),
                classes="command-row",
            )
        yield self._option_button("Use password commands", "use_commands")

    def on_mount(self) -> None:
        for option in OPTIONS:
            self.watch(self._status(option), "is_busy", self._lock_buttons, init=False)
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

    def _status(self, option: Option) -> StatusLine:
        return self.query_one(f"#{option}-message", StatusLine)

    @property
    def _busy(self) -> bool:
        return any(self._status(option).is_busy for option in OPTIONS)

    def _lock_buttons(self) -> None:
        busy = self._busy
        for button in self.query(Button):
            button.disabled = busy

    def _say(self, option: Option, text: str) -> None:
        """Show a problem under one option, and clear the others."""
        for each in OPTIONS:
            self._status(each).clear()
        if text:
            self._status(option).error(text)

    def _start(self, option: Option, text: str) -> None:
        self._say(option, "")
        self._status(option).busy(text)

    # ------------------------------------------------------------------ the options

    @on(Input.Submitted, "#file-path")
    def _file_submitted(self) -> None:
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

        def unlocked(store: SecretStore | None) -> None:
            if not isinstance(store, EncryptedFileStore):
                self._say("file", "No passphrase entered: the password store is unchanged.")
                return
            self._start("file", "Saving the choice…")
            self._switch("file", lambda _cancelled: switch_to_file(self._config, store))

        creating = not EncryptedFileStore.exists(path)
        self.app.push_screen(PassphraseDialog(path, creating=creating), unlocked)

    @on(Input.Submitted, ".command-row Input")
    def _command_submitted(self) -> None:
        self.action_use_commands()

    def _typed_commands(self) -> StoreChoice | None:
        choice = StoreChoice("command")
        for mailbox in self._mailboxes:
            for kind in SecretKind:
                if kind is SecretKind.OUTGOING and mailbox.same_credentials:
                    continue
                field = self.query_one(f"#{_command_id(mailbox.account_key, kind)}", Input)
                if not field.value.strip():
                    continue
                try:
                    choice = choice.with_command(mailbox.account_key, kind, field.value)
                except SecretStoreError as error:
                    self._say("commands", f"{mailbox.name}, {kind.value}: {error}")
                    return None
        if not choice.commands:
            self._say("commands", "Type at least one command, e.g. pass show mail/work.")
            return None
        return choice

    def action_use_commands(self) -> None:
        if self._busy:
            return
        if not self._mailboxes:
            self._say("commands", "Add a mailbox first: commands are set per mailbox.")
            return
        choice = self._typed_commands()
        if choice is None:
            return
        self._start("commands", "Running each command once to check it…")
        self._switch(
            "commands", partial(switch_to_commands, self._config, choice, list(self._mailboxes))
        )

    def action_try_keyring(self) -> None:
        if self._busy:
            return
        self._start("keyring", "Checking the system keyring…")
        self._switch("keyring", partial(switch_to_keyring, self._config))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=SETUP_GROUP,
        description="check and save the password store",
    )
    def _switch(
        self, option: Option, attempt: Callable[[Callable[[], bool]], StoreSwitch | None]
    ) -> None:
        """In a thread: check the option and save it (`tui.core.secrets.opening`); say how."""
        worker = get_current_worker()
        try:
            switch = attempt(lambda: worker.is_cancelled)
        except StoreRefusedError as error:
            self.post_message(StoreRefused(option, str(error)))
        except Exception as error:
            text = str(error) if isinstance(error, SecretStoreError) else type(error).__name__
            self.post_message(StoreRefused(option, f"Nothing changed: {text}"))
        else:
            if switch is None or worker.is_cancelled:
                self.post_message(StoreRefused(option, "Stopped."))
            else:
                self.post_message(StoreSwitched(switch))

    @on(StoreSwitched)
    def _switched(self, message: StoreSwitched) -> None:
        for option in OPTIONS:
            self._status(option).clear()
        use_store(self.app, self._services, message.switch.store)
        self.app.notify(clean(message.switch.message), markup=False)
        self.dismiss(message.switch.store)

    @on(StoreRefused)
    def _refused(self, message: StoreRefused) -> None:
        self._say(message.option, message.text)

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
