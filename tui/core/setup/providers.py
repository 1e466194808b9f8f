"""Server settings of well-known providers, so the user rarely has to type them.

A built-in table (works offline) gives the servers and what the user must know (app passwords,
OAuth-only); `discovery` handles every other domain. Also: filling the form from a preset, the
outgoing side from the incoming one, and turning a provider's "password rejected" reply into the
hint that actually helps.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from tui.core.settings import (
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    Security,
)
from tui.core.setup.validation import GMAIL_RECENT_PREFIX


@dataclass(frozen=True)
class ServerEndpoint:
    """Where one side (POP3 or SMTP) of an account connects."""

    host: str
    port: int
    security: Security

    def describe(self) -> str:
        """`pop.gmail.com:995 (SSL/TLS)`, as shown to the user."""
        return f"{self.host}:{self.port} ({self.security.label})"


@dataclass(frozen=True)
class ProviderPreset:
    """Server settings for one email address, with what the user must know about them."""

    name: str
    """The provider's name as shown to the user ("Gmail"), or the domain for discovered ones."""
    incoming: ServerEndpoint
    outgoing: ServerEndpoint | None
    """None when the domain's DNS says it offers no mail submission."""
    username: str
    """The login name: the full address for every provider in the table."""
    needs_app_password: bool = False
    """With two-step verification on, the provider wants an app password, not the account's."""
    oauth_only: bool = False
    """The provider has switched off password login for POP; poptui cannot log in."""
    note: str = ""
    guessed: bool = False
    """True when no table entry, DNS record or probe confirmed the incoming server."""


# --- the table of known providers --------------------------------------------------------------

_SSL = Security.SSL
_STARTTLS = Security.STARTTLS


@dataclass(frozen=True)
class _Provider:
    name: str
    domains: frozenset[str]
    families: frozenset[str]
    """First labels matched with any country or generic ending: "hotmail" → hotmail.co.uk."""
    incoming: ServerEndpoint
    outgoing: ServerEndpoint
    needs_app_password: bool = False
    oauth_only: bool = False
    note: str = ""
    excluded: frozenset[str] = frozenset()
    """Domains a family would match that belong to someone else (Yahoo Japan is not Yahoo)."""

    def matches(self, domain: str) -> bool:
        if domain in self.excluded:
            return False
        if domain in self.domains:
            return True
        first, _, rest = domain.partition(".")
        return first in self.families and _is_public_ending(rest)


_GENERIC_ENDINGS = frozenset({"com", "net", "org"})
_SECOND_LEVELS = frozenset({"co", "com", "net", "org", "ne", "or"})


def _is_public_ending(rest: str) -> bool:
    """Whether `rest` is what follows a brand in its national domains: com, fr, co.uk, com.br.

    Deliberately narrow so that "hotmail.example.org" or "yahoo.evil.io" do not count.
    """
    labels = rest.split(".")
    if len(labels) == 1:
        return labels[0] in _GENERIC_ENDINGS or _is_country_code(labels[0])
    if len(labels) == 2:
        return labels[0] in _SECOND_LEVELS and _is_country_code(labels[1])
    return False


def _is_country_code(label: str) -> bool:
    return len(label) == 2 and label.isascii() and label.isalpha()


_APP_PASSWORD_NOTE = (
    "{name}: with two-step verification on, sign in with an app password made in your "
    "{name} account's security settings, not your usual password."
)


def _zoho(*domains: str) -> _Provider:
    """Zoho runs one data centre per region, and each region's addresses use its own hosts.

    The first domain names the region: zoho.eu → pop.zoho.eu, zohocloud.ca → pop.zohocloud.ca.
    """
    region = domains[0]
    note = (
        "Zoho Mail: turn on POP access in Zoho Mail's settings first. With two-factor "
        "authentication on, use an application-specific password."
    )
    if region == "zoho.com":
        note += " Organisations on Zoho use poppro.zoho.com and smtppro.zoho.com instead."
    return _Provider(
        name="Zoho Mail",
        domains=frozenset(domains),
        families=frozenset(),
        incoming=ServerEndpoint(f"pop.{region}", 995, _SSL),
        outgoing=ServerEndpoint(f"smtp.{region}", 465, _SSL),
        needs_app_password=True,
        note=note,
    )


