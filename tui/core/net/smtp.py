"""Checking the outgoing (SMTP) side of an account: connect, TLS, login — nothing is sent.

Used by the account form's "Test & save" after the incoming side works. Certificates are
handled exactly as for POP3: verified against the system store and host name, or pinned.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from tui.core.errors import PoptuiError
from tui.core.net.failures import SERVER_TEXT_LIMIT, describe_connect_error
from tui.core.net.pop3.errors import UntrustedCertificate
from tui.core.net.tls import (
    CertificateInfo,
    CertificateProblem,
    certificate_info,
    client_context,
    describe_tls_failure,
    describe_verify_error,
    non_verifying_context,
    normalize_fingerprint,
    pin_mismatch,
)
from tui.core.settings import Security
from tui.core.text import one_line


class SmtpCheckFailed(PoptuiError):
    """The outgoing server could not be used, worded for the user (never holds the password)."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth
        """True when the server rejected the username or password."""


@dataclass(frozen=True)
class SmtpCheckResult:
    host: str
    port: int
    security: Security
    certificate: CertificateInfo | None
    auth_mechanisms: tuple[str, ...]

    def summary(self) -> str:
        return f"Outgoing server {self.host}:{self.port} ({self.security.label}): login OK"


def _check_pin(conn: smtplib.SMTP, pin: str, host: str, port: int) -> CertificateInfo | None:
    sock = conn.sock
    if not isinstance(sock, ssl.SSLSocket):
        return None
    der = sock.getpeercert(binary_form=True) or b""
    if pin:
        presented = pin_mismatch(der, pin)
        if presented is not None:
            raise UntrustedCertificate(
                f"The certificate of {host}:{port} does not match the pinned fingerprint: it "
                "has changed since you trusted it.",
                presented,
            )
    return certificate_info(der)


def _server_said(error: smtplib.SMTPException) -> str:
    """The server's reply inside an smtplib error, cleaned: `535 5.7.8 bad credentials`."""
    if isinstance(error, smtplib.SMTPResponseException):
        said = error.smtp_error
        text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
        return one_line(f"{error.smtp_code} {text}", SERVER_TEXT_LIMIT)
    return one_line(str(error), SERVER_TEXT_LIMIT)


def _open(
    host: str, port: int, security: Security, context: ssl.SSLContext, timeout: float
) -> smtplib.SMTP:
    conn: smtplib.SMTP
    if security is Security.SSL:
        conn = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        conn = smtplib.SMTP(host, port, timeout=timeout)
    conn.ehlo()
    if security is Security.STARTTLS:
        if not conn.has_extn("starttls"):
            conn.close()
            raise SmtpCheckFailed(
                f"{host}:{port} does not offer STARTTLS; poptui will not send a password in "
                "clear text. Choose SSL/TLS (usually port 465) or ask your provider."
            )
        conn.starttls(context=context)
        conn.ehlo()
    return conn


def _probe_certificate(
    host: str,
    port: int,
    security: Security,
    timeout: float,
    problem: CertificateProblem,
    reason: str,
) -> CertificateInfo | None:
    """Read the untrusted certificate over a non-verifying connection, then close it."""
    try:
        conn = _open(host, port, security, non_verifying_context(), timeout)
    except (OSError, smtplib.SMTPException, SmtpCheckFailed):
        return None
    try:
        sock = conn.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        return certificate_info(der, reason=reason, problem=problem) if der else None
    finally:
        conn.close()


def check_outgoing(
    host: str,
    port: int,
    security: Security,
    username: str,
    password: str,
    *,
    timeout: float = 20.0,
    pinned_fingerprint: str = "",
    ca_file: str | None = None,
) -> SmtpCheckResult:
    """Log in to the outgoing server and log out again; raise a specific error otherwise."""
    pin = normalize_fingerprint(pinned_fingerprint) if pinned_fingerprint else ""
    where = f"{host}:{port}"
    try:
        conn = _open(host, port, security, client_context(pin, ca_file), timeout)
    except ssl.SSLCertVerificationError as error:
        problem, reason = describe_verify_error(error, host)
        info = _probe_certificate(host, port, security, timeout, problem, reason)
        raise UntrustedCertificate(
            f"The certificate of {where} is not trusted: {reason}.", info
        ) from None
    except ssl.SSLError as error:
        raise SmtpCheckFailed(describe_tls_failure(error, where)) from None
    except TimeoutError:
        raise SmtpCheckFailed(f"{where} did not answer within {timeout:g} s") from None
    except smtplib.SMTPException as error:  # an OSError too, so it must come first
        raise SmtpCheckFailed(f"{where} refused the session: {_server_said(error)}") from None
    except OSError as error:
        raise SmtpCheckFailed(
            f"Could not connect to {where}: {describe_connect_error(error, timeout)}"
        ) from None
    try:
        certificate = _check_pin(conn, pin, host, port)
        mechanisms = tuple(conn.esmtp_features.get("auth", "").upper().split())
        if username:
            try:
                conn.login(username, password)
            except smtplib.SMTPAuthenticationError as error:
                raise SmtpCheckFailed(
                    f"The outgoing server {where} rejected the username or password "
                    f"(it said: {_server_said(error)})",
                    auth=True,
                ) from None
            except smtplib.SMTPNotSupportedError:
                raise SmtpCheckFailed(
                    f"{where} does not offer login (AUTH) here; with STARTTLS or SSL/TLS it "
                    "usually does"
                ) from None
        try:
            conn.quit()
        except smtplib.SMTPException:
            conn.close()
        return SmtpCheckResult(host, port, security, certificate, mechanisms)
    except BaseException:
        conn.close()
        raise
