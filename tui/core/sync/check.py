"""The one connection check of an incoming server: connect, TLS, CAPA, log in, STAT, QUIT.

Nothing is fetched and nothing deleted. The account form's "Test & save", the app's connection
test (t) and `poptui fetch --test` all run `check_incoming`; `tui.core.sync.outcome` words the
report for each of them. A rejected password carries the provider's advice (an app password,
OAuth only) as its hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tui.core.net import pop3
from tui.core.settings import Security
from tui.core.sync.errors import FetchCancelled, InvalidServerSettings, MissingPassword
from tui.core.sync.outcome import check_lines, with_provider_hint

if TYPE_CHECKING:
    from tui.core.settings import AccountSettings
    from tui.core.storage.models import Account
    from tui.core.sync.control import FetchControl


@dataclass(frozen=True)
class IncomingServer:
    """Where and as whom to log in: from a stored account or from the form being filled in."""

    name: str
    """The mailbox's name (untrusted, user-chosen), for the words."""
    host: str
    port: int
    security: Security
    username: str
    pinned_fingerprint: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def of(cls, account: Account | AccountSettings) -> IncomingServer:
        """The incoming side of a stored account or of the settings in the form."""
        return cls(
            account.name,
            account.incoming_host,
            account.incoming_port,
            Security(account.incoming_security),
            account.username,
            account.pinned_fingerprint,
        )


@dataclass(frozen=True)
class CheckReport:
    """What the check learnt, and how it ended."""

    server: IncomingServer
    connected: bool = False
    certificate: pop3.CertificateInfo | None = None
    """The server's TLS certificate: the trusted (or pinned) one, or the one that was refused."""
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    logged_in: bool = False
    mechanism: str = ""
    """How the login went: "PLAIN", "USER/PASS", "XOAUTH2" or "OAUTHBEARER"."""
    message_count: int | None = None
    mailbox_bytes: int | None = None
    error: BaseException | None = None
    """A `tui.core.net.pop3` error or a `FetchError`; None when everything worked."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def untrusted_certificate(self) -> pop3.CertificateInfo | None:
        """The certificate to offer pinning, when an untrusted one is what stopped the check."""
        return self.certificate if isinstance(self.error, pop3.UntrustedCertificate) else None

    @property
    def lines(self) -> list[str]:
        return check_lines(self)


def check_incoming(
    server: IncomingServer,
    password: pop3.Secret | None,
    *,
    timeout: float,
    ca_file: str | None = None,
    control: FetchControl | None = None,
) -> CheckReport:
    """Log in to `server` and count its messages; never raises for server or network trouble.

    `password` None means none is stored: the check still connects and reads the server's
    capabilities, then stops before logging in. Blocking: run it in a thread. `control` stops
    it from another thread (its socket is closed, without QUIT).
    """
    try:
        client = pop3.Pop3Client.connect(
            server.host,
            server.port,
            server.security,
            timeout=timeout,
            pinned_fingerprint=server.pinned_fingerprint,
            ca_file=ca_file,
        )
    except pop3.UntrustedCertificate as error:
        return CheckReport(server, certificate=error.certificate, error=error)
    except pop3.Pop3Error as error:
        return CheckReport(server, error=error)
    except ValueError as error:  # a port out of range, a malformed pinned fingerprint
        return CheckReport(server, error=InvalidServerSettings(str(error)))
    if control is not None:
        control.attach(client)
    seen = CheckReport(
        server,
        connected=True,
        certificate=client.certificate,
        capabilities=dict(client.capabilities),
    )
    if password is None:
        client.abort()
        return replace(seen, error=MissingPassword.for_account(server.name))
    try:
        mechanism = client.login(server.username, password)
        seen = replace(seen, logged_in=True, mechanism=mechanism.value)
        count, size = client.stat()
        client.quit()
    except pop3.Pop3Error as error:
        client.abort()
        if control is not None and control.cancelled:
            return replace(seen, error=FetchCancelled("The connection test was stopped."))
        if isinstance(error, pop3.AuthenticationFailed):
            error = with_provider_hint(error, server.host)
        return replace(seen, error=error)
    return replace(seen, message_count=count, mailbox_bytes=size)
