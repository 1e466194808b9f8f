"""Checking the outgoing (SMTP) side of an account: connect, TLS, login — nothing is sent.

Used by the account form's "Test & save" after the incoming side works. Certificates are
handled exactly as for POP3: verified against the system store and host name, or pinned.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import dataclass
from functools import partial

from tui.core.errors import PoptuiError
from tui.core.net.certificate_probe import untrusted_certificate
from tui.core.net.failures import SERVER_TEXT_LIMIT, describe_connect_error
from tui.core.net.pop3.auth import BearerToken, Challenge, Mechanism, xoauth2_payload
from tui.core.net.pop3.errors import refuse_unpinned
from tui.core.net.tls import (
    CertificateInfo,
    certificate_info,
    client_context,
    describe_tls_failure,
    describe_verify_error,
    pin_from_setting,
)
from tui.core.settings import Security
from tui.core.text import one_line


class SmtpCheckFailed(PoptuiError):
    """The outgoing server could not be used, worded for the user (never holds the password)."""

    def __init__(self, message: str, *, auth: bool = False, reason: str = "") -> None:
        super().__init__(message)
        self.auth = auth
        """True when the server rejected the username or password (or the token)."""
        self.reason = reason
        """For a refused token: "token expired", "scope missing" or "account not allowed"."""


@dataclass(frozen=True)
class SmtpCheckResult:
    host: str
    port: int
    security: Security
    certificate: CertificateInfo | None
    auth_mechanisms: tuple[str, ...]
    mechanism: str = ""
    """How the check logged in ("PLAIN", "LOGIN", "XOAUTH2"...), empty when it did not."""

    def summary(self) -> str:
        how = f" with {self.mechanism}" if self.mechanism else ""
        return f"Outgoing server {self.host}:{self.port} ({self.security.label}): login OK{how}"


SMTP_AUTH_LINE = 512
"""RFC 4954 §4: an AUTH line with its initial response must fit SMTP's 512-octet line."""


class _Xoauth2:
    """smtplib's `authobject` for XOAUTH2: the payload first (smtplib base64-encodes it), then
    an empty answer to the server's error challenge (a 334 with base64 JSON), kept for words."""

    def __init__(self, username: str, token: str) -> None:
        self.raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
        self.payload = xoauth2_payload(username, token)
        self.sent = False
        self.challenge: Challenge | None = None

    def __call__(self, challenge: bytes | None = None) -> str:
        if not self.sent:
            self.sent = True
            return self.raw
        self.challenge = Challenge.parse(base64.b64encode(challenge or b"").decode("ascii"))
        return ""


def _bearer_login(conn: smtplib.SMTP, username: str, token: BearerToken, where: str) -> str:
    """AUTH XOAUTH2 (the one bearer mechanism Microsoft's and Google's SMTP take)."""
    offered = conn.esmtp_features.get("auth", "").upper().split()
    if offered and "XOAUTH2" not in offered:
        raise SmtpCheckFailed(
            f"{where} does not offer OAuth2 sign-in (XOAUTH2); it offers "
            f"{one_line(' '.join(offered), 120)}",
            auth=True,
            reason="account not allowed",
        )
    authobject = _Xoauth2(username, token.token)
    fits = len("AUTH XOAUTH2 ") + len(authobject.payload) + 2 <= SMTP_AUTH_LINE
    try:
        conn.auth("XOAUTH2", authobject, initial_response_ok=fits)
    except smtplib.SMTPAuthenticationError as error:
        status = authobject.challenge.status.lower() if authobject.challenge else ""
        said = _server_said(error).replace(token.token, "********")
        if status in ("401", "invalid_token") and token.just_issued:
            # Issued a moment ago: not expired. Servers send 401 for every refusal.
            reason = "account not allowed"
            why = (
                "it refused a token issued a moment ago (scope missing, or this account may "
                "not send with OAuth2)"
            )
        elif status in ("401", "invalid_token"):
            reason, why = "token expired", "the sign-in token has expired or was revoked"
        elif status in ("403", "insufficient_scope"):
            reason, why = "scope missing", "the sign-in token does not grant sending mail"
        else:
            reason, why = "account not allowed", "it refused this account's sign-in"
        raise SmtpCheckFailed(
            f"The outgoing server {where} refused the OAuth2 sign-in: {reason} — {why} "
            f"(it said: {said})",
            auth=True,
            reason=reason,
        ) from None
    return Mechanism.XOAUTH2.value


def _check_pin(conn: smtplib.SMTP, pin: str, host: str, port: int) -> CertificateInfo | None:
    sock = conn.sock
    if not isinstance(sock, ssl.SSLSocket):
        return None
    der = sock.getpeercert(binary_form=True) or b""
    refuse_unpinned(der, pin, f"{host}:{port}")
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


def _read_certificate(
    host: str, port: int, security: Security, timeout: float, context: ssl.SSLContext
) -> bytes | None:
    """The certificate alone, then the probe connection is closed (nothing is sent)."""
    try:
        conn = _open(host, port, security, context, timeout)
    except (OSError, smtplib.SMTPException, SmtpCheckFailed):
        return None
    try:
        sock = conn.sock
        return sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    finally:
        conn.close()


def check_outgoing(
    host: str,
    port: int,
    security: Security,
    username: str,
    password: str | BearerToken,
    *,
    timeout: float = 20.0,
    pinned_fingerprint: str = "",
    ca_file: str | None = None,
) -> SmtpCheckResult:
    """Log in to the outgoing server and log out again; raise a specific error otherwise.

    `password` may be an OAuth2 access token, sent with AUTH XOAUTH2.
    """
    pin = pin_from_setting(pinned_fingerprint)
    where = f"{host}:{port}"
    try:
        conn = _open(host, port, security, client_context(pin, ca_file), timeout)
    except ssl.SSLCertVerificationError as error:
        problem, reason = describe_verify_error(error, host)
        read = partial(_read_certificate, host, port, security, timeout)
        raise untrusted_certificate(where, problem, reason, read) from None
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
        used = ""
        if isinstance(password, BearerToken):
            used = _bearer_login(conn, username, password, where) if username else ""
        elif username:
            try:
                conn.login(username, password)
                used = _login_mechanism(mechanisms)
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
        return SmtpCheckResult(host, port, security, certificate, mechanisms, used)
    except BaseException:
        conn.close()
        raise


def _login_mechanism(offered: tuple[str, ...]) -> str:
    """What smtplib's `login` chose: its first of CRAM-MD5, PLAIN, LOGIN that was offered."""
    return next((m for m in ("CRAM-MD5", "PLAIN", "LOGIN") if m in offered), "")
