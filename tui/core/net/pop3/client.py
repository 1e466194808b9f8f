"""A POP3 client on raw sockets: TLS/STLS done safely, SASL PLAIN, pipelined streaming RETR.

Written instead of using `poplib` because poplib does not verify certificates unless given a
context, breaks on lines over 2048 bytes, cannot pipeline and has no default timeout. Domain
core: no Textual imports. Not thread-safe: one client belongs to one worker thread.

Safety rules the engine relies on:

* DELE only marks; the server deletes at QUIT. `quit()` is the only call that commits
  deletions; `abort()` (and any error) closes the socket without QUIT, so nothing is deleted.
* After a timeout, a dropped connection or a response that does not parse, the client is
  *broken*: every further command raises `ProtocolError` and only `abort()` is allowed, so no
  DELE or QUIT can ever be sent on a desynchronised stream.
* A message is only accepted once its `CRLF.CRLF` terminator has arrived, and never when it is
  shorter than the size LIST announced.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import hashlib
import importlib
import logging
import os
import re
import socket
import ssl
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Self, cast

from tui.core.storage.settings import Security

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
"""Seconds any connect, handshake, read or write may take before the session is given up."""

_RECV_SIZE = 256 * 1024
_MAX_STATUS_LINE = 64 * 1024
"""A status or listing line longer than this is not POP3: refuse it instead of buffering."""
_SERVER_TEXT_LIMIT = 200


# --------------------------------------------------------------------------- errors


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
    COMMAND_FAILED = "command_failed"
    SIZE_MISMATCH = "size_mismatch"
    UIDL_UNSUPPORTED = "uidl_unsupported"


class Pop3Error(Exception):
    """Base of every POP3 failure; `message` is meant for the user and never holds a password."""

    kind: ClassVar[ErrorKind] = ErrorKind.PROTOCOL

    def __init__(self, message: str, *, server_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.server_text = server_text
        """The server's own words (sanitised, truncated), empty when it said nothing."""
        self.in_sync = False
        """True when the server answered properly (-ERR), so the session is still usable."""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConnectFailed(Pop3Error):
    """No session: unknown host, refused, unreachable, connect timeout, or a refusing greeting."""

    kind = ErrorKind.CONNECT


class Pop3Timeout(Pop3Error):
    """The server stopped answering after the connection was made."""

    kind = ErrorKind.TIMEOUT


class ConnectionLost(Pop3Error):
    """The connection closed or reset in the middle of the session."""

    kind = ErrorKind.CONNECTION_LOST


class TlsFailed(Pop3Error):
    """The TLS handshake failed for a reason other than an untrusted certificate."""

    kind = ErrorKind.TLS


class UntrustedCertificate(Pop3Error):
    """The certificate failed verification or does not match the pin; the UI may offer to pin it."""

    kind = ErrorKind.UNTRUSTED_CERTIFICATE

    def __init__(self, message: str, certificate: CertificateInfo | None) -> None:
        super().__init__(message)
        self.certificate = certificate


class StartTlsUnavailable(Pop3Error):
    """STARTTLS was required but the server does not offer or accept STLS; no password was sent."""

    kind = ErrorKind.STARTTLS_UNAVAILABLE


class AuthenticationFailed(Pop3Error):
    """The server rejected the credentials; `hint` carries provider advice (app password, OAuth)."""

    kind = ErrorKind.AUTH

    def __init__(self, message: str, *, server_text: str = "", hint: str | None = None) -> None:
        super().__init__(message, server_text=server_text)
        self.hint = hint


class MailboxInUse(Pop3Error):
    """[IN-USE]: another client holds the mailbox lock."""

    kind = ErrorKind.IN_USE


class LoginDelay(Pop3Error):
    """[LOGIN-DELAY]: the server allows only one login every few minutes."""

    kind = ErrorKind.LOGIN_DELAY

    def __init__(
        self, message: str, *, server_text: str = "", delay_seconds: int | None = None
    ) -> None:
        super().__init__(message, server_text=server_text)
        self.delay_seconds = delay_seconds
        """The minimum delay from CAPA's LOGIN-DELAY line, when the server announced one."""


class ServerTemporaryError(Pop3Error):
    """[SYS/TEMP]: the server has a transient problem."""

    kind = ErrorKind.SERVER_TEMPORARY


class ServerPermanentError(Pop3Error):
    """[SYS/PERM]: the server has a lasting problem that the user or its administrator must fix."""

    kind = ErrorKind.SERVER_PERMANENT


class ProtocolError(Pop3Error):
    """The server's reply made no sense, or the client is unusable after an earlier error."""

    kind = ErrorKind.PROTOCOL


class CommandFailed(Pop3Error):
    """A command (RETR, DELE, TOP...) got a plain -ERR; the session itself is still in sync."""

    kind = ErrorKind.COMMAND_FAILED

    def __init__(self, message: str, *, server_text: str = "", number: int | None = None) -> None:
        super().__init__(message, server_text=server_text)
        self.number = number
        """The message number the command was about, when there was one."""


class UidlUnsupported(CommandFailed):
    """The server refused UIDL: mail cannot be left on the server safely."""

    kind = ErrorKind.UIDL_UNSUPPORTED


