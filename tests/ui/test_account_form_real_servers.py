"""The add form against real servers: Dovecot for POP3 (self-signed: the certificate dialog, then
pinning) and aiosmtpd for the outgoing check that follows a working incoming login."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Button, Select, Static

from tests.conftest import SMTP_PASSWORD, SMTP_USER, PopUser
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tests.ui.conftest import OWNER, fixed_clock, open_form, replace_text, store, tab_to, type_text
from tui.app import PoptuiApp, make_app
from tui.core.net import normalize_fingerprint
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import Security
from tui.core.storage.models import database_proxy
from tui.screens.account_form import AccountFormScreen
from tui.screens.dialogs import CertificateTrustDialog
from tui.screens.mailbox_list import MailboxListScreen
from tui.services import pop3_tester, smtp_tester
from tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.dovecot

Build = Callable[[], PoptuiApp]


@pytest.fixture
def build(db_path: Path, secrets: MemoryStore) -> Iterator[Build]:
    """The app with the real POP3 tester and the real SMTP check."""

    def make() -> PoptuiApp:
        return make_app(
            f"sqlite:///{db_path}",
            secrets=secrets,
            tester=pop3_tester,
            outgoing_tester=smtp_tester,
            clock=fixed_clock,
            owner=OWNER,
        )

    yield make
    if database_proxy.obj is not None:
        database_proxy.close()


def same_fingerprint(a: str, b: str) -> bool:
    return normalize_fingerprint(a) == normalize_fingerprint(b)


def status_of(app: PoptuiApp) -> str:
    return app.screen.query_one(StatusLine).text


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the test worker, then for the screen it pushed or popped."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def pin_certificate(pilot: Pilot[Any], host: str, port: int) -> None:
    """The certificate dialog is up for host:port: pin with its key, then wait for the retest."""
    dialog = pilot.app.screen
    assert isinstance(dialog, CertificateTrustDialog)
    assert f"{host}:{port}" in str(dialog.query_one("#certificate-details", Static).render())
    await pilot.press("p")
    await settle(pilot)


async def fill_incoming(pilot: Pilot[Any], dovecot: DovecotServer, user: PopUser) -> None:
    """Name, address, Dovecot's TLS port and the user's credentials, set like a paste."""
    await replace_text(pilot, "#name", "Dovecot")
    await replace_text(pilot, "#email", "ana@example.test")
    await replace_text(pilot, "#incoming-host", dovecot.host)
    await replace_text(pilot, "#incoming-port", str(dovecot.tls_port))
    await replace_text(pilot, "#username", user.name)
    await replace_text(pilot, "#password", user.password)


async def separate_outgoing(
    pilot: Pilot[Any], smtp: SmtpServer, security: Security, password: str
) -> None:
    form = pilot.app.screen
    form.query_one("#same-credentials").focus()
    await pilot.press("space")  # off: the outgoing server has its own login
    await pilot.pause()
    form.query_one("#outgoing-security", Select).value = security
    await pilot.pause()
    await replace_text(pilot, "#outgoing-host", smtp.host)
    await replace_text(pilot, "#outgoing-port", str(smtp.port))
    await replace_text(pilot, "#outgoing-username", SMTP_USER)
    await replace_text(pilot, "#outgoing-password", password)


async def test_dovecot_account_added_entirely_by_keyboard_with_the_certificate_pinned(
    build: Build, secrets: MemoryStore, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_form(pilot, "a")
        assert isinstance(app.screen, AccountFormScreen)
        await type_text(pilot, "Dovecot")
        await pilot.press("tab")
        await type_text(pilot, "ana@example.test")
        await pilot.press("tab")
        await type_text(pilot, dovecot.host)
        await pilot.press("tab")  # the port: its text is selected, typing replaces it
        await type_text(pilot, str(dovecot.tls_port))
        await tab_to(pilot, "username")
        await type_text(pilot, pop_user.name)  # replaces the address filled in from the email
        await pilot.press("tab")
        await type_text(pilot, pop_user.password)
        await tab_to(pilot, "outgoing-host")
        await pilot.press("backspace")  # no outgoing server: it is set up later
        await tab_to(pilot, "test-save")
        await pilot.press("enter")
        await settle(pilot)

        assert store().names() == []  # nothing saved while the certificate is in question
        await pin_certificate(pilot, dovecot.host, dovecot.tls_port)

        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Dovecot")
        assert same_fingerprint(account.pinned_fingerprint, dovecot.cert_fingerprint)
        assert account.incoming_port == dovecot.tls_port
        assert account.username == pop_user.name
        assert account.outgoing_host == ""
        assert secrets.get(account.secret_key, SecretKind.INCOMING) == pop_user.password


async def test_outgoing_check_on_real_smtp_tls_after_the_incoming_login(
    build: Build,
    secrets: MemoryStore,
    dovecot: DovecotServer,
    pop_user: PopUser,
    smtp_server_tls: SmtpServer,
) -> None:
    app = build()
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.pause()
        await open_form(pilot, "a")
        await fill_incoming(pilot, dovecot, pop_user)
        await separate_outgoing(pilot, smtp_server_tls, Security.SSL, SMTP_PASSWORD)
        await pilot.press("ctrl+t")
        await settle(pilot)
        await pin_certificate(pilot, dovecot.host, dovecot.tls_port)

        # The incoming side works now; the SMTP server's own self-signed certificate is next.
        dialog = app.screen
        assert isinstance(dialog, CertificateTrustDialog)
        assert same_fingerprint(dialog.certificate.sha256, smtp_server_tls.cert_fingerprint)
        assert store().names() == []
        await pin_certificate(pilot, smtp_server_tls.host, smtp_server_tls.port)

        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Dovecot")
        assert same_fingerprint(account.pinned_fingerprint, dovecot.cert_fingerprint)
        assert account.outgoing_port == smtp_server_tls.port
        assert account.outgoing_username == SMTP_USER
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) == SMTP_PASSWORD
        saved = next(text for text in notices(seen) if text.startswith("Added Dovecot"))
        assert f"{smtp_server_tls.host}:{smtp_server_tls.port} (SSL/TLS): login OK" in saved
        assert "Its certificate is pinned for this mailbox" in saved
        assert same_fingerprint(
            account.outgoing_pinned_fingerprint, smtp_server_tls.cert_fingerprint
        )
        assert SMTP_PASSWORD not in saved and pop_user.password not in saved


async def test_wrong_smtp_password_on_starttls_saves_nothing_until_save_anyway(
    build: Build,
    secrets: MemoryStore,
    dovecot: DovecotServer,
    pop_user: PopUser,
    smtp_server_starttls: SmtpServer,
) -> None:
    app = build()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await open_form(pilot, "a")
        await fill_incoming(pilot, dovecot, pop_user)
        await separate_outgoing(pilot, smtp_server_starttls, Security.STARTTLS, "wrong-smtp-pw")
        await pilot.press("ctrl+t")
        await settle(pilot)
        await pin_certificate(pilot, dovecot.host, dovecot.tls_port)
        await pin_certificate(pilot, smtp_server_starttls.host, smtp_server_starttls.port)

        form = app.screen
        assert isinstance(form, AccountFormScreen)
        status = status_of(app)
        assert "incoming server works, but the outgoing server check failed" in status
        assert "rejected the username or password" in status
        assert "wrong-smtp-pw" not in status
        assert store().names() == []
        save_anyway = form.query_one("#save-anyway", Button)
        assert save_anyway.display

        await tab_to(pilot, "save-anyway")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Dovecot")
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) == "wrong-smtp-pw"


async def test_one_pin_serves_both_servers_when_they_share_the_certificate(
    build: Build, secrets: MemoryStore, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    """mail.example.com for POP3 and SMTP with one certificate: pinned once, checked twice."""
    with SmtpServer("tls", users={pop_user.name: pop_user.password}, cert=dovecot.cert) as smtp:
        app = build()
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await open_form(pilot, "a")
            await fill_incoming(pilot, dovecot, pop_user)  # same credentials for outgoing
            await replace_text(pilot, "#outgoing-host", smtp.host)
            await replace_text(pilot, "#outgoing-port", str(smtp.port))
            await pilot.press("ctrl+t")
            await settle(pilot)
            await pin_certificate(pilot, dovecot.host, dovecot.tls_port)

            assert isinstance(app.screen, MailboxListScreen)  # no second dialog
            account = store().get("Dovecot")
            assert same_fingerprint(account.pinned_fingerprint, dovecot.cert_fingerprint)
            assert account.same_credentials_for_outgoing
            saved = next(text for text in notices(seen) if text.startswith("Added Dovecot"))
            assert "login OK" in saved
            assert "pinned for this mailbox" not in saved
            assert account.outgoing_pinned_fingerprint == ""  # the POP3 pin covered it
