"""POP3: the client and its errors.

The certificate types are here too because the client and `UntrustedCertificate` carry them;
they live in `tui.core.net.tls`, shared with SMTP.
"""

from tui.core.net.pop3.auth import BearerToken, Mechanism, Secret, TokenRejected, TokenSource
from tui.core.net.pop3.client import DEFAULT_TIMEOUT, Pop3Client
from tui.core.net.pop3.errors import (
    AuthenticationFailed,
    CommandRejected,
    ConnectFailed,
    ConnectionLost,
    ErrorKind,
    LoginDelay,
    MailboxInUse,
    MessageSizeMismatch,
    Pop3Error,
    Pop3Timeout,
    Pop3UsageError,
    ProtocolError,
    ServerPermanentError,
    ServerTemporaryError,
    StartTlsUnavailable,
    TlsFailed,
    UidlUnsupported,
    UntrustedCertificate,
    error_for_reply,
    is_auth_failure,
    is_connection_failure,
)
from tui.core.net.tls import CertificateInfo, CertificateProblem

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthenticationFailed",
    "BearerToken",
    "CertificateInfo",
    "CertificateProblem",
    "CommandRejected",
    "ConnectFailed",
    "ConnectionLost",
    "ErrorKind",
    "LoginDelay",
    "MailboxInUse",
    "Mechanism",
    "MessageSizeMismatch",
    "Pop3Client",
    "Pop3Error",
    "Pop3Timeout",
    "Pop3UsageError",
    "ProtocolError",
    "Secret",
    "ServerPermanentError",
    "ServerTemporaryError",
    "StartTlsUnavailable",
    "TlsFailed",
    "TokenRejected",
    "TokenSource",
    "UidlUnsupported",
    "UntrustedCertificate",
    "error_for_reply",
    "is_auth_failure",
    "is_connection_failure",
]
