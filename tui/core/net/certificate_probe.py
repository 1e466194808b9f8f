"""A certificate that failed verification, read anyway so the user can see what they would pin.

POP3 and SMTP do it alike: a second connection with a non-verifying context, closed straight
after the handshake (nothing is sent on it), then one wording of the refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.core.net.pop3.errors import UntrustedCertificate
from tui.core.net.tls import CertificateProblem, certificate_info, non_verifying_context

if TYPE_CHECKING:
    import ssl

ReadCertificate = Callable[["ssl.SSLContext"], bytes | None]
"""Opens the probe connection with the context given; the certificate (DER), or None when it
could not be read (the reader swallows its own protocol's failures)."""


def untrusted_certificate(
    where: str, problem: CertificateProblem, reason: str, read: ReadCertificate
) -> UntrustedCertificate:
    """The error to raise for `where` ("host:port"), carrying the certificate when it could
    be read, so the app can offer to pin it."""
    der = read(non_verifying_context())
    info = certificate_info(der, reason=reason, problem=problem) if der else None
    return UntrustedCertificate(f"The certificate of {where} is not trusted: {reason}.", info)
