"""Where an account signs in: the Microsoft and Gmail presets, or endpoints the user entered.

poptui ships no client id (it is not entitled to anyone's): the user registers one (README) and
gives it globally or per account. Microsoft allows the device flow for mail scopes; Google does
not (its device endpoint answers `invalid_scope` for https://mail.google.com/), so Gmail signs
in with an authorization code, PKCE and a loopback redirect.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlsplit

from tui.core.errors import PoptuiError
from tui.core.settings import AccountSettings


class Flow(StrEnum):
    """How a person approves poptui."""

    DEVICE = "device"
    """RFC 8628: a code typed on any device's browser; nothing to paste back."""
    CODE = "code"
    """Authorization code with PKCE, redirected to a loopback address (caught, or pasted back)."""


class ProviderName(StrEnum):
    MICROSOFT = "microsoft"
    GMAIL = "gmail"
    GENERIC = "generic"


@dataclass(frozen=True)
class Endpoints:
    """Everything a sign-in and a refresh need; `client_secret` only for providers (Google's
    "Desktop app" clients) that want theirs sent, which is not confidential for such apps."""

    provider: ProviderName
    client_id: str
    authorize_url: str
    token_url: str
    device_url: str
    scope: str
    flow: Flow
    client_secret: str = ""
    authorize_params: tuple[tuple[str, str], ...] = ()
    required_scope: str = ""
    """The scope mail needs; granted without it, a sign-in is "scope missing"."""


MICROSOFT_TENANTS = ("common", "consumers", "organizations")
MICROSOFT_POP_SCOPE = "https://outlook.office.com/POP.AccessAsUser.All"
MICROSOFT_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
GMAIL_SCOPE = "https://mail.google.com/"


MICROSOFT_LOGIN = "https://login.microsoftonline.com/"
TENANT_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
"""`common`, `organizations`, `consumers`, a tenant id (a GUID) or a domain (contoso.com)."""


def microsoft(tenant: str = "common") -> Endpoints:
    base = f"{MICROSOFT_LOGIN}{tenant}/oauth2/v2.0"
    return Endpoints(
        ProviderName.MICROSOFT,
        client_id="",
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        device_url=f"{base}/devicecode",
        scope=f"{MICROSOFT_POP_SCOPE} {MICROSOFT_SMTP_SCOPE} offline_access",
        flow=Flow.DEVICE,
        required_scope=MICROSOFT_POP_SCOPE,
    )


def gmail() -> Endpoints:
    return Endpoints(
        ProviderName.GMAIL,
        client_id="",
        authorize_url="https://accounts.google.com/o/oauth2/auth",
        token_url="https://oauth2.googleapis.com/token",
        device_url="",
        scope=GMAIL_SCOPE,
        flow=Flow.CODE,
        # Without these Google hands out no refresh token on a second sign-in.
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        required_scope=GMAIL_SCOPE,
    )


class OAuthSettingsError(PoptuiError):
    """The account's OAuth2 settings are incomplete or contradictory."""

    def __init__(self, message: str, *, hint: str | None = None, field: str = "") -> None:
        super().__init__(message, hint=hint)
        self.field = field
        """The `AccountSettings` attribute at fault ("" when not one field)."""


