"""Signing a mailbox in with OAuth2, from the app: works in an SSH session with no browser.

Device flow (Microsoft, providers with a device endpoint): the verification address and the
user code are shown large, `c` copies the code (OSC 52, which reaches the local clipboard over
SSH in most terminals), and the dialog waits until the person approved on any device. Browser
flow (Gmail): the address to open is shown and copyable; the address the browser ended on is
pasted back into the field, unless the loopback listener catches it first. Escape cancels.

Given a saved mailbox, the dialog keeps the sign-in itself. Given only settings (the add/edit
form, which saves nothing before it tested the servers), it hands the tokens back instead:
the form logs in with the fresh access token first and keeps the refresh token when it saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from tui.core.errors import PoptuiError
from tui.core.oauth.flows import DeviceCode
from tui.core.oauth.tokens import TokenSet
from tui.core.settings import AccountSettings
from tui.core.storage.models import Account, database_proxy
from tui.core.text import clean
from tui.screens.dialogs import CentredDialog
from tui.screens.escape_keys import cancel_key
from tui.services import Services
from tui.widgets.safe_text import safe_content


@dataclass
class DeviceCodeShown(Message, bubble=False):
    code: DeviceCode


@dataclass
class BrowserAddressShown(Message, bubble=False):
    address: str


@dataclass
class ClientIdNeeded(Message, bubble=False):
    """No client id on the account nor for all accounts: poptui ships none, so ask."""


@dataclass
class SignInEnded(Message, bubble=False):
    ok: bool
    words: str
    tokens: TokenSet | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignedIn:
    """What a sign-in for settings not saved yet gives back: the tokens (never shown) and the
    client id it used (typed into the dialog when the form had none)."""

    tokens: TokenSet = field(repr=False)
    client_id: str


class SignInDialog(CentredDialog[SignedIn | None]):
    """Signs one OAuth2 mailbox in; dismissed with what it got (None: not signed in)."""

    DEFAULT_CSS = """
    SignInDialog #signin-code {
        text-style: bold;
        color: $text-accent;
        border: round $accent;
        content-align: center middle;
        height: 3;
        margin: 1 0;
    }
    SignInDialog #signin-code.-empty, SignInDialog Input.-hidden,
    SignInDialog #signin-qr.-empty {
        display: none;
    }
    SignInDialog #signin-qr {
        width: auto;
        height: auto;
        color: white;
        background: black;
        margin-bottom: 1;
    }
    SignInDialog #signin-status {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        cancel_key("signin-cancel", "Stop; nothing is saved"),
        Binding(
            "c",
            "copy",
            "Copy",
            id="signin-copy",
            tooltip="Copy the code (or the address) to the clipboard",
        ),
    ]

    def __init__(
        self,
        services: Services,
        account: Account | None = None,
        *,
        settings: AccountSettings | None = None,
        secret_key: str | None = None,
    ) -> None:
        super().__init__()
        self._services = services
        self._account = account
        self._settings = settings
        """Set instead of `account`: sign in for the form, keep nothing, hand the tokens back."""
        self._secret_key = secret_key
        """The edited mailbox's, for the client secret it keeps (None: a new mailbox)."""
        if account is None and settings is None:
            raise ValueError("a sign-in needs an account or its settings")
        named = account.name if account is not None else (settings or AccountSettings()).name
        self._name: str = named or ""
        self._copyable = ""
        self.qr_address = ""
        """The address drawn as a QR code ("" when none was: too small a terminal)."""
        self._finish_pasted: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="signin-dialog", classes="dialog"):
            yield Static(
                Content.assemble("Sign in: ", (clean(self._name), "bold")),
                classes="dialog-title",
            )
            yield Static("Asking the provider for a sign-in code…", id="signin-where")
            yield Static("", id="signin-code", classes="-empty")
            yield Static("", id="signin-qr", classes="-empty")
            yield Input(
                placeholder="paste the address the browser ended on, then Enter",
                id="signin-paste",
                classes="-hidden",
            )
            yield Input(
                placeholder="the client id of your app registration, then Enter",
                id="signin-client-id",
                classes="-hidden",
            )
            yield Static("Esc cancels.", id="signin-status")

    def on_mount(self) -> None:
        self._run()

    # ------------------------------------------------------------------ the worker

    @work(thread=True, exclusive=True, exit_on_error=False, group="signin")
    def _run(self) -> None:
        from tui.core.oauth.flows import (
            BrowserSignIn,
            LoopbackListener,
            start_device,
            wait_for_device,
        )
        from tui.core.oauth.providers import Flow, OAuthSettingsError
        from tui.core.oauth.signin import (
            endpoints_of,
            missing_scope_problem,
            require_refresh_token,
            save_sign_in,
        )

        worker = get_current_worker()
        account = self._account
        signing_in: Account | AccountSettings = account if account is not None else self._unsaved
        try:
            with database_proxy.connection_context():
                try:
                    endpoints = endpoints_of(signing_in, self._services.secrets, self._secret_key)
                except OAuthSettingsError:
                    if not signing_in.oauth_client_id and signing_in.oauth_provider != "generic":
                        self.post_message(ClientIdNeeded())
                        return
                    raise
            if endpoints.flow is Flow.DEVICE:
                code = start_device(endpoints)
                self.post_message(DeviceCodeShown(code))
                tokens = wait_for_device(endpoints, code, cancelled=lambda: worker.is_cancelled)
            else:
                listener = LoopbackListener()
                try:
                    sign_in = BrowserSignIn(endpoints, listener.redirect_uri)
                    self.post_message(BrowserAddressShown(sign_in.address))
                    ended_on = None
                    while ended_on is None and not worker.is_cancelled:
                        ended_on = listener.wait(0.3) or self._finish_pasted
                    if ended_on is None:
                        return
                    tokens = sign_in.finish(ended_on)
                finally:
                    listener.close()
            problem = missing_scope_problem(endpoints, tokens)
            if problem:
                self.post_message(SignInEnded(False, problem))
                return
            if account is None:
                require_refresh_token(tokens)
                self.post_message(SignInEnded(True, "Signed in; testing the servers…", tokens))
                return
            save_sign_in(account, self._services.secrets, tokens)
            with database_proxy.connection_context():
                self._services.accounts.enable_if_fixed(account.name, new_incoming_password=True)
        except PoptuiError as error:
            if not worker.is_cancelled:
                self.post_message(SignInEnded(False, error.in_words()))
            return
        self.post_message(
            SignInEnded(True, f"Signed in: {account.name} fetches with OAuth2.", tokens)
        )

    @property
    def typed_client_id(self) -> str:
        """The client id typed into this dialog for settings not saved yet ("" when none)."""
        return self._settings.oauth_client_id if self._settings is not None else ""

    @property
    def _unsaved(self) -> AccountSettings:
        assert self._settings is not None
        return self._settings

    # ------------------------------------------------------------------ what it shows

    @on(DeviceCodeShown)
    def _device_code(self, shown: DeviceCodeShown) -> None:
        code = shown.code
        self._copyable = code.user_code
        self.query_one("#signin-where", Static).update(
            Content.assemble(
                "Open ",
                (clean(code.verification_uri), "bold underline"),
                " in a browser on any device (your phone will do) and enter this code:",
            )
        )
        box = self.query_one("#signin-code", Static)
        box.update(" ".join(clean(code.user_code)))
        box.remove_class("-empty")
        self._draw_qr(code.verification_uri_complete or code.verification_uri)
        self.query_one("#signin-status", Static).update(
            f"Waiting for you to approve… c copies the code; Esc cancels. The code works for "
            f"{max(1, code.expires_in // 60)} minutes."
        )

    def _draw_qr(self, address: str) -> None:
        """The address as a QR code for a phone, when it fits beside the rest of the dialog
        (the flow verified it: https or loopback, printable ASCII)."""
        from tui.core.oauth.qr import qr_lines

        size = self.app.size
        lines = qr_lines(address, width=min(size.width, 100) - 8, height=size.height - 16)
        if lines:
            self.qr_address = address
            qr = self.query_one("#signin-qr", Static)
            qr.update(Content("\n".join(lines)))
            qr.remove_class("-empty")

    @on(BrowserAddressShown)
    def _browser_address(self, shown: BrowserAddressShown) -> None:
        self._copyable = shown.address
        self.query_one("#signin-where", Static).update(
            Content.assemble(
                "Open this address in a browser and approve (c copies it):\n",
                safe_content(shown.address),
            )
        )
        paste = self.query_one("#signin-paste", Input)
        paste.remove_class("-hidden")
        paste.focus()
        self.query_one("#signin-status", Static).update(
            "On this computer the sign-in finishes by itself. Over SSH the browser ends on a page "
            "that does not load: paste its whole address above. Esc cancels."
        )

    @on(ClientIdNeeded)
    def _client_id_needed(self, _: ClientIdNeeded) -> None:
        self.query_one("#signin-where", Static).update(
            "poptui ships no client id: register the app once with your provider (the README "
            "walks through it) and enter its client id here. It is kept with this mailbox; "
            "`poptui account client-id ID` sets one for all."
        )
        field = self.query_one("#signin-client-id", Input)
        field.remove_class("-hidden")
        field.focus()
        self.query_one("#signin-status", Static).update("Enter saves it and signs in; Esc cancels.")

    @on(Input.Submitted, "#signin-client-id")
    def _client_id_given(self, submitted: Input.Submitted) -> None:
        from tui.core.storage.accounts import settings_of

        client_id = submitted.value.strip()
        if not client_id or any(c.isspace() for c in client_id):
            self.query_one("#signin-status", Static).update(
                "A client id is one word, as the app registration shows it."
            )
            return
        if self._account is None:
            self._settings = replace(self._unsaved, oauth_client_id=client_id)
        else:
            accounts = self._services.accounts
            settings = replace(settings_of(self._account), oauth_client_id=client_id)
            self._account = accounts.update(self._account.name, settings)
        submitted.input.add_class("-hidden")
        self.query_one("#signin-where", Static).update("Asking the provider for a sign-in code…")
        self._run()

    @on(Input.Submitted, "#signin-paste")
    def _pasted(self, submitted: Input.Submitted) -> None:
        if submitted.value.strip():
            self._finish_pasted = submitted.value
            self.query_one("#signin-status", Static).update("Finishing the sign-in…")

    @on(SignInEnded)
    def _ended(self, ended: SignInEnded) -> None:
        if ended.ok and ended.tokens is not None:
            if self._account is not None:
                self.notify(clean(ended.words), title="Signed in", markup=False)
            client_id = self._settings.oauth_client_id if self._settings is not None else ""
            self.dismiss(SignedIn(ended.tokens, client_id))
            return
        self.query_one("#signin-status", Static).update(
            Content.assemble(("Not signed in: ", "bold $text-error"), safe_content(ended.words))
        )

    # ------------------------------------------------------------------ keys

    def action_copy(self) -> None:
        if self._copyable:
            self.app.copy_to_clipboard(self._copyable)
            self.notify("Copied to the clipboard.", markup=False)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "signin")
        self.dismiss(None)
