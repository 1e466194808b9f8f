"""What the app is built from: the account store, the secret store, the tester and the clock.

`make_app` takes these as arguments so tests pass fakes (an in-memory store, a tester function,
a fixed clock) and the real program passes the keyring and the POP3 engine. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tui.core import pop3
from tui.core.account_settings import AccountSettings
from tui.core.accounts import AccountStore
from tui.core.models import utcnow
from tui.core.pop3 import CertificateInfo
from tui.core.secrets import SecretKind, SecretStore

__all__ = [
    "CertificateInfo",
    "Clock",
    "IncomingTester",
    "SecretKind",
    "SecretStore",
    "Services",
    "TestResult",
    "pop3_tester",
    "system_clock",
]

TEST_TIMEOUT_S = 20.0
"""How long "Test & save" waits for a silent server before saying so."""


@dataclass(frozen=True)
class TestResult:
    """What "Test & save" learnt from logging in to the incoming server."""

    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    message: str
    """One specific sentence for the user: what worked, or what failed and what to do."""
    certificate: CertificateInfo | None = None
    """Set when the login failed only because the server's certificate is not trusted; the
    form then offers to pin its SHA-256 fingerprint (stored in `pinned_fingerprint`)."""

    @property
    def untrusted_certificate(self) -> bool:
        return not self.ok and self.certificate is not None


class IncomingTester(Protocol):
    """Logs in to the incoming server with `settings` and `password`; never fetches or deletes.

    Blocking (network): the form calls it from a thread worker. It should return a failed
    `TestResult` worded for the user rather than raise; if it raises anyway, the form shows the
    exception text as the failure.
    """

    def __call__(self, settings: AccountSettings, password: str) -> TestResult: ...


Clock = Callable[[], datetime]
"""Naive UTC "now", like `tui.core.models.utcnow`; fixed in tests so snapshots do not drift."""


def system_clock() -> datetime:
    return utcnow()


@dataclass(frozen=True)
class Services:
    """Everything the screens need from outside, handed down by the app."""

    accounts: AccountStore
    secrets: SecretStore
    """Passwords live here, keyed by `Account.secret_key`, never in the database."""
    tester: IncomingTester
    clock: Clock


def pop3_tester(settings: AccountSettings, password: str) -> TestResult:
    """The real tester: connect, TLS as configured, log in, STAT, QUIT. Nothing is fetched."""
    server = f"{settings.incoming_host}:{settings.incoming_port}"
    try:
        client = pop3.Pop3Client.connect(
            settings.incoming_host,
            settings.incoming_port,
            settings.incoming_security,
            timeout=TEST_TIMEOUT_S,
            pinned_fingerprint=settings.pinned_fingerprint,
        )
    except pop3.UntrustedCertificate as error:
        return TestResult(ok=False, message=error.message, certificate=error.certificate)
    except (pop3.Pop3Error, ValueError) as error:
        return TestResult(ok=False, message=str(error))
    try:
        client.login(settings.username, password)
        count, _size = client.stat()
        client.quit()
    except pop3.AuthenticationFailed as error:
        client.abort()
        hint = f" {error.hint}" if error.hint else ""
        return TestResult(ok=False, message=f"{error.message}{hint}")
    except pop3.Pop3Error as error:
        client.abort()
        return TestResult(ok=False, message=error.message)
    waiting = f"{count} message{'s' if count != 1 else ''} waiting"
    return TestResult(ok=True, message=f"Logged in to {server}: {waiting} on the server.")
