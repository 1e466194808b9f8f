"""Every way a POP3 session can fail, and which failure a server's -ERR reply means.

Each error is a `PoptuiError`: `message` is for the user and never holds a password; the
server's own words, cleaned, are in `server_text`. The engine counts failures with
`is_auth_failure` and `is_connection_failure` to decide when to disable an account.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from tui.core.errors import PoptuiError
from tui.core.net.failures import SERVER_TEXT_LIMIT
from tui.core.net.tls import pin_mismatch
from tui.core.text import one_line

if TYPE_CHECKING:
    from tui.core.net.tls import CertificateInfo


class ErrorKind(StrEnum):
    """What went wrong, in words the engine and the UI can switch on."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    TLS = "tls"
    UNTRUSTED_CERTIFICATE = "untrusted_certificate"
    STARTTLS_UNAVAILABLE = "starttls_unavailable"
    AUTH = "auth"
    IN_USE = "in_use"
    LOGIN_DELAY = "login_delay"
    SERVER_TEMPORARY = "server_temporary"
    SERVER_PERMANENT = "server_permanent"
    PROTOCOL = "protocol"
    COMMAND_REJECTED = "command_rejected"
    SIZE_MISMATCH = "size_mismatch"
    UIDL_UNSUPPORTED = "uidl_unsupported"


