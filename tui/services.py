"""What the app is built from: the account store, the secret store, the tester and the clock.

`make_app` takes these as arguments so tests pass fakes (an in-memory store, a tester function,
a fixed clock) and the real program passes the keyring and the POP3 engine. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from tui.core.secrets import SecretKind, SecretStore
from tui.core.settings import AccountSettings
from tui.core.sharing.rules import SharingService
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import utcnow

if TYPE_CHECKING:  # POP3 and TLS are imported by the first test, not when the app starts
    from tui.core.net import CertificateInfo
    from tui.core.net.pop3.auth import BearerToken

__all__ = [
    "Clock",
    "IncomingTester",
    "OutgoingTester",
    "SecretKind",
    "SecretStore",
    "Services",
    "TestResult",
    "pop3_tester",
    "smtp_tester",
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
    `password` may be an OAuth2 access token (`BearerToken`): XOAUTH2 or OAUTHBEARER then.

    Blocking (network): the form calls it from a thread worker. It should return a failed
    `TestResult` worded for the user rather than raise; if it raises anyway, the form shows the
    exception text as the failure.
    """

    def __call__(self, settings: AccountSettings, password: str | BearerToken) -> TestResult: ...


class OutgoingTester(Protocol):
    """Logs in to the outgoing (SMTP) server with `settings` and `password`; never sends.

    The username is `settings.effective_outgoing_username`. Blocking (network): call it from a
    thread worker; like `IncomingTester` it returns a failed `TestResult` rather than raise.
    `trusted_fingerprint` accepts exactly that certificate for this one check (the user pinned
    it in the dialog); the account itself keeps only the incoming server's pin.
    """

    def __call__(
        self,
        settings: AccountSettings,
        password: str | BearerToken,
        *,
        trusted_fingerprint: str = "",
    ) -> TestResult: ...


Clock = Callable[[], datetime]
"""Naive UTC "now" (`tui.core.storage.models.utcnow`); fixed in tests so snapshots do not drift."""


def system_clock() -> datetime:
    return utcnow()


@dataclass
class Services:
    """Everything the screens need from outside, handed down by the app.

    Not frozen: `secrets` is replaced at run time, once the configured store has been opened
    (after the app starts) or the user chose another one. Screens read it at each use.
    """

    accounts: AccountStore
    secrets: SecretStore
    """Passwords live here, keyed by `Account.secret_key`, never in the database."""
    tester: IncomingTester
    clock: Clock
    sharing: SharingService
    """Who may read which mailbox's mail, acting as this app's user (the browser's filter too)."""
    outgoing_tester: OutgoingTester = field(default_factory=lambda: smtp_tester)
    """Checks the outgoing server after the incoming one works (Test & save, passwords)."""


def pop3_tester(settings: AccountSettings, password: str | BearerToken) -> TestResult:
    """The real tester: `tui.core.sync.check_incoming` (log in, STAT, QUIT; nothing fetched),
    its outcome in one sentence."""
    # Imported at the first test, not when the app starts (its first frame needs neither).
    from tui.core.sync.check import IncomingServer, check_incoming
    from tui.core.sync.outcome import check_sentence

    report = check_incoming(IncomingServer.of(settings), password, timeout=TEST_TIMEOUT_S)
    return TestResult(
        ok=report.ok, message=check_sentence(report), certificate=report.untrusted_certificate
    )


def _same_fingerprint(a: str, b: str) -> bool:
    from tui.core.net import normalize_fingerprint

    try:
        return normalize_fingerprint(a) == normalize_fingerprint(b)
    except ValueError:
        return False


def smtp_tester(
    settings: AccountSettings, password: str | BearerToken, *, trusted_fingerprint: str = ""
) -> TestResult:
    """The real outgoing check: connect, TLS as configured, log in, QUIT. Nothing is sent.

    An OAuth2 access token (`BearerToken`) logs in with AUTH XOAUTH2.
    The certificate must be trusted by the system, or be `trusted_fingerprint`, or be the very
    certificate pinned for the incoming server (one server name for POP3 and SMTP is common).
    """
    from tui.core.net import pop3
    from tui.core.net.smtp import SmtpCheckFailed, check_outgoing  # smtplib: at the first check

    trusted_fingerprint = trusted_fingerprint or settings.outgoing_pinned_fingerprint
    try:
        result = check_outgoing(
            settings.outgoing_host,
            settings.outgoing_port,
            settings.outgoing_security,
            settings.effective_outgoing_username,
            password,
            timeout=TEST_TIMEOUT_S,
            pinned_fingerprint=trusted_fingerprint,
        )
    except pop3.UntrustedCertificate as error:
        certificate = error.certificate
        pinned = settings.pinned_fingerprint
        if (
            not trusted_fingerprint
            and certificate is not None
            and pinned
            and _same_fingerprint(certificate.sha256, pinned)
        ):
            return smtp_tester(settings, password, trusted_fingerprint=pinned)
        return TestResult(ok=False, message=error.message, certificate=certificate)
    except SmtpCheckFailed as error:
        return TestResult(ok=False, message=error.message)
    except ValueError as error:  # a malformed fingerprint
        return TestResult(ok=False, message=str(error))
    return TestResult(ok=True, message=f"{result.summary()}.")
