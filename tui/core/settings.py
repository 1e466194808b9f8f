"""The settings of one POP3 account as the form, the command line and validation see them.

A plain dataclass, independent of storage, so validation and provider presets can be used and
tested without a database; `tui.core.storage.accounts` converts between this and the peewee model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """A StrEnum whose members also carry the words shown to people: `NAME = "value", "Label"`.

    The value is what is stored and typed on the command line; `label` is for the screen.
    """

    label: str

    # `label` has a default only because type checkers read a lookup (`Security("ssl")`) as a
    # call of `__new__`; the enum machinery calls it with both, once per member.
    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member


class Security(LabelledEnum):
    """How the connection to a server is protected."""

    SSL = "ssl", "SSL/TLS"
    """Implicit TLS from the first byte (POP3 995, SMTP 465). The default."""
    STARTTLS = "starttls", "STARTTLS"
    """Plain connect, then STLS / STARTTLS, which is required: never falls back to clear text."""
    NONE = "none", "None (unencrypted)"
    """Clear text. Only when the account explicitly says so; the password crosses the network."""


class DeletePolicy(LabelledEnum):
    """When mail fetched from the server is deleted there."""

    LEAVE = "leave", "Leave messages on the server"
    """Leave messages on the server (default; forced for Gmail `recent:` usernames)."""
    AFTER_FETCH = "after_fetch", "Delete from the server after fetching"
    """Delete from the server once the message is durably stored here."""
    AFTER_DAYS = "after_days", "Delete from the server N days after fetching"
    """Delete from the server N days after the message was first fetched."""
    WHEN_DELETED_HERE = "when_deleted_here", "Delete from the server when deleted here"
    """Delete from the server when the message is deleted in poptui."""


class SharingPermission(LabelledEnum):
    """Who else may see the mail fetched from a mailbox."""

    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"
    CUSTOM = "custom", "Custom"
    ADMIN = "admin", "Administrators"


DEFAULT_POP3_PORTS: dict[Security, int] = {
    Security.SSL: 995,
    Security.STARTTLS: 110,
    Security.NONE: 110,
}
DEFAULT_SMTP_PORTS: dict[Security, int] = {
    Security.SSL: 465,
    Security.STARTTLS: 587,
    Security.NONE: 25,
}

AUTH_PASSWORD = "password"
AUTH_OAUTH2 = "oauth2"

DEFAULT_POLL_MINUTES = 5
"""How often the app fetches the active mailbox, as the source documents recommend."""


@dataclass
class AccountSettings:
    """Everything the add/edit form holds, except the passwords (those live in the keyring)."""

    name: str = ""
    email: str = ""
    incoming_host: str = ""
    incoming_port: int = 995
    incoming_security: Security = Security.SSL
    username: str = ""
    delete_policy: DeletePolicy = DeletePolicy.LEAVE
    delete_after_days: int = 7
    same_credentials_for_outgoing: bool = True
    outgoing_host: str = ""
    outgoing_port: int = 465
    outgoing_security: Security = Security.SSL
    outgoing_username: str = ""
    poll_minutes: int = DEFAULT_POLL_MINUTES
    max_messages_per_fetch: int = 0
    """0 means no limit."""
    max_message_bytes: int = 0
    """Messages larger than this are skipped (left on the server); 0 means no limit."""
    sharing: SharingPermission = SharingPermission.PRIVATE
    pinned_fingerprint: str = ""
    """SHA-256 of a certificate the user chose to trust, hex with colons; empty when none."""
    outgoing_pinned_fingerprint: str = ""
    """The same for the outgoing server's certificate."""
    auth_method: str = "password"
    """"password", or "oauth2": sign in at the provider (`tui.core.oauth`); the refresh token
    then takes the incoming password's place in the secret store."""
    oauth_provider: str = ""
    """"microsoft", "gmail" or "generic"; empty: guessed from the incoming server."""
    oauth_client_id: str = ""
    """Empty: the client id set once for all accounts (poptui ships none)."""
    oauth_client_secret: str = ""
    """Only for providers whose desktop clients have one (Google); not a secret for such apps."""
    oauth_authorize_url: str = ""
    oauth_token_url: str = ""
    oauth_device_url: str = ""
    oauth_scope: str = ""
    """Empty: the preset's endpoints and scope."""
    oauth_token_command: str = ""
    """A program printing an access token (mpop's passwordeval, aerc's token command); used
    instead of signing in when set."""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def uses_oauth2(self) -> bool:
        return self.auth_method == AUTH_OAUTH2

    @property
    def is_gmail_recent(self) -> bool:
        """Gmail's `recent:` mode: every POP client sees the last 30 days again and again."""
        return self.username.strip().lower().startswith("recent:")

    @property
    def effective_outgoing_username(self) -> str:
        """SMTP knows nothing of Gmail's `recent:` tag, so shared credentials drop it."""
        if not self.same_credentials_for_outgoing:
            return self.outgoing_username
        if self.is_gmail_recent:
            return self.username.strip()[len("recent:") :]
        return self.username
