"""Changing a mailbox's passwords: incoming and outgoing separately, typed twice, masked.

"Verify and save" logs in with the new password first (the services' testers, in a thread
worker) and saves nothing when that fails, unless the user then saves anyway. A new incoming
password enables a mailbox that was disabled after too many failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.secrets import PasswordCommandStore, SecretStoreError, UnavailableStore
from tui.core.secrets.opening import SecretStoreConfig
from tui.core.storage.accounts import settings_of
from tui.core.storage.models import Account, database_proxy
from tui.core.storage.settings import AccountSettings
from tui.core.text import clean
from tui.messages import MailboxesChanged
from tui.screens.secret_store_setup import SecretStoreChanged, SecretStoreSetupScreen
from tui.services import SecretKind, Services, TestResult
from tui.widgets.safe_text import safe_content

WORKER_GROUP = "password-editor"
MISMATCH = "The two passwords differ: type the same password twice."


@dataclass(frozen=True)
class _Change:
    """The new passwords, handed to the worker; empty means "keep the stored one"."""

    incoming: str = field(default="", repr=False)
    outgoing: str = field(default="", repr=False)


@dataclass(frozen=True)
class _Rejected:
    """Verification failed: nothing was saved."""

    kind: SecretKind
    result: TestResult


@dataclass(frozen=True)
class _Saved:
    kinds: tuple[SecretKind, ...]
    verified: tuple[str, ...]
    """The testers' words for what was verified (empty when saved without verifying)."""
    enabled: bool
    """The mailbox was disabled and is enabled again."""
    problem: str = ""
    """Set when storing a password failed (after those in `kinds` were stored)."""