class MessageSizeMismatch(Pop3Error):
    """A message arrived shorter than LIST said: possibly truncated, so it is not accepted."""

    kind = ErrorKind.SIZE_MISMATCH

    def __init__(self, message: str, *, number: int, expected: int, received: int) -> None:
        super().__init__(message)
        self.number = number
        self.expected = expected
        self.received = received


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


# ---------------------------------------------------------------------- certificates


class CertificateProblem(StrEnum):
    """Why a certificate was not trusted."""

    NONE = "none"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    SELF_SIGNED = "self_signed"
    UNKNOWN_ISSUER = "unknown_issuer"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    PIN_MISMATCH = "pin_mismatch"
    OTHER = "other"


@dataclass(frozen=True)
class CertificateInfo:
    """What the user needs to decide whether to pin a server's certificate."""

    sha256: str
    """SHA-256 of the DER certificate, uppercase hex pairs joined by colons."""
    subject: str
    issuer: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    san: tuple[str, ...]
    """Subject alternative names: DNS names and IP addresses as text."""
    reason: str = ""
    """Why it was not trusted, in words (empty when it was)."""
    problem: CertificateProblem = CertificateProblem.NONE

    @property
    def self_signed(self) -> bool:
        return bool(self.subject) and self.subject == self.issuer


