"""Changing a mailbox's passwords: incoming and outgoing separately, typed twice, masked.

"Verify and save" logs in with the new password first (the services' testers, in a thread
worker) and saves nothing when that fails, unless the user then saves anyway. A new incoming
password enables a mailbox that was disabled after too many failures.
"""

from __future__ import annotations

import asyncio

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Button, Header, Input, Static

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.secrets import PasswordCommandStore, UnavailableStore
from tui.core.secrets.opening import SecretStoreConfig
from tui.core.settings import AccountSettings
from tui.core.storage.accounts import settings_of
from tui.core.storage.models import Account, database_proxy
from tui.core.text import clean
from tui.messages import MailboxesChanged
from tui.screens.escape_keys import cancel_key
from tui.screens.field_keys import field_focus_bindings
from tui.screens.form_screen import FormScreen, form_buttons, verb_button
from tui.screens.password_saving import (
    PasswordChange,
    PasswordRejected,
    PasswordsSaved,
    verify_and_store,
)
from tui.screens.ready import PreparedScreen
from tui.screens.secret_store_setup import SecretStoreChanged, SecretStoreSetupScreen
from tui.services import SecretKind, Services
from tui.widgets.footer import Footer
from tui.widgets.password_editor_layout import outgoing_rows, server_line
from tui.widgets.password_pair import PasswordPair
from tui.widgets.safe_text import safe_content
from tui.widgets.status_line import StatusLine

REST_GROUP = "password-editor-rest"
"""The worker mounting the outgoing part after the first frame."""
REST_AFTER_PAUSE = 0.3
"""Seconds without typing after which the outgoing part is mounted (Tab and the verbs mount it
at once): mounting it while keys arrive made them lag."""


