"""Talking to mail servers: POP3 (`pop3`), TLS and certificate pinning (`tls`), SMTP (`smtp`).

The SMTP check is not imported here: `smtplib` brings in the email package, which a "nothing
new" fetch never needs. Import it from `tui.core.net.smtp`.
"""

from tui.core.net import pop3
from tui.core.net.tls import (
    CertificateInfo,
    CertificateProblem,
    certificate_info,
    format_fingerprint,
    normalize_fingerprint,
)

__all__ = [
    "CertificateInfo",
    "CertificateProblem",
    "certificate_info",
    "format_fingerprint",
    "normalize_fingerprint",
    "pop3",
]