def format_fingerprint(der: bytes) -> str:
    """SHA-256 of `der` as `AB:CD:...`, the form shown to users and stored as a pin."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(text: str) -> str:
    """A pinned fingerprint as 64 lowercase hex digits; colons, spaces and case are ignored.

    Raises ValueError when it is not a SHA-256 fingerprint, so a typo never silently disables
    verification.
    """
    cleaned = re.sub(r"[\s:]", "", text).lower()
    if cleaned.startswith("sha256"):
        cleaned = cleaned.removeprefix("sha256").lstrip("=")
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise ValueError("a pinned certificate fingerprint must be 64 hex digits (SHA-256)")
    return cleaned


def certificate_info(
    der: bytes, *, reason: str = "", problem: CertificateProblem = CertificateProblem.NONE
) -> CertificateInfo:
    """Describe a DER certificate; details degrade to the fingerprint if it cannot be parsed."""
    fields = _parse_with_cryptography(der) or _parse_with_stdlib(der)
    if fields is None:
        fields = ("(details unavailable)", "(details unavailable)", None, None, ())
    subject, issuer, not_before, not_after, san = fields
    return CertificateInfo(
        sha256=format_fingerprint(der),
        subject=subject,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        san=san,
        reason=reason,
        problem=problem,
    )


_CertFields = tuple[str, str, dt.datetime | None, dt.datetime | None, tuple[str, ...]]


def _parse_with_cryptography(der: bytes) -> _CertFields | None:
    # `cryptography` is normally present (keyring's Secret Service backend needs it) but is not
    # a declared dependency, so it is optional here.
    try:
        from cryptography import x509
    except ImportError:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        san: list[str] = []
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            san.extend(ext.get_values_for_type(x509.DNSName))
            san.extend(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            pass
        return (
            cert.subject.rfc4514_string(),
            cert.issuer.rfc4514_string(),
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            tuple(san),
        )
    except Exception:  # a malformed certificate must not hide the fingerprint
        log.debug("could not parse certificate with cryptography", exc_info=True)
        return None


def _parse_with_stdlib(der: bytes) -> _CertFields | None:
    # CPython's private decoder (used by its own test-suite); only a fallback.
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    path = ""
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
            fh.write(ssl.DER_cert_to_PEM_cert(der))
            path = fh.name
        info = cast(dict[str, Any], decode(path))
    except Exception:
        return None
    finally:
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def name(rdns: Any) -> str:
        return ", ".join(f"{k}={v}" for rdn in rdns or () for (k, v) in rdn)

    def when(value: Any) -> dt.datetime | None:
        if not value:
            return None
        return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(value), dt.UTC)

    san = tuple(str(v) for (_k, v) in info.get("subjectAltName", ()))
    return (
        name(info.get("subject")),
        name(info.get("issuer")),
        when(info.get("notBefore")),
        when(info.get("notAfter")),
        san,
    )


# OpenSSL X509_V_ERR_* codes worth explaining to a user.
_VERIFY_PROBLEMS: dict[int, tuple[CertificateProblem, str]] = {
    2: (CertificateProblem.UNKNOWN_ISSUER, "issued by an unknown certificate authority"),
    9: (CertificateProblem.NOT_YET_VALID, "the certificate is not valid yet"),
    10: (CertificateProblem.EXPIRED, "the certificate has expired"),
    18: (CertificateProblem.SELF_SIGNED, "self-signed certificate"),
    19: (CertificateProblem.SELF_SIGNED, "self-signed certificate in the chain"),
    20: (CertificateProblem.UNKNOWN_ISSUER, "issued by an unknown certificate authority"),
    21: (CertificateProblem.UNKNOWN_ISSUER, "issued by an unknown certificate authority"),
    23: (CertificateProblem.REVOKED, "the certificate has been revoked"),
    62: (CertificateProblem.HOSTNAME_MISMATCH, "host name mismatch"),
    64: (CertificateProblem.HOSTNAME_MISMATCH, "host name mismatch"),
}


def _describe_verify_error(
    exc: ssl.SSLCertVerificationError, host: str
) -> tuple[CertificateProblem, str]:
    code = getattr(exc, "verify_code", None)
    problem, reason = _VERIFY_PROBLEMS.get(
        code if isinstance(code, int) else -1,
        (CertificateProblem.OTHER, str(getattr(exc, "verify_message", "") or exc)),
    )
    if problem is CertificateProblem.HOSTNAME_MISMATCH:
        reason = f"host name mismatch: the certificate is not valid for {host}"
    return problem, reason


def _verifying_context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext:
    if ca_file is not None:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    return ssl.create_default_context()


def _non_verifying_context() -> ssl.SSLContext:
    # Only for a pinned certificate (checked by fingerprint right after the handshake) and for
    # reading an untrusted certificate on a connection that is closed straight away.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@dataclass(frozen=True)
class _TlsPolicy:
    context: ssl.SSLContext
    pin: str = ""
    """Normalised pinned fingerprint; empty when the certificate is verified normally."""
    probe: bool = False
    """Only read the certificate: stop right after the handshake."""


class _ProbeDone(Exception):
    def __init__(self, der: bytes) -> None:
        super().__init__("probe")
        self.der = der


class _VerifyFailed(Exception):
    def __init__(self, problem: CertificateProblem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


# ---------------------------------------------------------------------- text helpers

_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def sanitize_server_text(text: str, limit: int = _SERVER_TEXT_LIMIT) -> str:
    """Server words made safe to show: control, C1 and bidi characters removed, truncated."""
    text = _UNSAFE_CHARS.sub("", text.replace("\t", " ").replace("\n", " ").replace("\r", " "))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


_RESP_CODE = re.compile(r"^\s*\[([A-Za-z0-9/\-]+)[^\]]*\]\s*")


def _split_response_code(text: str) -> tuple[str, str]:
    """`[IN-USE] Mailbox locked` -> (`IN-USE`, `Mailbox locked`)."""
    match = _RESP_CODE.match(text)
    if not match:
        return "", text
    return match.group(1).upper(), text[match.end() :]


_FALLBACK_HINTS: dict[str, str] = {
    "outlook.office365.com": (
        "Outlook.com and Microsoft 365 have switched password login off for POP: "
        "they accept only OAuth sign-in."
    ),
    "pop-mail.outlook.com": (
        "Outlook.com and Microsoft 365 have switched password login off for POP: "
        "they accept only OAuth sign-in."
    ),
    "pop.gmail.com": (
        "Gmail needs an app password when 2-Step Verification is on; some Google Workspace "
        "domains have password login switched off (OAuth only)."
    ),
}


def auth_failure_hint(host: str, server_text: str) -> str | None:
    """Provider advice for a rejected password, from `tui.core.setup.providers` when available."""
    try:
        providers = importlib.import_module("tui.core.setup.providers")
        hint_fn = cast(
            "Callable[[str, str], str | None] | None",
            getattr(providers, "hint_for_auth_failure", None),
        )
    except ImportError:
        hint_fn = None
    if hint_fn is not None:
        try:
            return hint_fn(host, server_text)
        except Exception:  # advice must never hide the real error
            log.debug("hint_for_auth_failure failed", exc_info=True)
    return _FALLBACK_HINTS.get(host.strip().rstrip(".").lower())


def _describe_connect_error(exc: OSError, timeout: float) -> str:
    if isinstance(exc, socket.gaierror):
        return "the server name could not be found (check the spelling, or are you offline?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the port right?)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s (is the port right? is a firewall in the way?)"
    if exc.errno == errno.ENETUNREACH:
        return "network unreachable (are you online?)"
    if exc.errno == errno.EHOSTUNREACH:
        return "host unreachable"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


# ---------------------------------------------------------------------------- client


class Pop3Client:
    """One POP3 session. Build it with `Pop3Client.connect(...)`.

    As a context manager, leaving the block closes the socket without QUIT unless `quit()` was
    called: only an explicit `quit()` commits deletions.
    """

    def __init__(
        self, sock: socket.socket, host: str, port: int, security: Security, timeout: float
    ) -> None:
        self._sock: socket.socket | None = sock
        self.host = host
        self.port = port
        self.security = security
        self.timeout = timeout
        self._buf = bytearray()
        self._chunk = bytearray(_RECV_SIZE)
        self._chunk_view = memoryview(self._chunk)
        self._broken: str = ""
        self._outstanding = 0
        """Pipelined responses sent for but not yet read (only inside `retrieve`)."""
        self._deferred_dele: list[int] = []
        self._secrets: tuple[str, ...] = ()
        self._authenticated = False
        self._capa_supported: bool | None = None
        self._uidl_supported: bool | None = None
        self.greeting = ""
        self.capabilities: dict[str, list[str]] = {}
        """CAPA as `{"SASL": ["PLAIN", "LOGIN"], "PIPELINING": [], ...}`; keys upper-case."""
        self._peer_der: bytes | None = None
        self._certificate: CertificateInfo | None = None
        self.bytes_read = 0
        self.bytes_sent = 0
        self.messages_retrieved = 0

    # ------------------------------------------------------------------ connect

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        security: Security | str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        pinned_fingerprint: str = "",
        ca_file: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Connect, read the greeting and CAPA, and bring TLS up as `security` demands.

        With a pinned fingerprint the certificate chain and host name are not checked; the
        certificate must instead be exactly the pinned one. Without a pin, a certificate that
        fails verification raises `UntrustedCertificate` with its details, which are read on a
        second, non-verifying connection that is closed straight after the handshake.
        """
        security = Security(security)
        if not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        host = host.strip()
        if pinned_fingerprint.strip():
            pin = normalize_fingerprint(pinned_fingerprint)
            policy = _TlsPolicy(_non_verifying_context(), pin=pin)
        elif security is Security.NONE:
            # No TLS on this connection: skip loading the system CA store (tens of ms).
            policy = _TlsPolicy(_non_verifying_context())
        else:
            policy = _TlsPolicy(_verifying_context(ca_file))
        try:
            return cls._open(host, port, security, timeout, policy)
        except _VerifyFailed as failed:
            info = cls._probe_certificate(host, port, security, timeout, failed)
            raise UntrustedCertificate(
                f"The certificate of {host}:{port} is not trusted: {failed.reason}.",
                info,
            ) from None

    @classmethod
    def _probe_certificate(
        cls,
        host: str,
        port: int,
        security: Security,
        timeout: float,
        failed: _VerifyFailed,
    ) -> CertificateInfo | None:
        """Read the untrusted certificate over a non-verifying connection, then close it."""
        try:
            cls._open(
                host, port, security, timeout, _TlsPolicy(_non_verifying_context(), probe=True)
            )
        except _ProbeDone as done:
            return certificate_info(done.der, reason=failed.reason, problem=failed.problem)
        except Pop3Error as exc:
            log.debug("could not read the untrusted certificate: %s", exc)
        return None

    @classmethod
    def _open(
        cls, host: str, port: int, security: Security, timeout: float, policy: _TlsPolicy
    ) -> Self:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConnectFailed(
                f"Could not connect to {host}:{port}: {_describe_connect_error(exc, timeout)}"
            ) from None
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = cls(sock, host, port, security, timeout)
        try:
            if security is Security.SSL:
                client._start_tls(policy)
            client._read_greeting()
            client._load_capabilities()
            if security is Security.STARTTLS:
                client._starttls(policy)
        except BaseException:
            client.abort()
            raise
        return client

    def _read_greeting(self) -> None:
        try:
            line = self._read_line()
        except Pop3Timeout:
            hint = (
                "" if self.security is Security.SSL else " (does this port expect TLS? try SSL/TLS)"
            )
            raise Pop3Timeout(
                f"{self.host}:{self.port} sent no POP3 greeting within {self.timeout:g} s{hint}"
            ) from None
        text = self._decode(line)
        if line.startswith(b"+OK"):
            self.greeting = sanitize_server_text(text[3:], limit=500)
            return
        if line.startswith(b"-ERR"):
            server_text = sanitize_server_text(text[4:])
            code, _ = _split_response_code(server_text)
            if code:
                raise self._coded_error(code, server_text, "greeting")
            raise ConnectFailed(
                f"{self.host}:{self.port} refused the session: {server_text}",
                server_text=server_text,
            )
        self._mark_broken("no POP3 greeting")
        shown = sanitize_server_text(text, limit=60)
        raise ProtocolError(
            f"{self.host}:{self.port} does not look like a POP3 server (it said {shown!r})"
        )

    def _load_capabilities(self) -> None:
        """Send CAPA (RFC 2449); a server without it is remembered as such and left alone."""
        if self._capa_supported is False:
            return
        self._send_line("CAPA")
        ok, _text = self._read_status()
        if not ok:
            self._capa_supported = False
            self.capabilities = {}
            return
        self._capa_supported = True
        caps: dict[str, list[str]] = {}
        for raw in self._read_multiline().split(b"\r\n"):
            words = self._decode(raw).split()
            if words:
                caps[words[0].upper()] = words[1:]
        self.capabilities = caps

    def _starttls(self, policy: _TlsPolicy) -> None:
        if "STLS" not in self.capabilities:
            raise StartTlsUnavailable(
                f"{self.host}:{self.port} does not offer STARTTLS (STLS). The password was not "
                "sent. Choose SSL/TLS (usually port 995) if the server supports it."
            )
        self._send_line("STLS")
        ok, text = self._read_status()
        if not ok:
            raise StartTlsUnavailable(
                f"{self.host}:{self.port} refused STARTTLS: {sanitize_server_text(text)}. "
                "The password was not sent.",
                server_text=sanitize_server_text(text),
            )
        # RFC 2595 / CVE-2011-0411 class of attacks: anything that arrived together with the
        # +OK was injected in clear text by someone on the path; never read it as a reply.
        if self._buf:
            log.warning(
                "discarding %d bytes sent in clear after STLS by %s", len(self._buf), self.host
            )
            self._buf.clear()
        self._start_tls(policy)
        # Capabilities learnt in clear text could have been forged: ask again.
        self._capa_supported = None
        self._load_capabilities()

    def _start_tls(self, policy: _TlsPolicy) -> None:
        sock = self._sock
        assert sock is not None
        self._sock = None
        try:
            tls = policy.context.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            problem, reason = _describe_verify_error(exc, self.host)
            raise _VerifyFailed(problem, reason) from None
        except TimeoutError:
            sock.close()
            raise Pop3Timeout(
                f"The TLS handshake with {self.host}:{self.port} timed out after {self.timeout:g} s"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise TlsFailed(self._tls_failure_text(exc)) from None
        self._sock = tls
        tls.settimeout(self.timeout)
        der = tls.getpeercert(binary_form=True)
        if not der:
            raise TlsFailed(f"{self.host}:{self.port} presented no certificate")
        if policy.probe:
            raise _ProbeDone(der)
        if policy.pin:
            actual = hashlib.sha256(der).hexdigest()
            if actual != policy.pin:
                reason = "the certificate does not match the one you trusted (it has changed)"
                raise UntrustedCertificate(
                    f"The certificate of {self.host}:{self.port} does not match the pinned "
                    "fingerprint: it has changed since you trusted it.",
                    certificate_info(der, reason=reason, problem=CertificateProblem.PIN_MISMATCH),
                )
        self._peer_der = der

    @property
    def certificate(self) -> CertificateInfo | None:
        """The server's certificate once TLS is up (None for Security.NONE).

        Described on first use: parsing it costs more than a whole "nothing new" fetch needs.
        """
        if self._certificate is None and self._peer_der is not None:
            self._certificate = certificate_info(self._peer_der)
        return self._certificate

    def _tls_failure_text(self, exc: BaseException) -> str:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        text = f"TLS with {self.host}:{self.port} failed: {str(reason).lower().replace('_', ' ')}"
        if isinstance(exc, ssl.SSLError) and exc.reason in (
            "WRONG_VERSION_NUMBER",
            "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG",
            "UNKNOWN_PROTOCOL",
        ):
            text += " (the server did not speak TLS: is this a STARTTLS or plain port?)"
        return text

    # ------------------------------------------------------------------- state

    @property
    def supports_pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    @property
    def supports_top(self) -> bool:
        return "TOP" in self.capabilities

    @property
    def supports_uidl(self) -> bool:
        """From CAPA; without CAPA, probed once with a UIDL command after login."""
        if self._uidl_supported is not None:
            return self._uidl_supported
        if self._capa_supported:
            return "UIDL" in self.capabilities
        if not self._authenticated or not self.usable:
            return False
        try:
            self.uidl()
        except UidlUnsupported:
            self._uidl_supported = False
        return bool(self._uidl_supported)

    @property
    def login_delay_seconds(self) -> int | None:
        """CAPA `LOGIN-DELAY n`: the server's minimum seconds between logins, if announced."""
        values = self.capabilities.get("LOGIN-DELAY") or []
        return int(values[0]) if values and values[0].isdigit() else None

    @property
    def usable(self) -> bool:
        """Open and not broken: commands may be sent."""
        return self._sock is not None and not self._broken

    @property
    def closed(self) -> bool:
        return self._sock is None

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else ("broken" if self._broken else "open")
        return f"<Pop3Client {self.host}:{self.port} {self.security.value} {state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    # ---------------------------------------------------------------- commands

    def login(self, username: str, password: str) -> None:
        """Authenticate with SASL PLAIN when CAPA offers it, else USER/PASS. Never APOP.

        Re-reads CAPA afterwards, since servers may announce more (e.g. PIPELINING) once
        logged in.
        """
        self._begin_command()
        if self._authenticated:
            raise Pop3UsageError("already logged in")
        if any(c in username or c in password for c in "\r\n\0"):
            raise AuthenticationFailed(
                "The user name or password contains a line break or NUL character, which POP3 "
                "cannot send. Nothing was sent to the server."
            )
        plain_ir = base64.b64encode(
            b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")
        ).decode("ascii")
        self._secrets = tuple(s for s in (password, plain_ir) if s)
        try:
            mechanisms = [m.upper() for m in self.capabilities.get("SASL", [])]
            if "PLAIN" in mechanisms:
                self._auth_plain(plain_ir)
            else:
                self._user_pass(username, password)
        finally:
            self._secrets = ()
        self._authenticated = True
        if self._capa_supported:
            self._load_capabilities()

    def _auth_plain(self, initial_response: str) -> None:
        self._send_line(f"AUTH PLAIN {initial_response}", shown="AUTH PLAIN ********")
        ok, text = self._read_status(allow_continuation=True)
        if ok is None:
            # A server that ignores the RFC 5034 initial response: cancel rather than guess.
            self._send_line("*")
            self._read_status()
            raise ProtocolError(
                f"{self.host} did not accept the SASL PLAIN initial response (RFC 5034)"
            )
        if not ok:
            raise self._error_for(text, "auth")

    def _user_pass(self, username: str, password: str) -> None:
        self._send_line(f"USER {username}")
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "auth")
        self._send_line(f"PASS {password}", shown="PASS ********")
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "auth")

    def stat(self) -> tuple[int, int]:
        """(message count, mailbox size in octets)."""
        text = self._simple("STAT")
        parts = text.split()
        try:
            return int(parts[0]), int(parts[1])
        except (IndexError, ValueError):
            raise self._desync(f"bad STAT reply {sanitize_server_text(text, 60)!r}") from None

    def list_sizes(self) -> dict[int, int]:
        """{message number: size in octets (CRLF line ends)} for every message."""
        self._begin_command()
        self._send_line("LIST")
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "LIST")
        sizes: dict[int, int] = {}
        for number, value in self._listing():
            try:
                sizes[number] = int(value)
            except ValueError:
                raise self._desync(f"bad LIST line for message {number}") from None
        return sizes

    def uidl(self) -> list[tuple[int, str]]:
        """[(message number, unique id)]; raises UidlUnsupported when the server refuses."""
        self._begin_command()
        self._send_line("UIDL")
        ok, text = self._read_status()
        if not ok:
            err = self._error_for(text, "UIDL")
            if type(err) is CommandFailed:
                self._uidl_supported = False
                unsupported = UidlUnsupported(
                    f"{self.host} does not support UIDL, so mail cannot safely be left on the "
                    f"server (it said: {err.server_text})",
                    server_text=err.server_text,
                )
                unsupported.in_sync = True
                raise unsupported
            raise err
        self._uidl_supported = True
        return self._listing()

    def _listing(self) -> list[tuple[int, str]]:
        result: list[tuple[int, str]] = []
        for raw in self._read_multiline().split(b"\r\n"):
            if not raw:
                continue
            parts = raw.split()
            if len(parts) < 2 or not parts[0].isdigit():
                shown = sanitize_server_text(self._decode(raw), 60)
                raise self._desync(f"bad listing line {shown!r}")
            result.append((int(parts[0]), parts[1].decode("latin-1")))
        return result

    def top(self, number: int, lines: int = 0) -> bytes:
        """Headers (and `lines` body lines) of a message, un-dot-stuffed, CRLF kept."""
        self._begin_command()
        self._send_line(f"TOP {int(number)} {int(lines)}")
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "TOP", number)
        return self._read_multiline()

    def retrieve(
        self,
        numbers: Iterable[int],
        *,
        expected_sizes: Mapping[int, int] | None = None,
        batch: int = 50,
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (number, raw message) in order as each arrives.

        With PIPELINING, up to `batch` RETR commands are kept in flight (refilled half a
        batch at a time); otherwise one at a time. A message is yielded only when complete,
        un-dot-stuffed, with its CRLF line ends. With `expected_sizes` (from LIST) a message
        shorter than announced raises MessageSizeMismatch; a longer one is accepted (some
        servers count stored LF line ends), up to twice the announced size.

        `dele()` called while responses are still in flight is deferred until the pipeline is
        empty and always happens before any later command, QUIT included. Closing the
        iterator early reads and discards the responses still in flight, so the session stays
        usable; if that fails the client is broken. A -ERR for one RETR raises CommandFailed
        (with `.number`) after the same drain.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._begin_command()
        window = batch if self.supports_pipelining else 1
        return self._retrieve(list(numbers), expected_sizes or {}, window)

    def _retrieve(
        self, numbers: list[int], sizes: Mapping[int, int], window: int
    ) -> Generator[tuple[int, bytes], None, None]:
        todo = deque(int(n) for n in numbers)
        pending: deque[int] = deque()
        """Numbers whose RETR was sent and whose response has not been read at all."""
        try:
            while todo or pending:
                if len(pending) <= window // 2 and todo:
                    commands = []
                    while todo and len(pending) < window:
                        n = todo.popleft()
                        pending.append(n)
                        commands.append(b"RETR %d\r\n" % n)
                    self._outstanding = len(pending)
                    self._send(b"".join(commands), shown=f"RETR x{len(commands)}")
                number = pending.popleft()
                # On a clean -ERR or a size mismatch this response has been read completely,
                # so only the ones still in `pending` need draining.
                raw = self._read_retr(number, sizes.get(number))
                self._outstanding = len(pending)
                self.messages_retrieved += 1
                yield number, raw
        finally:
            self._outstanding = 0
            if pending and self.usable:
                self._drain(len(pending))
        self._flush_deferred()

    def _read_retr(self, number: int, expected: int | None) -> bytes:
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "RETR", number)
        limit = None if expected is None else 2 * expected + 1024
        raw = self._read_multiline(limit=limit)
        if expected is not None and len(raw) < expected:
            # In sync (the terminator arrived), but the message is shorter than announced.
            err = MessageSizeMismatch(
                f"Message {number} from {self.host} is {len(raw)} bytes but the server "
                f"announced {expected}; it may be truncated, so it was not accepted.",
                number=number,
                expected=expected,
                received=len(raw),
            )
            err.in_sync = True
            raise err
        return raw

    def _drain(self, count: int) -> None:
        """Read and discard `count` pipelined RETR responses so the stream is back in sync."""
        try:
            for _ in range(count):
                ok, _text = self._read_status()
                if ok:
                    self._read_multiline()
        except BaseException:
            self._mark_broken("could not drain pipelined responses")
            raise

    def dele(self, number: int) -> None:
        """Mark a message for deletion; it is removed only if the session ends with `quit()`."""
        if self._outstanding and self.usable:
            self._deferred_dele.append(int(number))
            return
        self._begin_command()
        self._send_line(f"DELE {int(number)}")
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, "DELE", number)

    def dele_many(self, numbers: Iterable[int]) -> None:
        """Mark several messages for deletion, pipelined when the server allows it.

        One round trip per 50 messages instead of one per message. If the server refuses
        some, the rest are still marked and CommandFailed names the refused ones.
        """
        wanted = [int(n) for n in numbers]
        if self._outstanding and self.usable:
            self._deferred_dele.extend(wanted)
            return
        self._begin_command()
        self._deferred_dele = wanted
        self._flush_deferred()

    def _flush_deferred(self) -> None:
        if not self._deferred_dele:
            return
        numbers, self._deferred_dele = self._deferred_dele, []
        window = 50 if self.supports_pipelining else 1
        refused: list[tuple[int, str]] = []
        for start in range(0, len(numbers), window):
            chunk = numbers[start : start + window]
            self._send(b"".join(b"DELE %d\r\n" % n for n in chunk), shown=f"DELE x{len(chunk)}")
            for n in chunk:
                ok, text = self._read_status()
                if not ok:
                    refused.append((n, sanitize_server_text(text)))
        if refused:
            shown = ", ".join(str(n) for n, _ in refused[:10])
            err = CommandFailed(
                f"{self.host} refused to delete message(s) {shown}: {refused[0][1]}",
                server_text=refused[0][1],
                number=refused[0][0],
            )
            err.in_sync = True
            raise err

    def rset(self) -> None:
        """Unmark every message marked for deletion in this session."""
        self._simple("RSET")

    def noop(self) -> None:
        self._simple("NOOP")

    def quit(self) -> None:
        """Send QUIT and close: this is what makes the server delete DELE'd messages.

        A -ERR to QUIT means the server could not remove them (RFC 1939): raised as
        ServerTemporaryError. The socket is closed in every case.
        """
        if self._sock is not None and self._broken:
            reason = self._broken
            self.abort()
            raise ProtocolError(
                f"The connection to {self.host} was closed without QUIT after an earlier error "
                f"({reason}); nothing was deleted."
            )
        try:
            self._begin_command()
            self._send_line("QUIT")
            ok, text = self._read_status()
        finally:
            self._close()
        if not ok:
            server_text = sanitize_server_text(text)
            raise ServerTemporaryError(
                f"{self.host} could not remove the deleted messages: {server_text}",
                server_text=server_text,
            )

    def abort(self) -> None:
        """Close the socket without QUIT, so the server deletes nothing. Never raises.

        Safe to call from another thread to interrupt a blocked read (the reader then gets
        ConnectionLost).
        """
        self._deferred_dele = []
        self._close()

    # --------------------------------------------------------------- internals

    def _simple(self, command: str) -> str:
        self._begin_command()
        self._send_line(command)
        ok, text = self._read_status()
        if not ok:
            raise self._error_for(text, command)
        return text

    def _begin_command(self) -> None:
        if self._sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        if self._broken:
            raise ProtocolError(
                f"The connection to {self.host} is unusable after an earlier error "
                f"({self._broken}); it must be aborted."
            )
        if self._outstanding:
            raise Pop3UsageError(
                "pipelined RETR responses are still in flight: finish or close the retrieve() "
                "iterator before sending another command"
            )
        self._flush_deferred()

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf.clear()
        if sock is not None:
            # shutdown() (unlike close()) wakes a recv() blocked in another thread, so abort()
            # also works as a cancel button. A FIN is not a QUIT: nothing gets deleted.
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _mark_broken(self, reason: str) -> None:
        if not self._broken:
            self._broken = reason
            log.debug("POP3 session with %s broken: %s", self.host, reason)

    def _desync(self, what: str) -> ProtocolError:
        self._mark_broken(what)
        return ProtocolError(f"{self.host} sent a reply that makes no sense: {what}")

    def _decode(self, data: bytes) -> str:
        text = data.decode("utf-8", errors="replace")
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def _send_line(self, command: str, *, shown: str | None = None) -> None:
        self._send(command.encode("utf-8") + b"\r\n", shown=shown or command)

    def _send(self, data: bytes, *, shown: str) -> None:
        sock = self._sock
        if sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        log.debug("C: %s", shown)
        try:
            sock.sendall(data)
        except TimeoutError:
            self._mark_broken("write timed out")
            raise Pop3Timeout(
                f"{self.host}:{self.port} stopped accepting data for {self.timeout:g} s"
            ) from None
        except (OSError, ValueError) as exc:
            self._mark_broken("connection lost while sending")
            raise ConnectionLost(
                f"The connection to {self.host}:{self.port} was lost: {exc}"
            ) from None
        self.bytes_sent += len(data)

    def _fill(self) -> None:
        sock = self._sock
        if sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        try:
            # recv_into a reused buffer: recv(256 KiB) would allocate (mmap) 256 KiB per call
            # even though TLS hands back at most one 16 KiB record at a time.
            count = sock.recv_into(self._chunk)
        except TimeoutError:
            self._mark_broken("read timed out")
            raise Pop3Timeout(
                f"{self.host}:{self.port} stopped answering (nothing for {self.timeout:g} s)"
            ) from None
        except ssl.SSLError as exc:
            self._mark_broken("TLS error")
            raise ConnectionLost(
                f"The TLS connection to {self.host}:{self.port} failed: {exc.reason or exc}"
            ) from None
        except OSError as exc:
            self._mark_broken("connection lost")
            raise ConnectionLost(
                f"The connection to {self.host}:{self.port} was lost: "
                f"{(exc.strerror or str(exc)).lower()}"
            ) from None
        if not count:
            self._mark_broken("connection closed by the server")
            raise ConnectionLost(
                f"{self.host}:{self.port} closed the connection in the middle of the session"
            )
        self.bytes_read += count
        self._buf += self._chunk_view[:count]

    def _read_line(self) -> bytes:
        buf = self._buf
        start = 0
        while True:
            end = buf.find(b"\r\n", start)
            if end >= 0:
                line = bytes(buf[:end])
                del buf[: end + 2]
                return line
            if len(buf) > _MAX_STATUS_LINE:
                raise self._desync("a reply line longer than 64 KiB")
            start = max(0, len(buf) - 1)
            self._fill()

    def _read_status(self, *, allow_continuation: bool = False) -> tuple[bool | None, str]:
        """Read one status line: (True, text) for +OK, (False, text) for -ERR.

        With `allow_continuation`, a SASL `+ ` continuation gives (None, text).
        Anything else means the stream is out of step: the client is broken.
        """
        line = self._read_line()
        if line[:3] == b"+OK" and (len(line) == 3 or line[3:4] in b" \t"):
            return True, self._decode(line[4:])
        if line[:4] == b"-ERR" and (len(line) == 4 or line[4:5] in b" \t"):
            return False, self._decode(line[5:])
        if allow_continuation and (line == b"+" or line.startswith(b"+ ")):
            return None, self._decode(line[2:])
        raise self._desync(f"unexpected reply {sanitize_server_text(self._decode(line), 60)!r}")

    def _read_multiline(self, *, limit: int | None = None) -> bytes:
        """Read a dot-terminated body after its status line; returns it un-stuffed, CRLF kept.

        Scans the buffer for CRLF.CRLF chunk by chunk instead of line by line: a 20 MB message
        costs a few hundred recv() calls and one replace(), not 300,000 Python-level lines.
        """
        buf = self._buf
        while len(buf) < 3:
            self._fill()
        if buf[:3] == b".\r\n":
            del buf[:3]
            return b""
        pos = 0
        while True:
            end = buf.find(b"\r\n.\r\n", pos)
            if end >= 0:
                break
            if limit is not None and len(buf) > limit:
                raise self._desync(
                    f"a message far larger than announced ({len(buf)} bytes, more than {limit})"
                )
            pos = max(0, len(buf) - 4)
            self._fill()
        with memoryview(buf) as view:  # one copy instead of two for a large message
            body = bytes(view[: end + 2])
        del buf[: end + 5]
        if body[:2] == b"..":
            body = body[1:]
        if b"\r\n.." in body:
            body = body.replace(b"\r\n..", b"\r\n.")
        return body

    def _error_for(self, text: str, context: str, number: int | None = None) -> Pop3Error:
        """Turn a -ERR into the right exception (RFC 2449/3206 response codes first)."""
        server_text = sanitize_server_text(text)
        code, _rest = _split_response_code(server_text)
        err: Pop3Error
        if code:
            err = self._coded_error(code, server_text, context)
        elif context == "auth":
            err = self._auth_error(server_text)
        else:
            what = f"{context} {number}" if number is not None else context
            err = CommandFailed(
                f"{self.host} refused {what}: {server_text or '(no reason given)'}",
                server_text=server_text,
                number=number,
            )
        err.in_sync = True
        return err

    def _coded_error(self, code: str, server_text: str, context: str) -> Pop3Error:
        if code == "AUTH" or (context == "auth" and code not in _NON_AUTH_CODES):
            return self._auth_error(server_text)
        if code == "IN-USE":
            return MailboxInUse(
                f"The mailbox at {self.host} is in use by another client; retrying later.",
                server_text=server_text,
            )
        if code == "LOGIN-DELAY":
            return LoginDelay(
                f"{self.host} allows logging in only every few minutes; retrying later.",
                server_text=server_text,
                delay_seconds=self.login_delay_seconds,
            )
        if code == "SYS/TEMP":
            return ServerTemporaryError(
                f"{self.host} has a temporary problem: {server_text}", server_text=server_text
            )
        if code == "SYS/PERM":
            return ServerPermanentError(
                f"{self.host} reports a lasting problem: {server_text}", server_text=server_text
            )
        if context == "greeting":
            return ConnectFailed(
                f"{self.host}:{self.port} refused the session: {server_text}",
                server_text=server_text,
            )
        return CommandFailed(
            f"{self.host} refused {context}: {server_text}", server_text=server_text
        )

    def _auth_error(self, server_text: str) -> AuthenticationFailed:
        hint = auth_failure_hint(self.host, server_text)
        said = f" The server said: {server_text}" if server_text else ""
        return AuthenticationFailed(
            f"The password was rejected by {self.host}.{said}",
            server_text=server_text,
            hint=hint,
        )


_NON_AUTH_CODES = frozenset({"IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"})

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthenticationFailed",
    "CertificateInfo",
    "CertificateProblem",
    "CommandFailed",
    "ConnectFailed",
    "ConnectionLost",
    "ErrorKind",
    "LoginDelay",
    "MailboxInUse",
    "MessageSizeMismatch",
    "Pop3Client",
    "Pop3Error",
    "Pop3Timeout",
    "Pop3UsageError",
    "ProtocolError",
    "Security",
    "ServerPermanentError",
    "ServerTemporaryError",
    "StartTlsUnavailable",
    "TlsFailed",
    "UidlUnsupported",
    "UntrustedCertificate",
    "auth_failure_hint",
    "certificate_info",
    "format_fingerprint",
    "is_auth_failure",
    "is_connection_failure",
    "normalize_fingerprint",
    "sanitize_server_text",
]
