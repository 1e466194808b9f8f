"""Talking to mail servers: POP3 (`pop3`), TLS and certificate pinning (`tls`), SMTP (`smtp`).

The SMTP check is not imported here: `smtplib` brings in the email package, which a "nothing
new" fetch never needs. Import it from `tui.core.net.smtp`. The names below load their module
on first use, so the quick "nothing new" check can take a TLS context without the POP3 client.
"""

from __future__ import annotations

from tui.core.lazy import homes_of, lazy_exports

TYPE_CHECKING = False  # no `typing` import for `poptui fetch` with nothing new
if TYPE_CHECKING:
    from typing import Any

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

_TLS = lazy_exports(
    __name__,
    homes_of(
        {
            "tls": (
                "CertificateInfo",
                "CertificateProblem",
                "certificate_info",
                "format_fingerprint",
                "normalize_fingerprint",
            )
        }
    ),
)


def __getattr__(name: str) -> Any:
    if name == "pop3":
        import tui.core.net.pop3 as module  # sets the attribute, as an eager import did

        return module
    return _TLS(name)
