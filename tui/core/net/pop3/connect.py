"""Opening a POP3 session: TCP, TLS or STLS as the account demands, the greeting and CAPA.

A certificate that fails verification is read on a second, non-verifying connection closed
straight after the handshake, so the user can see what they are asked to pin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from tui.core.net.certificate_probe import untrusted_certificate
from tui.core.net.failures import SERVER_TEXT_LIMIT, describe_connect_error
from tui.core.net.pop3.errors import (
    ConnectFailed,
    Pop3Error,
    Pop3Timeout,
    ProtocolError,
    StartTlsUnavailable,
    TlsFailed,
    error_for_reply,
    refuse_unpinned,
)
from tui.core.net.pop3.limits import STATUS_LINE
from tui.core.net.pop3.wire import Pop3Wire
from tui.core.net.tls import (
    CertificateProblem,
    client_context,
    describe_tls_failure,
    describe_verify_error,
    pin_from_setting,
)
from tui.core.settings import Security
from tui.core.text import one_line

if TYPE_CHECKING:
    import ssl  # loaded by the TLS context only: a plain session never imports it

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSession:
    """A connection ready for login: greeted, encrypted as asked, capabilities read."""

    wire: Pop3Wire
    capabilities: dict[str, list[str]] | None
    """CAPA's answer; None when the server has no CAPA."""
    peer_der: bytes | None
    """The server's certificate (DER) when TLS is up."""


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


def open_session(
    host: str,
    port: int,
    security: Security,
    *,
    timeout: float,
    pinned_fingerprint: str = "",
    ca_file: str | os.PathLike[str] | None = None,
) -> OpenedSession:
    """Connect, bring TLS up as `security` demands, read the greeting and CAPA.

    With a pinned fingerprint the certificate chain and host name are not checked; the
    certificate must instead be exactly the pinned one. Without a pin, a certificate that
    fails verification raises `UntrustedCertificate` with its details.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    host = host.strip()
    pin = pin_from_setting(pinned_fingerprint)
    # No TLS on a plain connection: no context, no `ssl`, no system CA store (tens of ms).
    policy = None if security is Security.NONE else _TlsPolicy(client_context(pin, ca_file), pin)
    try:
        return _open(host, port, security, timeout, policy)
    except _VerifyFailed as failed:
        read = partial(_read_certificate, host, port, security, timeout)
        raise untrusted_certificate(f"{host}:{port}", failed.problem, failed.reason, read) from None


def _read_certificate(
    host: str, port: int, security: Security, timeout: float, context: ssl.SSLContext
) -> bytes | None:
    """The certificate alone: the probe stops right after the handshake."""
    try:
        _open(host, port, security, timeout, _TlsPolicy(context, probe=True))
    except _ProbeDone as done:
        return done.der
    except Pop3Error as exc:
        log.debug("could not read the untrusted certificate: %s", exc)
    return None


def _open(
    host: str, port: int, security: Security, timeout: float, policy: _TlsPolicy | None
) -> OpenedSession:
    # An ASCII name goes to the resolver as bytes: as a str, socket would encode it with the
    # `idna` codec, importing encodings.idna and unicodedata on every plain "nothing new" run
    # (TLS needs them anyway for the SNI name). The bytes are the same; a malformed name
    # (an empty or over-long label) is then a resolver error worded below, not a UnicodeError.
    address = host.encode("ascii") if host.isascii() else host
    try:
        sock = socket.create_connection((address, port), timeout=timeout)  # type: ignore[arg-type]
    except UnicodeError:  # a non-ASCII name that is no valid international domain name
        raise ConnectFailed(
            f"Could not connect to {host}:{port}: the server name is not a valid host name"
        ) from None
    except OSError as exc:
        raise ConnectFailed(
            f"Could not connect to {host}:{port}: {describe_connect_error(exc, timeout)}"
        ) from None
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire = Pop3Wire(sock, host, port, timeout)
    try:
        der = _start_tls(wire, policy) if policy and security is Security.SSL else None
        _read_greeting(wire, security)
        capabilities = wire.capa()
        if policy and security is Security.STARTTLS:
            der = _starttls(wire, capabilities or {}, policy)
            # Capabilities learnt in clear text could have been forged: ask again.
            capabilities = wire.capa()
    except BaseException:
        wire.close()
        raise
    # Greeting, CAPA and STLS were read with the tight pre-TLS line cap; from here on the
    # session is as encrypted as the account asked for.
    wire.line_limit = STATUS_LINE
    return OpenedSession(wire, capabilities, der)


def _read_greeting(wire: Pop3Wire, security: Security) -> None:
    where = f"{wire.host}:{wire.port}"
    try:
        line = wire.read_line(what="the greeting")
    except Pop3Timeout:
        hint = "" if security is Security.SSL else " (does this port expect TLS? try SSL/TLS)"
        raise Pop3Timeout(
            f"{where} sent no POP3 greeting within {wire.timeout:g} s{hint}"
        ) from None
    if line.startswith(b"+OK"):
        return
    text = wire.decode(line)
    if line.startswith(b"-ERR"):
        raise error_for_reply(text[4:], "greeting", host=wire.host, port=wire.port)
    wire.mark_broken("no POP3 greeting")
    raise ProtocolError(
        f"{where} does not look like a POP3 server (it said {one_line(text, 60)!r})"
    )


def _starttls(wire: Pop3Wire, capabilities: dict[str, list[str]], policy: _TlsPolicy) -> bytes:
    where = f"{wire.host}:{wire.port}"
    if "STLS" not in capabilities:
        raise StartTlsUnavailable(
            f"{where} does not offer STARTTLS (STLS). The password was not "
            "sent. Choose SSL/TLS (usually port 995) if the server supports it."
        )
    wire.send_line("STLS")
    ok, text = wire.read_status()
    if not ok:
        server_text = one_line(text, SERVER_TEXT_LIMIT)
        raise StartTlsUnavailable(
            f"{where} refused STARTTLS: {server_text}. The password was not sent.",
            server_text=server_text,
        )
    # RFC 2595 / CVE-2011-0411 class of attacks: anything that arrived together with the
    # +OK was injected in clear text by someone on the path; never read it as a reply.
    injected = wire.discard_buffered()
    if injected:
        log.warning("discarding %d bytes sent in clear after STLS by %s", injected, wire.host)
    return _start_tls(wire, policy)


def _start_tls(wire: Pop3Wire, policy: _TlsPolicy) -> bytes:
    """TLS up and the certificate checked as `policy` says; returns it (DER)."""
    import ssl  # already loaded: `policy.context` is an SSLContext

    where = f"{wire.host}:{wire.port}"
    try:
        der = wire.start_tls(policy.context)
    except ssl.SSLCertVerificationError as exc:
        raise _VerifyFailed(*describe_verify_error(exc, wire.host)) from None
    except TimeoutError:
        raise Pop3Timeout(
            f"The TLS handshake with {where} timed out after {wire.timeout:g} s"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise TlsFailed(describe_tls_failure(exc, where)) from None
    if not der:
        raise TlsFailed(f"{where} presented no certificate")
    if policy.probe:
        raise _ProbeDone(der)
    refuse_unpinned(der, policy.pin, where)
    return der