class Pop3Error(PoptuiError):
    """Base of every POP3 failure."""

    kind: ClassVar[ErrorKind] = ErrorKind.PROTOCOL

    def __init_subclass__(cls, *, kind: ErrorKind | None = None, **rest: Any) -> None:
        """`class X(Pop3Error, kind=ErrorKind.Y)` sets the kind in the class line."""
        super().__init_subclass__(**rest)
        if kind is not None:
            cls.kind = kind

    def __init__(self, message: str, *, server_text: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.server_text = server_text
        """The server's own words (cleaned, truncated), empty when it said nothing."""
        self.in_sync = False
        """True when the server answered properly (-ERR), so the session is still usable."""


class ConnectFailed(Pop3Error, kind=ErrorKind.CONNECT):
    """No session: unknown host, refused, unreachable, connect timeout, or a refusing greeting."""


class Pop3Timeout(Pop3Error, kind=ErrorKind.TIMEOUT):
    """The server stopped answering after the connection was made."""


class ConnectionLost(Pop3Error, kind=ErrorKind.CONNECTION_LOST):
    """The connection closed or reset in the middle of the session."""


class TlsFailed(Pop3Error, kind=ErrorKind.TLS):
    """The TLS handshake failed for a reason other than an untrusted certificate."""


class UntrustedCertificate(Pop3Error, kind=ErrorKind.UNTRUSTED_CERTIFICATE):
    """The certificate failed verification or does not match the pin; the UI may offer to pin it.

    The SMTP check raises it too, so the app offers the same choice for either server.
    """

    def __init__(self, message: str, certificate: CertificateInfo | None) -> None:
        super().__init__(message)
        self.certificate = certificate


def refuse_unpinned(der: bytes, pin: str, where: str) -> None:
    """Raise UntrustedCertificate when a pin is set and `der` (the server's certificate, as
    presented at `where`, "host:port") is not the pinned one: POP3 and SMTP word it alike."""
    if not pin:
        return
    presented = pin_mismatch(der, pin)
    if presented is not None:
        raise UntrustedCertificate(
            f"The certificate of {where} does not match the pinned fingerprint: it has "
            "changed since you trusted it.",
            presented,
        )


class StartTlsUnavailable(Pop3Error, kind=ErrorKind.STARTTLS_UNAVAILABLE):
    """STARTTLS was required but the server does not offer or accept STLS; no password was sent."""


class AuthenticationFailed(Pop3Error, kind=ErrorKind.AUTH):
    """The server rejected the credentials.

    `host` and `server_text` are what the sync layer needs to attach provider advice (an app
    password, OAuth only) as `hint`; this layer knows nothing of providers.
    """

    provider_advice: ClassVar[bool] = True
    """Whether a provider's password advice (an app password...) may become the hint."""

    def __init__(
        self, message: str, *, host: str = "", server_text: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, server_text=server_text, hint=hint)
        self.host = host


class MailboxInUse(Pop3Error, kind=ErrorKind.IN_USE):
    """[IN-USE]: another client holds the mailbox lock."""


class LoginDelay(Pop3Error, kind=ErrorKind.LOGIN_DELAY):
    """[LOGIN-DELAY]: the server allows only one login every few minutes."""

    def __init__(
        self, message: str, *, server_text: str = "", delay_seconds: int | None = None
    ) -> None:
        super().__init__(message, server_text=server_text)
        self.delay_seconds = delay_seconds
        """The minimum delay from CAPA's LOGIN-DELAY line, when the server announced one."""


class ServerTemporaryError(Pop3Error, kind=ErrorKind.SERVER_TEMPORARY):
    """[SYS/TEMP]: the server has a transient problem."""


class ServerPermanentError(Pop3Error, kind=ErrorKind.SERVER_PERMANENT):
    """[SYS/PERM]: the server has a lasting problem that the user or its administrator must fix."""


class ProtocolError(Pop3Error, kind=ErrorKind.PROTOCOL):
    """The server's reply made no sense, or the client is unusable after an earlier error."""


class CommandRejected(Pop3Error, kind=ErrorKind.COMMAND_REJECTED):
    """A command (RETR, DELE, TOP...) got a plain -ERR; the session itself is still in sync."""

    def __init__(self, message: str, *, server_text: str = "", number: int | None = None) -> None:
        super().__init__(message, server_text=server_text)
        self.number = number
        """The message number the command was about, when there was one."""


class UidlUnsupported(CommandRejected, kind=ErrorKind.UIDL_UNSUPPORTED):
    """The server refused UIDL: mail cannot be left on the server safely."""


class MessageSizeMismatch(Pop3Error, kind=ErrorKind.SIZE_MISMATCH):
    """A message arrived shorter than LIST said: possibly truncated, so it is not accepted."""

    def __init__(self, message: str, *, number: int, expected: int, received: int) -> None:
        super().__init__(message)
        self.number = number
        self.expected = expected
        self.received = received


class ReplyTooLarge(ProtocolError):
    """A reply went past what poptui reads for it (line length, lines or bytes).

    The server controls how much it sends; poptui stops reading at a cap that follows from what
    the server already said, closes the connection without QUIT and deletes nothing.
    """


class TooManyMessages(ProtocolError):
    """STAT announced more messages than one session lists; nothing was read or deleted."""


class UnlistedMessage(ProtocolError):
    """A message the server did not list was asked for; it is never retrieved."""

    def __init__(self, message: str, *, number: int) -> None:
        super().__init__(message)
        self.number = number


class Pop3UsageError(RuntimeError):
    """A programming error in the caller (e.g. a command while pipelined responses are pending)."""


_AUTH_FAILURES: tuple[type[Pop3Error], ...] = (AuthenticationFailed,)
_CONNECTION_FAILURES: tuple[type[Pop3Error], ...] = (
    ConnectFailed,
    Pop3Timeout,
    ConnectionLost,
    TlsFailed,
    UntrustedCertificate,
    StartTlsUnavailable,
    ServerTemporaryError,
    ServerPermanentError,
    ProtocolError,
)


def is_auth_failure(exc: BaseException) -> bool:
    """True when the credentials were rejected (the engine disables after 10 in a row)."""
    return isinstance(exc, _AUTH_FAILURES)


def is_connection_failure(exc: BaseException) -> bool:
    """True when no usable session could be had (the engine disables after 50 in a row).

    [IN-USE] and [LOGIN-DELAY] are neither: they are expected, short-lived refusals.
    """
    return isinstance(exc, _CONNECTION_FAILURES)


# ------------------------------------------------------------------ -ERR replies to errors


_RESP_CODE = re.compile(r"^\s*\[([A-Za-z0-9/\-]+)[^\]]*\]\s*")
_NON_AUTH_CODES = frozenset({"IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"})


def response_code(text: str) -> str:
    """`[IN-USE] Mailbox locked` -> `IN-USE` (RFC 2449); "" when there is none."""
    match = _RESP_CODE.match(text)
    return match.group(1).upper() if match else ""


def error_for_reply(
    text: str,
    context: str,
    *,
    host: str,
    port: int,
    number: int | None = None,
    login_delay: int | None = None,
) -> Pop3Error:
    """The error a -ERR `text` means in `context` ("greeting", "auth" or the command's verb).

    Response codes (RFC 2449/3206) decide first; `number` is the message the command was about.
    """
    server_text = one_line(text, SERVER_TEXT_LIMIT)
    code = response_code(server_text)
    if code == "AUTH" or (context == "auth" and code not in _NON_AUTH_CODES):
        said = f" The server said: {server_text}" if server_text else ""
        return AuthenticationFailed(
            f"The password was rejected by {host}.{said}", host=host, server_text=server_text
        )
    if code == "IN-USE":
        return MailboxInUse(
            f"The mailbox at {host} is in use by another client; retrying later.",
            server_text=server_text,
        )
    if code == "LOGIN-DELAY":
        return LoginDelay(
            f"{host} allows logging in only every few minutes; retrying later.",
            server_text=server_text,
            delay_seconds=login_delay,
        )
    if code == "SYS/TEMP":
        return ServerTemporaryError(
            f"{host} has a temporary problem: {server_text}", server_text=server_text
        )
    if code == "SYS/PERM":
        return ServerPermanentError(
            f"{host} reports a lasting problem: {server_text}", server_text=server_text
        )
    if context == "greeting":
        return ConnectFailed(
            f"{host}:{port} refused the session: {server_text}", server_text=server_text
        )
    if code:
        return CommandRejected(
            f"{host} refused {context}: {server_text}", server_text=server_text, number=number
        )
    what = f"{context} {number}" if number is not None else context
    return CommandRejected(
        f"{host} refused {what}: {server_text or '(no reason given)'}",
        server_text=server_text,
        number=number,
    )
