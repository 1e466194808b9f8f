"""The account form's "Sign in with OAuth2" choice: a client id, and a generic provider's endpoints.

Offered where signing in can work: on by itself for providers that refuse passwords for POP
(Microsoft), offered for Gmail, for an address poptui has no preset for, and for a mailbox that
already signs in. On, it hides the password (`AccountFields` listens to `#oauth2`) and the
settings it gives are those of `poptui account add --oauth2`; the endpoints are checked by
`tui.core.oauth.providers.endpoints_for` when saving, as the CLI's sign-in does.
"""

from __future__ import annotations

import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Static

from tui.core.oauth.providers import (
    OAuthSettingsError,
    ProviderName,
    provider_for_host,
    tenant_of,
    with_tenant,
)
from tui.core.settings import AUTH_OAUTH2, AUTH_PASSWORD, AccountSettings
from tui.widgets.form_fields import field_row
from tui.widgets.status_line import StatusLine

GENERIC_URLS: tuple[tuple[str, str, str], ...] = (
    ("oauth_token_url", "Token URL", "https://login.example.com/oauth2/token"),
    ("oauth_device_url", "Device URL", "device sign-in (or the authorize URL)"),
    ("oauth_authorize_url", "Authorize URL", "browser sign-in"),
    ("oauth_scope", "Scope", "the provider's mail scope, e.g. … offline_access"),
)
"""(settings attribute, label, placeholder) of what only a generic provider needs."""

CLIENT_SECRET_HINT = (
    "Only if your app registration has one (Google's Desktop-app clients do). Kept in the "
    "password store, never in the database; empty keeps the one saved."
)
TENANT_HINT = (
    "common (any account), organizations (work or school), consumers (Outlook.com), or your "
    "organisation's tenant id or domain."
)

CLIENT_ID_HINT = (
    "Your app registration's client id (poptui ships none; see the README). Empty: the one "
    "set for all accounts (poptui account client-id) is used, or the sign-in asks for it."
)


def widget_id(attr: str) -> str:
    return attr.replace("_", "-")