MAX_URL = 2000
MAX_SCOPE = 1000
MAX_CLIENT = 256
URL_FIELDS = (
    ("oauth_token_url", "token URL"),
    ("oauth_authorize_url", "authorize URL"),
    ("oauth_device_url", "device URL"),
)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _printable(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


def endpoint_problem(url: str, what: str) -> str:
    """Why `url` is no endpoint poptui sends a token or a secret to; "" when it is fine.

    https only (a token or a client secret must never cross a network in clear), plain http
    only to this computer (a local test server, a token helper); printable ASCII, no spaces.
    """
    if len(url) > MAX_URL:
        return f"The {what} is longer than {MAX_URL} characters."
    if not _printable(url) or " " in url:
        return f"The {what} must be a plain web address (no spaces or control characters)."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return f"The {what} is not a web address."
    if parts.scheme == "https" and host:
        return ""
    if parts.scheme == "http" and _loopback(host):
        return ""
    if parts.scheme == "http":
        return f"The {what} must start with https:// (plain http only to this computer)."
    return f"The {what} must be an https:// address."


def oauth_settings_problem(settings: AccountSettings) -> OAuthSettingsError | None:
    """The first thing wrong with what the user typed for OAuth2 (endpoints, scope, client
    id and secret), as an error naming the field; None when all of it is acceptable."""
    for attr, what in URL_FIELDS:
        value = getattr(settings, attr)
        problem = endpoint_problem(value, what) if value else ""
        if problem:
            return OAuthSettingsError(problem, field=attr)
    scope = settings.oauth_scope
    if len(scope) > MAX_SCOPE or not _printable(scope):
        return OAuthSettingsError(
            f"The scope must be at most {MAX_SCOPE} printable characters (scopes are separated "
            "by spaces).",
            field="oauth_scope",
        )
    client_id = settings.oauth_client_id
    if len(client_id) > MAX_CLIENT or not _printable(client_id) or " " in client_id:
        return OAuthSettingsError(
            "A client id is one word of printable characters, as the app registration shows it.",
            field="oauth_client_id",
        )
    secret = settings.oauth_client_secret
    if len(secret) > MAX_CLIENT or not _printable(secret):
        return OAuthSettingsError(
            f"A client secret is at most {MAX_CLIENT} printable characters.",
            field="oauth_client_secret",
        )
    return None


def tenant_problem(tenant: str) -> str:
    if not TENANT_PATTERN.fullmatch(tenant):
        return (
            "A Microsoft tenant is common, organizations, consumers, a tenant id or a domain "
            "(contoso.onmicrosoft.com)."
        )
    return ""


def tenant_of(settings: AccountSettings) -> str:
    """The Microsoft tenant the account signs in to (`common` unless one was chosen)."""
    url = settings.oauth_token_url
    if url.startswith(MICROSOFT_LOGIN):
        tenant = url[len(MICROSOFT_LOGIN) :].split("/", 1)[0]
        if tenant and not tenant_problem(tenant):
            return tenant
    return "common"


def with_tenant(settings: AccountSettings, tenant: str) -> AccountSettings:
    """A Microsoft account signing in to `tenant`: its three endpoints point there (`common`
    is the preset itself). `OAuthSettingsError` for a tenant that is no tenant."""
    tenant = tenant.strip() or "common"
    problem = tenant_problem(tenant)
    if problem:
        raise OAuthSettingsError(problem, field="oauth_tenant")
    if tenant == "common":
        urls = ("", "", "")
    else:
        preset = microsoft(tenant)
        urls = (preset.token_url, preset.authorize_url, preset.device_url)
    token_url, authorize_url, device_url = urls
    return replace(
        settings,
        oauth_token_url=token_url,
        oauth_authorize_url=authorize_url,
        oauth_device_url=device_url,
    )


def provider_for_host(host: str) -> ProviderName | None:
    """The preset a mail server belongs to, for `--oauth2` without `--provider`."""
    host = host.lower().rstrip(".")
    if host.endswith(("office365.com", "outlook.com")):
        return ProviderName.MICROSOFT
    if host.endswith(("gmail.com", "googlemail.com", "google.com")):
        return ProviderName.GMAIL
    return None


def signs_in_instead(settings: AccountSettings) -> bool:
    """The provider takes no password for POP at all (Microsoft): the form signs in instead."""
    return provider_for_host(settings.incoming_host) is ProviderName.MICROSOFT


def endpoints_for(settings: AccountSettings, global_client_id: str = "") -> Endpoints:
    """The account's endpoints: its preset, with anything the account sets taking precedence."""
    name = settings.oauth_provider or provider_for_host(settings.incoming_host) or "generic"
    try:
        provider = ProviderName(name)
    except ValueError:
        raise OAuthSettingsError(
            f"Unknown OAuth2 provider {name!r}: use microsoft, gmail or generic."
        ) from None
    if provider is ProviderName.MICROSOFT:
        base = microsoft()
    elif provider is ProviderName.GMAIL:
        base = gmail()
    else:
        base = Endpoints(provider, "", "", "", "", "", Flow.CODE)
    device_url = settings.oauth_device_url or base.device_url
    flow = base.flow
    if provider is ProviderName.GENERIC:
        flow = Flow.DEVICE if device_url else Flow.CODE
    problem = oauth_settings_problem(settings)
    if problem is not None:
        raise problem
    endpoints = replace(
        base,
        client_id=settings.oauth_client_id or global_client_id,
        client_secret=settings.oauth_client_secret or base.client_secret,
        authorize_url=settings.oauth_authorize_url or base.authorize_url,
        token_url=settings.oauth_token_url or base.token_url,
        device_url=device_url,
        scope=settings.oauth_scope or base.scope,
        flow=flow,
    )
    if not endpoints.client_id:
        raise OAuthSettingsError(
            f"{settings.name or 'This mailbox'} has no OAuth2 client id.",
            hint="Register one (see the README) and give it with --client-id, per account or "
            "once for all: poptui ships none.",
        )
    if not endpoints.token_url:
        raise OAuthSettingsError(
            f"{settings.name or 'This mailbox'} has no OAuth2 token address.",
            hint="Give the provider's token endpoint with --token-url (and --device-url or "
            "--authorize-url).",
        )
    if endpoints.flow is Flow.CODE and not endpoints.authorize_url:
        raise OAuthSettingsError(
            f"{settings.name or 'This mailbox'} needs a device or an authorize address.",
            hint="Give --device-url (device sign-in) or --authorize-url (browser sign-in).",
        )
    return endpoints
