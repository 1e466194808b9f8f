"""Where an account signs in: the Microsoft and Gmail presets, or endpoints the user entered.

poptui ships no client id (it is not entitled to anyone's): the user registers one (README) and
gives it globally or per account. Microsoft allows the device flow for mail scopes; Google does
not (its device endpoint answers `invalid_scope` for https://mail.google.com/), so Gmail signs
in with an authorization code, PKCE and a loopback redirect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

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


def microsoft(tenant: str = "common") -> Endpoints:
    base = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
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