class PasswordEditorScreen(PreparedScreen[bool], FormScreen[bool]):
    """The incoming and outgoing passwords of one mailbox; dismissed with True when saved."""

    COMMANDS = {MailboxCommands}
    WORKER_GROUP = "password-editor"
    DEFAULT_CSS = """
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
    #password-editor-hint {
        color: $text-muted;
        max-width: 100;
        margin-top: 1;
    }
    """

    BINDINGS = [
        cancel_key("password-cancel", "Close; nothing is saved"),
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
        Binding(
            "ctrl+g",
            "sign_in",
            "Sign in again",
            id="password-sign-in",
            tooltip="OAuth2 mailboxes: sign in at the provider again (device code or browser)",
        ),
        *field_focus_bindings(
            "password", next_action="screen.next_field", previous_action="screen.previous_field"
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
        self.sub_title = f"Passwords of {clean(self._name)}"
        self._building = False
        self._built = asyncio.Event()
        """Set once the outgoing part is mounted (after the first frame, once typing pauses
        or a verb needs it)."""
        self._rest_timer: Timer

    @property
    def account_id(self) -> int:
        return self._account_id

    def fits(self, account: Account) -> bool:
        """Whether this editor (perhaps composed ahead, tui.screens.ready) shows `account`
        as it is now."""
        return (
            int(account.id) == self._account_id
            and account.name == self._name
            and settings_of(account) == self._settings
            and bool(account.disabled) == self._disabled
            and (account.disabled_reason or "") == self._disabled_reason
        )

    @property
    def outgoing_editable(self) -> bool:
        settings = self._settings
        return not settings.same_credentials_for_outgoing and bool(settings.outgoing_host)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        """The incoming part only: the first frame shows it with its field focused, and the
        outgoing part is mounted once typing pauses (`_build_rest`), so `p` opens fast and
        what is typed at once is not slowed down by it."""
        settings = self._settings
        yield Header()
        with VerticalScroll(id="password-body", classes="form-body"):
            yield Static(id="store-line")
            yield Static(id="store-problem")
            yield Static(id="disabled-banner")
            yield Static("Incoming server (POP3)", classes="section-title")
            yield Static(
                server_line(
                    settings.incoming_host,
                    settings.incoming_port,
                    settings.incoming_security.label,
                    settings.username,
                ),
                classes="server-line",
            )
            yield PasswordPair(SecretKind.INCOMING.value)
        yield StatusLine(id="password-status")
        yield form_buttons(
            verb_button("Verify & save", "verify_and_save", id="verify-save", variant="primary"),
            verb_button("Save without verifying (^o)", "save_unverified", id="save-unverified"),
        )
        yield Footer()

    def on_mount(self) -> None:
        self._show_store()
        self._show_disabled()
        self.query_one("#incoming-password", Input).focus()
        # Composed ahead (tui.screens.ready), the editor waits until it is shown.
        self._rest_timer = self.set_timer(
            REST_AFTER_PAUSE, self._start_rest, pause=not self.is_current
        )

    @on(events.ScreenResume)
    def _shown(self) -> None:
        """Shown (perhaps composed ahead): the store may have been opened since, and the
        outgoing part follows once typing pauses."""
        self._show_store()
        if not self._building:
            self._rest_timer.reset()
            self._rest_timer.resume()

    @on(Input.Changed)
    def _typing(self) -> None:
        if not self._building:
            self._rest_timer.reset()  # mounting it while keys arrive would make them lag

    def _start_rest(self) -> None:
        if not self._building:
            self._building = True
            self._rest_timer.stop()
            self._build_rest()

    # A worker (a task of its own, not the screen's queue): the screen keeps drawing what is
    # typed into the incoming field while the rest is mounted.
    @work(group=REST_GROUP, description="mount the outgoing part")
    async def _build_rest(self) -> None:
        """The outgoing part, below the incoming one, one row at a time so keys typed
        meanwhile are handled in between."""
        body = self.query_one("#password-body", VerticalScroll)
        for widget in outgoing_rows(self._settings, editable=self.outgoing_editable):
            await body.mount(widget)
            await asyncio.sleep(0)
        self._built.set()

    async def ensure_built(self) -> None:
        """Mount the outgoing part now if typing has not paused yet, and wait until it is:
        every verb that reads it waits first (keys are handed over one at a time, so none
        overtakes it)."""
        self._start_rest()
        await self._built.wait()

    async def action_next_field(self) -> None:
        await self.ensure_built()
        self.focus_next()

    async def action_previous_field(self) -> None:
        await self.ensure_built()
        self.focus_previous()

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
                    " Not fetched until signed in again: Ctrl+G enables it again."
                    if self._settings.uses_oauth2
                    else " Not fetched until fixed: a new incoming password enables it again.",
                )
            )
        banner.display = self._disabled

    def on_secret_store_changed(self, _: SecretStoreChanged) -> None:
        self._show_store()

    # ------------------------------------------------------------------ the typed passwords

    def _pair(self, kind: SecretKind) -> PasswordPair:
        return self.query_one(f"#{kind.value}-pair", PasswordPair)

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        """Enter in a second field (or a first one already confirmed): verify and save."""
        await self.action_verify_and_save()

    def _change(self) -> PasswordChange | None:
        """The passwords to save, or None (with the problems shown) when they cannot be."""
        pairs = [self._pair(kind) for kind in SecretKind]
        problems = [(pair, pair.problem(final=True)) for pair in pairs]
        for pair, text in problems:
            pair.show_problem(text)
        for pair, text in problems:
            if text:
                pair.focus_problem()
                self.status.error("Nothing saved: fix the password marked ✗ first.")
                return None
        incoming, outgoing = (pair.value for pair in pairs)
        if incoming and self._settings.uses_oauth2:
            # Its incoming slot holds the OAuth2 sign-in: a typed password would replace it.
            self.status.error("This mailbox signs in with OAuth2, not a password: Ctrl+G.")
            return None
        if not incoming and not outgoing:
            self.status.error("Nothing to save: type a new password, twice, first.")
            self._pair(SecretKind.INCOMING).first.focus()
            return None
        return PasswordChange(incoming, outgoing)

    # ------------------------------------------------------------------ actions

    def cancelled_result(self) -> bool:
        return False

    async def action_verify_and_save(self) -> None:
        await self.ensure_built()
        change = None if self.busy else self._change()
        if change is not None:
            servers = []
            if change.incoming:
                servers.append(f"{self._settings.incoming_host}:{self._settings.incoming_port}")
            if change.outgoing:
                servers.append(f"{self._settings.outgoing_host}:{self._settings.outgoing_port}")
            self.status.busy(f"Logging in to {' and '.join(servers)} with the new password…")
            self._save(change, verify=True)

    async def action_save_unverified(self) -> None:
        await self.ensure_built()
        change = None if self.busy else self._change()
        if change is not None:
            self.status.busy("Saving without logging in first…")
            self._save(change, verify=False)

    def action_choose_store(self) -> None:
        if self.busy:
            return
        self.app.push_screen(SecretStoreSetupScreen(self._services, self._store_setup))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sign_in" and not self._settings.uses_oauth2:
            return False  # hidden: a password mailbox has nothing to sign in
        return super().check_action(action, parameters)

    def action_sign_in(self) -> None:
        """An OAuth2 mailbox has no password here: its refresh token is renewed by signing in."""
        from tui.screens.signin_dialog import SignInDialog

        if self.busy or not self._settings.uses_oauth2:
            return
        with database_proxy.connection_context():
            account = self._services.accounts.get_by_id(self._account_id)
        self.app.push_screen(SignInDialog(self._services, account))

    # ------------------------------------------------------------------ the worker

    # A fixed description: Textual's default is the call with its arguments' reprs.
    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group=WORKER_GROUP,
        description="verify and save passwords",
    )
    def _save(self, change: PasswordChange, *, verify: bool) -> None:
        """In a thread: log in with each new password (if asked), then store them."""
        verify_and_store(
            self._services, self._account_id, change, verify=verify, post=self.post_message
        )

    @on(PasswordRejected)
    def _rejected(self, rejected: PasswordRejected) -> None:
        result = rejected.result
        which = "incoming" if rejected.kind is SecretKind.INCOMING else "outgoing"
        advice = ""
        if result.certificate is not None:
            advice = " Review the certificate with Test & save in the mailbox's settings (e)."
        self.status.error(
            f"Not saved: the {which} server refused the login. {result.message}{advice} "
            "Correct the password, or Save without verifying (Ctrl+O) to keep it anyway."
        )
        self.query_one("#save-unverified", Button).label = "Save anyway (^o)"
        self._pair(rejected.kind).first.focus()

    @on(PasswordsSaved)
    def _saved(self, saved: PasswordsSaved) -> None:
        name = clean(self._name)
        if not saved.kinds:
            self.status.error(f"Not saved: {saved.problem}")
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
            self.status.error(f"The other password was not stored: {saved.problem}")
            for kind in saved.kinds:
                self._pair(kind).clear()
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
