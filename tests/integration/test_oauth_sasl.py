"""XOAUTH2 and OAUTHBEARER against a real Dovecot (oauth2 passdb) and a real SMTP server,
both validating tokens at the local authlib authorization server; hostile challenges too."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.integration.oauth_helpers import device_token
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import FakePop3Server, FakeSession
from tests.servers.oauth_server import OAuthServer
from tests.servers.smtp import SmtpServer
from tui.core.net.pop3 import (
    AuthenticationFailed,
    BearerToken,
    MailboxInUse,
    Mechanism,
    Pop3Client,
    TokenRejected,
    is_auth_failure,
)
from tui.core.net.smtp import SmtpCheckFailed, check_outgoing
from tui.core.settings import Security

pytestmark = pytest.mark.dovecot


def _connect(dovecot: DovecotServer) -> Pop3Client:
    return Pop3Client.connect(
        "127.0.0.1",
        dovecot.starttls_port,
        Security.STARTTLS,
        ca_file=None,
        pinned_fingerprint=dovecot.cert_fingerprint,
    )


@pytest.mark.parametrize("mechanism", [Mechanism.XOAUTH2, Mechanism.OAUTHBEARER])
def test_both_mechanisms_log_in_and_list(
    mechanism: Mechanism, oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    dovecot_oauth.deliver(oauth_user, b"Subject: hello\r\n\r\nbody\r\n")
    token = device_token(oauth_server, oauth_user)["access_token"]
    with _connect(dovecot_oauth) as client:
        assert client.login(oauth_user, BearerToken(token, mechanism)) is mechanism
        assert client.stat()[0] == 1
        client.quit()


def test_the_server_offer_decides_when_no_mechanism_is_asked(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    token = device_token(oauth_server, oauth_user)["access_token"]
    with _connect(dovecot_oauth) as client:
        assert client.login(oauth_user, BearerToken(token)) is Mechanism.OAUTHBEARER
        client.quit()


@pytest.mark.parametrize("mechanism", [Mechanism.XOAUTH2, Mechanism.OAUTHBEARER])
def test_an_expired_token_is_worded_and_counts_as_auth_failure(
    mechanism: Mechanism, oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    token = device_token(oauth_server, oauth_user)["access_token"]
    oauth_server.expire_access_tokens()
    with _connect(dovecot_oauth) as client, pytest.raises(TokenRejected) as caught:
        client.login(oauth_user, BearerToken(token, mechanism))
    assert caught.value.reason == "token expired"
    assert "token expired" in caught.value.message
    assert is_auth_failure(caught.value)
    assert token not in caught.value.in_words()


def test_a_token_without_the_mail_scope_is_scope_missing(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    granted = device_token(oauth_server, oauth_user, scope="profile offline_access")
    # The client knows what it was granted; Dovecot answers every refusal with one challenge.
    bearer = BearerToken(granted["access_token"], missing_scope="mail")
    with _connect(dovecot_oauth) as client, pytest.raises(TokenRejected) as caught:
        client.login(oauth_user, bearer)
    assert caught.value.reason == "scope missing"
    assert "(it needs: mail)" in caught.value.message


def test_a_fresh_token_refused_means_account_not_allowed(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    """Signed in as someone else: the first refusal looks like expiry, so a new token is asked
    for and tried on the same session; refused again, it is the account."""
    other = device_token(oauth_server, "someone-else@example.test")["access_token"]
    asked: list[bool] = []

    def source(fresh: bool) -> BearerToken:
        asked.append(fresh)
        return BearerToken(other, Mechanism.XOAUTH2, renewable=True)

    with _connect(dovecot_oauth) as client, pytest.raises(TokenRejected) as caught:
        client.login(oauth_user, source)
    assert asked == [False, True]
    assert caught.value.reason == "account not allowed"


def test_a_refused_renewable_token_is_renewed_transparently(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    stale = device_token(oauth_server, oauth_user)["access_token"]
    oauth_server.expire_access_tokens()
    good = device_token(oauth_server, oauth_user)["access_token"]

    def source(fresh: bool) -> BearerToken:
        return BearerToken(good if fresh else stale, renewable=True)

    with _connect(dovecot_oauth) as client:
        assert client.login(oauth_user, source) is Mechanism.OAUTHBEARER
        client.quit()


# ------------------------------------------------------------------ hostile challenges


def _challenging(challenge: bytes, final: bytes = b"-ERR [AUTH] no\r\n") -> FakePop3Server:
    def auth(session: FakeSession, args: list[str]) -> bytes:
        return b"+ " + challenge + b"\r\n"

    def answer(session: FakeSession, args: list[str]) -> bytes:
        return final

    return FakePop3Server(
        capa=("UIDL", "SASL XOAUTH2 OAUTHBEARER"),
        handlers={"AUTH": auth, "": answer, "AQ==": answer},
    )


@pytest.mark.parametrize(
    "challenge",
    [
        b"not base64 at all!!",
        base64.b64encode(b"[1, 2, 3]"),
        base64.b64encode(b'{"status": {"nested": true}, "scope": 7}'),
        base64.b64encode(json.dumps({"status": "401\x1b[31m", "scope": "m\u202eail"}).encode()),
        base64.b64encode(b"{" * 5000)[:900],
    ],
)
def test_hostile_challenges_are_answered_and_worded(challenge: bytes) -> None:
    with _challenging(challenge) as server:
        client = Pop3Client.connect(server.host, server.port, Security.NONE)
        with pytest.raises(AuthenticationFailed) as caught:
            client.login("alice", BearerToken("tok", Mechanism.OAUTHBEARER))
        client.abort()
    assert server.last.commands[-1] == "AQ=="  # the RFC 7628 dummy answer was sent
    assert "\x1b" not in caught.value.message and "\u202e" not in caught.value.message


def test_xoauth2_answers_the_challenge_with_an_empty_line() -> None:
    body = base64.b64encode(b'{"status":"403","schemes":"bearer","scope":"https://mail/"}')
    with _challenging(body) as server:
        client = Pop3Client.connect(server.host, server.port, Security.NONE)
        with pytest.raises(TokenRejected) as caught:
            client.login("alice", BearerToken("tok", Mechanism.XOAUTH2))
        client.abort()
    assert server.last.commands[-1] == ""
    assert caught.value.reason == "scope missing"
    assert "https://mail/" in caught.value.message


def test_in_use_after_a_token_keeps_its_meaning() -> None:
    def auth(session: FakeSession, args: list[str]) -> bytes:
        return b"-ERR [IN-USE] locked\r\n"

    with FakePop3Server(capa=("SASL XOAUTH2",), handlers={"AUTH": auth}) as server:
        client = Pop3Client.connect(server.host, server.port, Security.NONE)
        with pytest.raises(MailboxInUse) as caught:
            client.login("alice", BearerToken("tok"))
        client.abort()
    assert not is_auth_failure(caught.value)


def test_a_server_without_bearer_mechanisms_gets_no_token() -> None:
    with FakePop3Server(capa=("SASL PLAIN",)) as server:
        client = Pop3Client.connect(server.host, server.port, Security.NONE)
        with pytest.raises(AuthenticationFailed, match="does not offer OAuth2"):
            client.login("alice", BearerToken("secret-token"))
        client.abort()
    assert b"secret-token" not in server.last.raw


def test_a_long_token_goes_on_its_own_line() -> None:
    """RFC 5034: AUTH with its initial response must fit 255 octets; real tokens do not."""
    with FakePop3Server(
        capa=("SASL XOAUTH2",),
        handlers={
            "AUTH": lambda s, a: b"+ \r\n" if len(a) == 1 else b"-ERR ir\r\n",
        },
    ) as server:
        client = Pop3Client.connect(server.host, server.port, Security.NONE)
        with pytest.raises(AuthenticationFailed):
            client.login("alice", BearerToken("x" * 400))
        client.abort()
    assert server.last.commands[1] == "AUTH XOAUTH2"
    assert len(server.last.commands[2]) > 255


# ------------------------------------------------------------------------------ SMTP


@pytest.fixture(scope="module")
def smtp_oauth(oauth_server: OAuthServer) -> Iterator[SmtpServer]:
    server = SmtpServer("tls", token_check=oauth_server.check_token).start()
    yield server
    server.stop()


def test_smtp_check_with_xoauth2(oauth_server: OAuthServer, smtp_oauth: SmtpServer) -> None:
    token = device_token(oauth_server, "carol@example.test")["access_token"]
    result = check_outgoing(
        smtp_oauth.host,
        smtp_oauth.port,
        Security.SSL,
        "carol@example.test",
        BearerToken(token),
        pinned_fingerprint=smtp_oauth.cert_fingerprint,
    )
    assert result.mechanism == "XOAUTH2"
    assert "with XOAUTH2" in result.summary()
    assert smtp_oauth.auth_attempts[-1].success


@pytest.mark.parametrize("long_token", [False, True])
def test_smtp_refused_token_is_worded(
    long_token: bool, oauth_server: OAuthServer, smtp_oauth: SmtpServer
) -> None:
    token = "y" * (600 if long_token else 40)
    with pytest.raises(SmtpCheckFailed) as caught:
        check_outgoing(
            smtp_oauth.host,
            smtp_oauth.port,
            Security.SSL,
            "carol@example.test",
            BearerToken(token),
            pinned_fingerprint=smtp_oauth.cert_fingerprint,
        )
    assert caught.value.auth
    assert caught.value.reason == "token expired"
    assert token not in caught.value.in_words()
