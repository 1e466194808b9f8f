"""TLS for every mail connection: contexts, certificate details, SHA-256 pinning, failures in words.

POP3 and SMTP use the same rules: a certificate is verified against the system store (or a
given CA file) and the host name, or, when the user pinned one, it must be exactly the pinned
certificate and nothing else is checked. A certificate that fails is described so the user can
decide whether to pin it; its subject, issuer and names are cleaned, since the server wrote them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from tui.core.net.tls_context import client_context as client_context  # the contexts and pins
from tui.core.net.tls_context import hashed_ca_dir as hashed_ca_dir
from tui.core.net.tls_context import non_verifying_context as non_verifying_context
from tui.core.net.tls_context import normalize_fingerprint as normalize_fingerprint
from tui.core.net.tls_context import pin_from_setting as pin_from_setting
from tui.core.net.tls_context import verifying_context as verifying_context
from tui.core.text import clean

if TYPE_CHECKING:
    import ssl

# `ssl` is imported where a context is built or a TLS failure described: loading it (and
# OpenSSL) is a few milliseconds that a fetch over a plain connection never needs.

log = logging.getLogger(__name__)


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


# ------------------------------------------------------------------------ fingerprints


def format_fingerprint(der: bytes) -> str:
    """SHA-256 of `der` as `AB:CD:...`, the form shown to users and stored as a pin."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


PIN_MISMATCH_REASON = "the certificate does not match the one you trusted (it has changed)"


def pin_mismatch(der: bytes, pin: str) -> CertificateInfo | None:
    """None when `der` is the pinned certificate (`pin` from `normalize_fingerprint`).

    Otherwise the certificate actually presented, described with reason PIN_MISMATCH.
    """
    if hashlib.sha256(der).hexdigest() == pin:
        return None
    return certificate_info(
        der, reason=PIN_MISMATCH_REASON, problem=CertificateProblem.PIN_MISMATCH
    )


# ------------------------------------------------------------------------ certificate details


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
        subject=clean(subject),
        issuer=clean(issuer),
        not_before=not_before,
        not_after=not_after,
        san=tuple(clean(name) for name in san),
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
    import ssl

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    import tempfile  # only on this rare path: it costs the fast start a few milliseconds

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


# ------------------------------------------------------------------------------ contexts


# ------------------------------------------------------------------------------ failures

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


def describe_verify_error(
    exc: ssl.SSLCertVerificationError, host: str
) -> tuple[CertificateProblem, str]:
    """Why verification failed: the problem, and the reason in words."""
    code = getattr(exc, "verify_code", None)
    problem, reason = _VERIFY_PROBLEMS.get(
        code if isinstance(code, int) else -1,
        (CertificateProblem.OTHER, str(getattr(exc, "verify_message", "") or exc)),
    )
    if problem is CertificateProblem.HOSTNAME_MISMATCH:
        reason = f"host name mismatch: the certificate is not valid for {host}"
    return problem, reason


# What OpenSSL reports when the other side answered in clear text.
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)


def describe_tls_failure(exc: BaseException, where: str) -> str:
    """`TLS with host:port failed: ...`, saying so when the port does not speak TLS at all."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    text = f"TLS with {where} failed: {str(reason).lower().replace('_', ' ')}"
    ssl = sys.modules.get("ssl")  # no TLS failure without it: never imported just for this
    if ssl is not None and isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS_REASONS:
        text += " (the server did not speak TLS: is this a STARTTLS or plain port?)"
    return text


__all__ = [
    "PIN_MISMATCH_REASON",
    "CertificateInfo",
    "CertificateProblem",
    "certificate_info",
    "client_context",
    "describe_tls_failure",
    "describe_verify_error",
    "format_fingerprint",
    "non_verifying_context",
    "normalize_fingerprint",
    "pin_from_setting",
    "pin_mismatch",
    "verifying_context",
]