PROVIDERS: tuple[_Provider, ...] = (
    _Provider(
        name="Gmail",
        domains=frozenset({"gmail.com", "googlemail.com"}),
        families=frozenset(),
        incoming=ServerEndpoint("pop.gmail.com", 995, _SSL),
        outgoing=ServerEndpoint("smtp.gmail.com", 465, _SSL),
        needs_app_password=True,
        note=(
            "Gmail: turn on POP in Gmail's settings (Forwarding and POP/IMAP). With 2-Step "
            "Verification on, use an app password, not your Google password. To fetch with "
            "more than one POP client, use recent:you@gmail.com as the username and leave "
            "messages on the server."
        ),
    ),
    _Provider(
        name="Outlook.com",
        domains=frozenset({"outlook.com", "live.com", "msn.com"}),
        families=frozenset({"hotmail", "outlook", "live"}),
        incoming=ServerEndpoint("outlook.office365.com", 995, _SSL),
        outgoing=ServerEndpoint("smtp-mail.outlook.com", 587, _STARTTLS),
        oauth_only=True,
        note=(
            "Outlook.com has switched off password login for POP (only OAuth2 sign-in works); "
            "poptui cannot log in with a password: add it with --oauth2 and a client id, then "
            "sign in (poptui account signin NAME)."
        ),
    ),
    _Provider(
        name="Yahoo Mail",
        domains=frozenset({"ymail.com", "rocketmail.com"}),
        families=frozenset({"yahoo"}),
        # Yahoo Japan is a separate company with its own servers.
        excluded=frozenset({"yahoo.co.jp", "yahoo.ne.jp"}),
        incoming=ServerEndpoint("pop.mail.yahoo.com", 995, _SSL),
        outgoing=ServerEndpoint("smtp.mail.yahoo.com", 465, _SSL),
        needs_app_password=True,
        note=_APP_PASSWORD_NOTE.format(name="Yahoo"),
    ),
    _Provider(
        name="AOL Mail",
        domains=frozenset({"aim.com"}),
        families=frozenset({"aol"}),
        incoming=ServerEndpoint("pop.aol.com", 995, _SSL),
        outgoing=ServerEndpoint("smtp.aol.com", 465, _SSL),
        needs_app_password=True,
        note=_APP_PASSWORD_NOTE.format(name="AOL"),
    ),
    _zoho("zoho.com", "zohomail.com"),
    _zoho("zoho.eu"),
    _zoho("zoho.in"),
    _zoho("zoho.com.au"),
    _zoho("zoho.jp"),
    _zoho("zohocloud.ca"),
)


def domain_of(email: str) -> str | None:
    """The lower-cased domain of an address, or None when there is no usable one."""
    _, at, domain = email.strip().rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not domain or "." not in domain:
        return None
    return domain


def _preset_from(provider: _Provider, email: str) -> ProviderPreset:
    return ProviderPreset(
        name=provider.name,
        incoming=provider.incoming,
        outgoing=provider.outgoing,
        username=email.strip(),
        needs_app_password=provider.needs_app_password,
        oauth_only=provider.oauth_only,
        note=provider.note,
    )


def _provider_for_domain(domain: str) -> _Provider | None:
    for provider in PROVIDERS:
        if provider.matches(domain):
            return provider
    return None


def lookup_known(email: str) -> ProviderPreset | None:
    """The preset for an address at a provider in the built-in table; never touches the network."""
    domain = domain_of(email)
    if domain is None:
        return None
    provider = _provider_for_domain(domain)
    return _preset_from(provider, email) if provider is not None else None


def guess_outgoing_host(incoming_host: str) -> str:
    """pop.x and pop3.x → smtp.x; any other host (mail.x) is assumed to do both."""
    first, dot, rest = incoming_host.partition(".")
    if dot and rest and first.lower() in ("pop", "pop3", "pop3s"):
        return f"smtp.{rest}"
    return incoming_host


# --- filling the form ------------------------------------------------------------------------


def apply_preset(
    settings: AccountSettings, preset: ProviderPreset
) -> tuple[AccountSettings, list[str]]:
    """A copy of `settings` with the preset's servers and username, and a line per filled value.

    A Gmail `recent:` prefix the user already typed is kept on the POP3 username; the outgoing
    username is the plain address (SMTP knows nothing of `recent:`).
    """
    username = preset.username
    if settings.is_gmail_recent and not username.lower().startswith(GMAIL_RECENT_PREFIX):
        username = GMAIL_RECENT_PREFIX + username
    changes: dict[str, Any] = {
        "incoming_host": preset.incoming.host,
        "incoming_port": preset.incoming.port,
        "incoming_security": preset.incoming.security,
        "username": username,
    }
    lines = [f"Incoming server set to {preset.incoming.describe()}"]
    if preset.outgoing is not None:
        changes.update(
            outgoing_host=preset.outgoing.host,
            outgoing_port=preset.outgoing.port,
            outgoing_security=preset.outgoing.security,
            outgoing_username=preset.username,
        )
        lines.append(f"Outgoing server set to {preset.outgoing.describe()}")
    lines.append(f"Username set to {username}")
    if preset.outgoing is not None and preset.username != username:
        lines.append(f"Outgoing username set to {preset.username}")
    return dataclasses.replace(settings, **changes), lines


