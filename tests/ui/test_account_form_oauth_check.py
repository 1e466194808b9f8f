"""The add form's "Test & save" for an OAuth2 mailbox, against the real servers: sign in (device
flow, the test approving at the authlib server as the person), then the incoming login at
Dovecot's oauth2 passdb with the fresh token and the outgoing login with XOAUTH2 at aiosmtpd,
before anything is saved. A wrong scope saves nothing; an outgoing refusal after a good
incoming login offers "save with the incoming server verified"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import Checkbox, Select

from tests.servers.dovecot import DovecotServer
from tests.servers.oauth_server import CLIENT_ID, OAuthServer
from tests.servers.smtp import SmtpServer
from tests.ui.conftest import open_form, replace_text, store
from tests.ui.test_account_form import database_bytes
from tests.ui.test_account_form_real_servers import Build, build, pin_certificate, settle, status_of
from tests.ui.test_signin_dialog import shown_text, wait_until
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AUTH_OAUTH2, Security
from tui.screens.account_form import AccountFormScreen
from tui.screens.dialogs import CertificateTrustDialog
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.signin_dialog import SignInDialog

pytestmark = pytest.mark.dovecot

__all__ = ["build"]  # the fixture: the app with the real POP3 tester and SMTP check


@pytest.fixture(scope="module")
def smtp_oauth(oauth_server: OAuthServer) -> Iterator[SmtpServer]:
    """aiosmtpd offering XOAUTH2, validating tokens at the authlib server."""
    server = SmtpServer("tls", token_check=oauth_server.check_token).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp_refusing() -> Iterator[SmtpServer]:
    """aiosmtpd offering XOAUTH2 but refusing every token (an account not allowed to send)."""
    server = SmtpServer("tls", token_check=lambda user, token: False).start()
    yield server
    server.stop()


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


async def fill_oauth_form(
    pilot: Pilot[Any],
    dovecot: DovecotServer,
    oauth: OAuthServer,
    user: str,
    smtp: SmtpServer | None,
    *,
    scope: str = "mail offline_access",
) -> None:
    await pilot.pause()
    await open_form(pilot, "a")
    await replace_text(pilot, "#name", "Work")
    await replace_text(pilot, "#email", user)
    await pilot.press("tab")
    await pilot.pause()
    form = pilot.app.screen
    form.query_one("#oauth2", Checkbox).value = True
    await pilot.pause()
    await replace_text(pilot, "#incoming-host", dovecot.host)
    await replace_text(pilot, "#incoming-port", str(dovecot.tls_port))
    await replace_text(pilot, "#username", user)
    await replace_text(pilot, "#oauth-client-id", CLIENT_ID)
    await replace_text(pilot, "#oauth-token-url", oauth.token_url)
    await replace_text(pilot, "#oauth-device-url", oauth.device_url)
    await replace_text(pilot, "#oauth-scope", scope)
    if smtp is None:
        await replace_text(pilot, "#outgoing-host", "")
    else:
        form.query_one("#outgoing-security", Select).value = Security.SSL
        await pilot.pause()
        await replace_text(pilot, "#outgoing-host", smtp.host)
        await replace_text(pilot, "#outgoing-port", str(smtp.port))


async def approve_sign_in(pilot: Pilot[Any], oauth: OAuthServer, user: str) -> None:
    """Test & save opened the sign-in: approve its code at the server as the person."""
    app = pilot.app
    await pilot.press("ctrl+t")
    await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
    assert store().names() == []  # nothing saved before the sign-in and the test
    await wait_until(pilot, lambda: "-" in shown_text(pilot, "#signin-code"))
    code = shown_text(pilot, "#signin-code").strip().replace(" ", "")
    threading.Thread(target=oauth.approve_device, args=(code, user)).start()
    await wait_until(pilot, lambda: not isinstance(app.screen, SignInDialog))
    await wait_until(
        pilot, lambda: not isinstance(app.screen, AccountFormScreen) or not app.screen.busy
    )
    await settle(pilot)


async def test_sign_in_then_both_servers_tested_with_the_token_then_saved(
    build: Build,
    db_path: Path,
    secrets: MemoryStore,
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
    smtp_oauth: SmtpServer,
) -> None:
    app = build()
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 50), message_hook=seen.append) as pilot:
        await fill_oauth_form(pilot, dovecot_oauth, oauth_server, oauth_user, smtp_oauth)
        await approve_sign_in(pilot, oauth_server, oauth_user)
        # Dovecot's self-signed certificate: pinned, then tested again with the same token.
        await pin_certificate(pilot, dovecot_oauth.host, dovecot_oauth.tls_port)
        assert isinstance(app.screen, CertificateTrustDialog)  # the SMTP server's own
        assert store().names() == []
        introspected = oauth_server.introspections
        await pin_certificate(pilot, smtp_oauth.host, smtp_oauth.port)

        assert isinstance(app.screen, MailboxListScreen)
        assert oauth_server.introspections > introspected  # the SMTP login checked the token
        account = store().get("Work")
        assert account.auth_method == AUTH_OAUTH2
        assert secrets.get(account.secret_key, SecretKind.INCOMING) in oauth_server.issued_tokens()
        assert secrets.get(account.secret_key, SecretKind.OUTGOING) is None
        saved = next(text for text in notices(seen) if text.startswith("Added Work"))
        assert "with OAUTHBEARER" in saved or "with XOAUTH2" in saved
        assert f"{smtp_oauth.host}:{smtp_oauth.port} (SSL/TLS): login OK with XOAUTH2" in saved
        assert smtp_oauth.auth_attempts[-1].mechanism == "XOAUTH2"
        assert smtp_oauth.auth_attempts[-1].success
        assert not any(token in saved for token in oauth_server.issued_tokens())
    stored = database_bytes(db_path)
    assert not any(token.encode() in stored for token in oauth_server.issued_tokens())


async def test_wrong_scope_is_worded_and_nothing_is_saved(
    build: Build,
    secrets: MemoryStore,
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
) -> None:
    app = build()
    async with app.run_test(size=(100, 50)) as pilot:
        await fill_oauth_form(
            pilot, dovecot_oauth, oauth_server, oauth_user, None, scope="profile offline_access"
        )
        # Pinned beforehand, so the refusal is the token's.
        form = app.screen
        assert isinstance(form, AccountFormScreen)
        form.fields.pin_incoming(dovecot_oauth.cert_fingerprint)
        await approve_sign_in(pilot, oauth_server, oauth_user)
        assert isinstance(app.screen, AccountFormScreen)
        said = status_of(app)
        assert "Not saved:" in said
        assert "scope" in said and "profile offline_access" in said
        assert store().names() == []
        assert not any(token in repr(secrets.__dict__) for token in oauth_server.issued_tokens())
        assert not any(token in said for token in oauth_server.issued_tokens())
        assert app.screen.query_one("#save-anyway").display


async def test_outgoing_refusal_after_a_good_incoming_login_offers_the_verified_save(
    build: Build,
    secrets: MemoryStore,
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
    smtp_refusing: SmtpServer,
) -> None:
    app = build()
    async with app.run_test(size=(100, 50)) as pilot:
        await fill_oauth_form(pilot, dovecot_oauth, oauth_server, oauth_user, smtp_refusing)
        form = app.screen
        assert isinstance(form, AccountFormScreen)
        form.fields.pin_incoming(dovecot_oauth.cert_fingerprint)
        await approve_sign_in(pilot, oauth_server, oauth_user)
        await pin_certificate(pilot, smtp_refusing.host, smtp_refusing.port)
        assert isinstance(app.screen, AccountFormScreen)
        said = status_of(app)
        assert "the incoming server works, but the outgoing server check failed" in said
        assert "OAuth2" in said and "Ctrl+S" in said
        assert "issued a moment ago" in said and "expired" not in said
        assert store().names() == []
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MailboxListScreen)
        account = store().get("Work")
        refresh = secrets.get(account.secret_key, SecretKind.INCOMING)
        assert refresh in oauth_server.issued_tokens()  # the sign-in was kept with it


async def test_editing_a_signed_in_mailbox_tests_with_its_saved_sign_in(
    build: Build,
    secrets: MemoryStore,
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
) -> None:
    """No new sign-in when the provider, endpoint, client and scope stay: the refresh token
    the mailbox keeps gives a fresh access token, and the servers are tested with it."""
    from tests.integration.oauth_helpers import device_token
    from tui.core.settings import AccountSettings

    app = build()
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 50), message_hook=seen.append) as pilot:
        await pilot.pause()
        account = store().create(
            AccountSettings(
                name="Work",
                email=oauth_user,
                incoming_host=dovecot_oauth.host,
                incoming_port=dovecot_oauth.tls_port,
                incoming_security=Security.SSL,
                username=oauth_user,
                pinned_fingerprint=dovecot_oauth.cert_fingerprint,
                auth_method=AUTH_OAUTH2,
                oauth_provider="generic",
                oauth_client_id=CLIENT_ID,
                oauth_token_url=oauth_server.token_url,
                oauth_device_url=oauth_server.device_url,
                oauth_scope="mail offline_access",
            ),
            activate=True,
        )
        refresh = device_token(oauth_server, oauth_user)["refresh_token"]
        secrets.set(account.secret_key, SecretKind.INCOMING, refresh)
        app.screen.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        await open_form(pilot, "e")
        await replace_text(pilot, "#outgoing-host", "")
        await replace_text(pilot, "#poll-minutes", "7")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, MailboxListScreen))
        assert not any(isinstance(m, SignInDialog) for m in app.screen_stack)
        saved = next(text for text in notices(seen) if "Work" in text and "Logged in" in text)
        assert "with OAUTHBEARER" in saved
        assert store().get("Work").poll_minutes == 7