class OAuthFields(Vertical):
    """The choice and its inputs; `settings_with` puts what they say onto the settings."""

    DEFAULT_CSS = """
    OAuthFields {
        height: auto;
        display: none;
    }
    OAuthFields .generic-url {
        display: none;
    }
    """

    def __init__(self, base: AccountSettings) -> None:
        super().__init__(id="oauth-fields")
        self._base = base
        self._host = base.incoming_host
        self._auto_value = base.uses_oauth2
        self._chosen = False
        """The user ticked or unticked it: a preset no longer changes it."""
        self.tenant_problem: OAuthSettingsError | None = None
        """What is wrong with the tenant typed (the settings keep the last good one)."""

    def compose(self) -> ComposeResult:
        base = self._base
        yield field_row(
            "Sign in",
            Checkbox("Sign in with OAuth2 (no password)", base.uses_oauth2, id="oauth2"),
            id="field-oauth2",
        )
        yield field_row(
            "Client ID",
            Input(
                base.oauth_client_id, placeholder="optional when set for all", id="oauth-client-id"
            ),
            Static(CLIENT_ID_HINT, classes="field-hint"),
            id="field-oauth-client-id",
        )
        yield field_row(
            "Client secret",
            Input(placeholder="optional", password=True, id="oauth-client-secret", max_length=256),
            Static(CLIENT_SECRET_HINT, classes="field-hint"),
            id="field-oauth-client-secret",
        )
        yield field_row(
            "Tenant",
            Input(tenant_of(base), placeholder="common", id="oauth-tenant", max_length=253),
            Static(TENANT_HINT, classes="field-hint"),
            id="field-oauth-tenant",
        )
        for attr, label, placeholder in GENERIC_URLS:
            yield field_row(
                label,
                Input(getattr(base, attr), placeholder=placeholder, id=widget_id(attr)),
                id=f"field-{widget_id(attr)}",
            ).set_classes("field generic-url")

    def on_mount(self) -> None:
        for widget in self.query(Input):
            widget.compact = True
        self.query_one(Checkbox).compact = True
        self._show()

    @property
    def signs_in(self) -> bool:
        return self.query_one("#oauth2", Checkbox).value

    def follow(self, host: str, *, unknown_address: bool = False) -> None:
        """The incoming server (or the address) changed: offer the choice where it can work,
        and tick it for a provider that takes no password, unless the user chose."""
        self._host = host
        provider = provider_for_host(host)
        if not self._chosen:
            auto = provider is ProviderName.MICROSOFT or self._base.uses_oauth2
            self._auto_value = auto
            self.query_one("#oauth2", Checkbox).value = auto
        if provider is not None or unknown_address:
            self.display = True
        self._show()

    @on(Checkbox.Changed, "#oauth2")
    def _toggled(self, event: Checkbox.Changed) -> None:
        if event.value != self._auto_value:
            self._chosen = True
        self._show()

    def _show(self) -> None:
        on_ = self.signs_in
        if on_ or self._base.uses_oauth2 or provider_for_host(self._host) is not None:
            self.display = True
        self.query_one("#field-oauth-client-id").display = on_
        self.query_one("#field-oauth-client-secret").display = on_
        microsoft = provider_for_host(self._host) is ProviderName.MICROSOFT
        self.query_one("#field-oauth-tenant").display = on_ and microsoft
        generic = on_ and provider_for_host(self._host) is None
        for attr, _, _ in GENERIC_URLS:
            self.query_one(f"#field-{widget_id(attr)}").display = generic

    def settings_with(self, settings: AccountSettings) -> AccountSettings:
        """The settings as `account add --oauth2 --client-id … --token-url …` would give them."""
        if not self.signs_in:
            if settings.uses_oauth2:
                return dataclasses.replace(settings, auth_method=AUTH_PASSWORD)
            return settings
        client_id = self.query_one("#oauth-client-id", Input).value.strip()
        signing_in = dataclasses.replace(
            settings,
            auth_method=AUTH_OAUTH2,
            oauth_client_id=client_id,
            # Empty keeps the saved one; one an older poptui kept in the database moves to the
            # password store at this save.
            oauth_client_secret=self.query_one("#oauth-client-secret", Input).value.strip()
            or self._base.oauth_client_secret,
        )
        provider = provider_for_host(self._host)
        self.tenant_problem = None
        if provider is None:
            for attr, _, _ in GENERIC_URLS:
                value = self.query_one(f"#{widget_id(attr)}", Input).value.strip()
                setattr(signing_in, attr, value)
        elif provider is ProviderName.MICROSOFT:
            try:
                signing_in = with_tenant(signing_in, self.query_one("#oauth-tenant", Input).value)
            except OAuthSettingsError as error:
                self.tenant_problem = error
        return signing_in

    def focus_missing(self, message: str) -> str:
        """Focus the endpoint input the check found missing; what to type there."""
        if "token address" in message:
            target, advice = "oauth-token-url", "Enter the provider's token URL."
        else:
            target, advice = "oauth-device-url", "Enter a device URL or an authorize URL."
        self.query_one(f"#{target}", Input).focus()
        return advice


def sign_in_settings_ok(settings: AccountSettings, status: StatusLine, form: Widget) -> bool:
    """Before testing a mailbox that signs in: what was typed for OAuth2 acceptable (https
    endpoints, printable scope and client), and the endpoints complete, as the sign-in needs
    them (`endpoints_for`); else say what is wrong and focus it. A missing client id is no
    reason: the sign-in dialog asks for it (or uses the one set for all accounts)."""
    if not settings.uses_oauth2 or settings.oauth_token_command:
        return True
    from tui.core.oauth.providers import endpoints_for, oauth_settings_problem

    fields = form.query_one(OAuthFields)
    problem = fields.tenant_problem or oauth_settings_problem(settings)
    if problem is not None:
        fields.query_one(f"#{widget_id(problem.field)}", Input).focus()
        status.error(f"Nothing saved: {problem.message}")
        return False
    try:
        endpoints_for(settings, global_client_id="asked-by-the-sign-in")
    except OAuthSettingsError as error:
        advice = fields.focus_missing(error.message)
        status.error(f"Nothing saved: {error.message} {advice}")
        return False
    return True