def fill_outgoing_from_incoming(settings: AccountSettings) -> AccountSettings:
    """The outgoing side guessed from the incoming one, for "use the same credentials".

    A known provider's incoming host gives its real outgoing server; otherwise pop.x and pop3.x
    become smtp.x and other hosts (mail.x) are kept. Implicit TLS on 465, or STARTTLS on 587 when
    the incoming side uses STARTTLS or no encryption (never silently unencrypted).
    """
    host = settings.incoming_host.strip().rstrip(".")
    provider = _provider_for_incoming_host(host)
    if provider is not None:
        outgoing = provider.outgoing
    else:
        security = Security.SSL if settings.incoming_security is Security.SSL else _STARTTLS
        outgoing = ServerEndpoint(
            guess_outgoing_host(host) if host else "", DEFAULT_SMTP_PORTS[security], security
        )
    return dataclasses.replace(
        settings,
        outgoing_host=outgoing.host,
        outgoing_port=outgoing.port,
        outgoing_security=outgoing.security,
        outgoing_username=_strip_recent(settings.username.strip()),
    )


def _strip_recent(username: str) -> str:
    if username.lower().startswith(GMAIL_RECENT_PREFIX):
        return username[len(GMAIL_RECENT_PREFIX) :]
    return username


def _provider_for_incoming_host(host: str) -> _Provider | None:
    host = host.lower()
    for provider in PROVIDERS:
        if provider.incoming.host == host:
            return provider
    return None


# --- hints when a password is rejected -------------------------------------------------------

_MICROSOFT_HOSTS = re.compile(
    r"(^|\.)(office365\.com|outlook\.com|hotmail\.com|live\.com)$", re.IGNORECASE
)
_GOOGLE_HOSTS = re.compile(r"(^|\.)(gmail\.com|googlemail\.com|google\.com)$", re.IGNORECASE)

OAUTH_ONLY_MICROSOFT_HINT = (
    "Outlook.com and Microsoft 365 have switched off password login for POP: only OAuth2 "
    "sign-in works. Switch the mailbox to it (poptui account edit NAME --oauth2 --client-id "
    "ID), then sign in (poptui account signin NAME)."
)
GOOGLE_APP_PASSWORD_HINT = (
    "Google wants an app password: with 2-Step Verification on, create one in your Google "
    "account (Security → App passwords) and enter it here instead of your Google password."
)
GOOGLE_WEB_LOGIN_HINT = (
    "Google refused the password until you sign in with a web browser. Sign in to Gmail in a "
    "browser and confirm it was you, or use an app password. Google Workspace accounts whose "
    "administrator allows only OAuth2 sign-in cannot log in with a password at all."
)
GOOGLE_REJECTED_HINT = (
    "Gmail did not accept the password. With 2-Step Verification on, use an app password; "
    "check that POP is enabled in Gmail's settings. Google Workspace accounts whose "
    "administrator allows only OAuth2 sign-in cannot log in with a password at all."
)

APP_PASSWORD_HINT = (
    "The server wants an app (application-specific) password: create one in your account's "
    "security settings and enter it here instead of your usual password."
)


def hint_for_auth_failure(host: str, server_text: str) -> str | None:
    """What to tell the user when `host` rejected the password with `server_text`.

    Returns a provider-specific hint (OAuth-only, app password), or None when there is nothing
    more useful to say than the server's own words.
    """
    host = host.strip().rstrip(".").lower()
    text = server_text.lower()
    if _MICROSOFT_HOSTS.search(host):
        return OAUTH_ONLY_MICROSOFT_HINT
    if "application-specific password required" in text:
        if _GOOGLE_HOSTS.search(host):
            return GOOGLE_APP_PASSWORD_HINT
        return APP_PASSWORD_HINT
    if _GOOGLE_HOSTS.search(host):
        if "web login required" in text:
            return GOOGLE_WEB_LOGIN_HINT
        return GOOGLE_REJECTED_HINT
    provider = _provider_for_incoming_host(host)
    if provider is not None and provider.needs_app_password:
        return (
            f"{provider.name} rejected the password. With two-step verification on, it needs "
            f"an app password made in your account's security settings, not your usual password."
        )
    return None