class PasswordEditorScreen(Screen[bool]):
    """The incoming and outgoing passwords of one mailbox; dismissed with True when saved."""

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
    #password-body {
        height: 1fr;
        padding: 0 1;
        scrollbar-gutter: stable;
    }
    #store-line {
        height: auto;
    }
    #store-problem, #disabled-banner {
        height: auto;
        max-width: 100;
        color: $text-warning;
        display: none;
        margin-top: 1;
    }
    .server-line {
        color: $text-muted;
        padding-left: 2;
    }
    #outgoing-same {
        color: $text-muted;
        padding-left: 2;
        max-width: 100;
        display: none;
    }
    #incoming-message, #outgoing-message {
        padding-left: 18;
    }
    #password-editor-hint {
        color: $text-muted;
        max-width: 100;
        margin-top: 1;
    }
    #password-status {
        height: auto;
        max-height: 4;
        padding: 0 1;
    }
    #verify-spinner {
        width: 4;
        height: 1;
        min-height: 1;
        background: transparent;
    }
    #verify-status {
        width: 1fr;
        height: auto;
        display: none;
    }
    #password-buttons {
        height: 1;
        padding: 0 1;
        margin-top: 1;
    }
    #password-buttons Button {
        margin-right: 2;
    }
    """

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="password-cancel",
            tooltip="Close; nothing is saved",
        ),
        Binding(
            "ctrl+t",
            "verify_and_save",
            "Verify & save",
            id="password-verify-save",
            tooltip="Log in with the new password and save it only if that works",
        ),
        Binding(
            "ctrl+o",
            "save_unverified",
            "Save only",
            id="password-save-unverified",
            tooltip="Save the new password without logging in first",
            show=False,
        ),
        Binding(
            "ctrl+l",
            "choose_store",
            "Password store",
            id="password-choose-store",
            tooltip="Where passwords are kept: encrypted file, password command or keyring",
        ),
        # Priority, like the account form: over SSH keys arrive in bursts, and text typed right
        # after a Tab must land in the next field.
        Binding(
            "tab",
            "app.focus_next",
            "Next field",
            id="password-next-field",
            show=False,
            priority=True,
        ),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="password-previous-field",
            show=False,
            priority=True,
        ),
    ]

    def __init__(
        self, services: Services, account: Account, *, store_setup: SecretStoreConfig
    ) -> None:
        super().__init__()
        self._services = services
        self._store_setup = store_setup
        self._account_id = int(account.id)
        self._name: str = account.name
        self._settings: AccountSettings = settings_of(account)
        self._disabled = bool(account.disabled)
        self._disabled_reason: str = account.disabled_reason or ""
        self._busy = False
        self._checked_again: set[SecretKind] = set()
        """Parts whose "again" field was left once: from then on a mismatch is shown live."""
        self.sub_title = f"Passwords of {clean(self._name)}"

    @property
    def outgoing_editable(self) -> bool:
        settings = self._settings
        return not settings.same_credentials_for_outgoing and bool(settings.outgoing_host)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        settings = self._settings
        yield Header()
        with VerticalScroll(id="password-body"):
            yield Static(id="store-line")
            yield Static(id="store-problem")
            yield Static(id="disabled-banner")
            yield Static("Incoming server (POP3)", classes="section-title")
            yield Static(
                self._server_line(
                    settings.incoming_host,
                    settings.incoming_port,
                    settings.incoming_security.label,
                    settings.username,
                ),
                classes="server-line",
            )
            yield from self._part(SecretKind.INCOMING)
            yield Static("Outgoing server (SMTP)", classes="section-title")
            if settings.outgoing_host:
                yield Static(
                    self._server_line(
                        settings.outgoing_host,
                        settings.outgoing_port,
                        settings.outgoing_security.label,
                        settings.effective_outgoing_username,
                    ),
                    classes="server-line",
                )
            yield Static(id="outgoing-same")
            yield from self._part(SecretKind.OUTGOING)
            yield Static(
                "Leave a part empty to keep its password. Verify & save logs in with the new "
                "password first and saves nothing if that fails.",
                id="password-editor-hint",
            )
        with Horizontal(id="password-status"):
            yield LoadingIndicator(id="verify-spinner")
            yield Static(id="verify-status")
        with Horizontal(id="password-buttons"):
            yield Button("Verify & save", id="verify-save", variant="primary", compact=True)
            yield Button("Save without verifying (^o)", id="save-unverified", compact=True)
            yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    @staticmethod
    def _server_line(host: str, port: int, security: str, username: str) -> Content:
        user = f" as {clean(username)}" if username else ""
        return Content(f"{clean(host)}:{port} ({security}){user}")

    def _part(self, kind: SecretKind) -> ComposeResult:
        disabled = kind is SecretKind.OUTGOING and not self.outgoing_editable
        prefix = kind.value
        for label, suffix in (("New password", "password"), ("Again", "again")):
            yield Horizontal(
                Label(label, classes="field-label"),
                Vertical(
                    Input(
                        password=True,
                        id=f"{prefix}-{suffix}",
                        compact=True,
                        disabled=disabled,
                    ),
                    classes="field-body",
                ),
                classes="field",
            )
        yield Static(id=f"{prefix}-message", classes="field-message")

    def on_mount(self) -> None:
        self._show_store()
        self._show_disabled()
        same = self.query_one("#outgoing-same", Static)
        settings = self._settings
        if settings.same_credentials_for_outgoing and settings.outgoing_host:
            same.update(
                "Uses the same credentials as the incoming server: the incoming password "
                "is used for sending too."
            )
        elif not settings.outgoing_host:
            same.update("No outgoing server is set for this mailbox (e to edit its settings).")
        same.display = not self.outgoing_editable
        self._set_busy(False)
        self.query_one("#incoming-password", Input).focus()

    def _show_store(self) -> None:
        store = self._services.secrets
        line = self.query_one("#store-line", Static)
        problem = self.query_one("#store-problem", Static)
        if isinstance(store, UnavailableStore):
            line.update(
                Content.assemble(
                    ("Passwords are kept in: ", "dim"),
                    ("no password store is open", "bold $text-warning"),
                    ("  (Ctrl+L to choose)", "dim"),
                )
            )
            problem.update(safe_content(store.advice, multiline=True))
            problem.display = True
            return
        line.update(
            Content.assemble(
                ("Passwords are kept in: ", "dim"),
                (clean(store.describe()), "bold"),
                ("  (Ctrl+L to change)", "dim"),
            )
        )
        if isinstance(store, PasswordCommandStore):
            problem.update(
                "Passwords come from commands here: poptui can check a new password but not "
                "store it. Change it where the command reads it, or choose another store."
            )
        problem.display = isinstance(store, PasswordCommandStore)

    def _show_disabled(self) -> None:
        banner = self.query_one("#disabled-banner", Static)
        if self._disabled:
            reason = clean(self._disabled_reason) or "too many failures"
            banner.update(
                Content.assemble(
                    ("⚠ Disabled: ", "bold"),
                    reason,
                    " Not fetched until fixed: a new incoming password enables it again.",
                )
            )
        banner.display = self._disabled

    def on_secret_store_changed(self, _: SecretStoreChanged) -> None:
        self._show_store()

    # ------------------------------------------------------------------ checking as you type

    def _inputs(self, kind: SecretKind) -> tuple[Input, Input]:
        prefix = kind.value
        return (
            self.query_one(f"#{prefix}-password", Input),
            self.query_one(f"#{prefix}-again", Input),
        )

    def _problem(self, kind: SecretKind, *, final: bool) -> str:
        """What is wrong with one part ("" when fine or empty); `final` when saving."""
        if kind is SecretKind.OUTGOING and not self.outgoing_editable:
            return ""
        first, again = (field.value for field in self._inputs(kind))
        if not first and not again:
            return ""
        if final and not first:
            return "Type the new password in the first field too."
        if final and not again:
            return "Type the new password again to confirm it."
        if again and first != again and (final or kind in self._checked_again):
            return MISMATCH
        return ""

    def _show_problem(self, kind: SecretKind, text: str) -> None:
        message = self.query_one(f"#{kind.value}-message", Static)
        message.update(
            Content.assemble(("✗ ", "bold"), clean(text)).stylize("$text-error") if text else ""
        )
        message.display = bool(text)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        kind = self._kind_of(event.input)
        if kind is not None:
            self._show_problem(kind, self._problem(kind, final=False))

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        kind = self._kind_of(event.input)
        if kind is not None and (event.input.id or "").endswith("-again"):
            if event.input.value:
                self._checked_again.add(kind)
            self._show_problem(kind, self._problem(kind, final=False))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        kind = self._kind_of(event.input)
        if kind is None:
            return
        first, again = self._inputs(kind)
        if event.input is first and not again.value:
            again.focus()
        else:
            self.action_verify_and_save()

    @staticmethod
    def _kind_of(widget: Input) -> SecretKind | None:
        wid = widget.id or ""
        for kind in SecretKind:
            if wid.startswith(f"{kind.value}-"):
                return kind
        return None

    def _change(self) -> _Change | None:
        """The passwords to save, or None (with the problems shown) when they cannot be."""
        problems = {kind: self._problem(kind, final=True) for kind in SecretKind}
        for kind, text in problems.items():
            self._show_problem(kind, text)
        for kind, text in problems.items():
            if text:
                first, again = self._inputs(kind)
                (again if first.value else first).focus()
                self._status_error("Nothing saved: fix the password marked ✗ first.")
                return None
        incoming = self._inputs(SecretKind.INCOMING)[0].value
        outgoing = self._inputs(SecretKind.OUTGOING)[0].value if self.outgoing_editable else ""
        if not incoming and not outgoing:
            self._status_error("Nothing to save: type a new password, twice, first.")
            self._inputs(SecretKind.INCOMING)[0].focus()
            return None
        return _Change(incoming, outgoing)

    # ------------------------------------------------------------------ actions

    @on(Button.Pressed, "#verify-save")
    def _verify_pressed(self) -> None:
        self.action_verify_and_save()

    @on(Button.Pressed, "#save-unverified")
    def _unverified_pressed(self) -> None:
        self.action_save_unverified()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, WORKER_GROUP)
        self.dismiss(False)

    def action_verify_and_save(self) -> None:
        change = None if self._busy else self._change()
        if change is not None:
            servers = []
            if change.incoming:
                servers.append(f"{self._settings.incoming_host}:{self._settings.incoming_port}")
            if change.outgoing:
                servers.append(f"{self._settings.outgoing_host}:{self._settings.outgoing_port}")
            self._set_busy(True, f"Logging in to {' and '.join(servers)} with the new password…")
            self._save(change, verify=True)

    def action_save_unverified(self) -> None:
        change = None if self._busy else self._change()
        if change is not None:
            self._set_busy(True, "Saving without logging in first…")
            self._save(change, verify=False)

    def action_choose_store(self) -> None:
        if self._busy:
            return
        self.app.push_screen(SecretStoreSetupScreen(self._services, self._store_setup))

    # ------------------------------------------------------------------ the worker

    # A fixed description: Textual's default is the call with its arguments' reprs.
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=WORKER_GROUP,
        description="verify and save passwords",
    )
    def _save(self, change: _Change, *, verify: bool) -> _Saved | _Rejected | None:
        """In a thread: log in with each new password (if asked), then store them."""
        services = self._services
        with database_proxy.connection_context():
            account = services.accounts.get_by_id(self._account_id)
        settings = settings_of(account)
        verified: list[str] = []
        if verify:
            if change.incoming:
                result = services.tester(settings, change.incoming)
                if not result.ok:
                    return _Rejected(SecretKind.INCOMING, result)
                verified.append(result.message)
            if change.outgoing:
                result = services.outgoing_tester(settings, change.outgoing)
                if not result.ok:
                    return _Rejected(SecretKind.OUTGOING, result)
                verified.append(result.message)
        if get_current_worker().is_cancelled:
            return None
        saved: list[SecretKind] = []
        problem = ""
        store = services.secrets
        for kind, password in (
            (SecretKind.INCOMING, change.incoming),
            (SecretKind.OUTGOING, change.outgoing),
        ):
            if not password:
                continue
            try:
                store.set(account.secret_key, kind, password, mailbox=account.name)
            except SecretStoreError as error:
                problem = str(error)
                break
            saved.append(kind)
        enabled = False
        if SecretKind.INCOMING in saved and account.disabled:
            with database_proxy.connection_context():
                services.accounts.enable(account.name)
            enabled = True
        return _Saved(tuple(saved), tuple(verified), enabled, problem)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != WORKER_GROUP:
            return
        if event.state is WorkerState.SUCCESS:
            result = worker.result
            if isinstance(result, _Saved):
                self._saved(result)
            elif isinstance(result, _Rejected):
                self._rejected(result)
            else:
                self._set_busy(False)
        elif event.state is WorkerState.ERROR:
            error = worker.error
            text = str(error) if isinstance(error, Exception) and str(error) else "unknown error"
            self._set_busy(False)
            self._status_error(f"Not saved: {text}")
        elif event.state is WorkerState.CANCELLED:
            self._set_busy(False)

    def _rejected(self, rejected: _Rejected) -> None:
        self._set_busy(False)
        result = rejected.result
        which = "incoming" if rejected.kind is SecretKind.INCOMING else "outgoing"
        advice = ""
        if result.certificate is not None:
            advice = " Review the certificate with Test & save in the mailbox's settings (e)."
        self._status_error(
            f"Not saved: the {which} server refused the login. {result.message}{advice} "
            "Correct the password, or Save without verifying (Ctrl+O) to keep it anyway."
        )
        self.query_one("#save-unverified", Button).label = "Save anyway (^o)"
        self._inputs(rejected.kind)[0].focus()

    def _saved(self, saved: _Saved) -> None:
        name = clean(self._name)
        if not saved.kinds:
            self._set_busy(False)
            self._status_error(f"Not saved: {saved.problem}")
            return
        parts = " and ".join(kind.value for kind in saved.kinds)
        plural = "s" if len(saved.kinds) > 1 else ""
        lines = [f"Saved the {parts} password{plural} of {name}."]
        lines += [clean(text) for text in saved.verified]
        if not saved.verified:
            lines.append("Not verified: the next fetch will tell whether it works.")
        if saved.enabled:
            lines.append(f"{name} was disabled; it is enabled again.")
        self.app.notify(" ".join(lines), markup=False)
        self.app.post_message(MailboxesChanged())
        if saved.problem:
            # Part was stored: say what was not, and stay so the user can act on it.
            self._set_busy(False)
            self._status_error(f"The other password was not stored: {saved.problem}")
            for kind in saved.kinds:
                for widget in self._inputs(kind):
                    widget.value = ""
            return
        self.dismiss(True)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Verify and save", self.action_verify_and_save, "Log in first, save if it works"
            ),
            PaletteCommand(
                "Save without verifying", self.action_save_unverified, "Save the typed passwords"
            ),
            PaletteCommand(
                "Choose the password store", self.action_choose_store, "File, command, keyring"
            ),
            PaletteCommand("Cancel", self.action_cancel, "Close without saving"),
        ]

    # ------------------------------------------------------------------ status line

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.query_one("#verify-spinner").display = busy
        for button in self.query(Button):
            if button.id != "cancel":
                button.disabled = busy
        if busy:
            self._status(Content(text))

    def _status(self, content: Content) -> None:
        status = self.query_one("#verify-status", Static)
        status.update(content)
        status.display = bool(content.plain)

    def _status_error(self, text: str) -> None:
        self._status(
            Content.assemble(("✗ ", "bold"), clean(text, multiline=True)).stylize("$text-error")
        )
