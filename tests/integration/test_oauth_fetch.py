"""OAuth2 end to end: sign in (device grant, browser + paste-back, loopback) at the local authlib
server acting as the person, then fetch from Dovecot's oauth2 passdb with the saved sign-in;
expiry refreshed transparently, a revoked sign-in turned into "sign in again", a missing scope
worded, and no token anywhere in the database or the log."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.fetch_helpers import dovecot_account, fetch, make_message, open_test_db
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth_server import CLIENT_ID, OAuthServer
from tui.core.net import pop3
from tui.core.oauth.errors import SignInCancelled, SignInFailed, SignInRequired
from tui.core.oauth.flows import BrowserSignIn, LoopbackListener, start_device, wait_for_device
from tui.core.oauth.login import login_secret
from tui.core.oauth.providers import Endpoints
from tui.core.oauth.signin import endpoints_of, missing_scope_problem, save_sign_in
from tui.core.oauth.tokens import CACHE, AccountTokenSource
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AUTH_OAUTH2, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account

pytestmark = pytest.mark.dovecot

SERVER_LOGGERS = ("authlib.oauth2.rfc", "werkzeug")
"""Loggers of the test authorization server (it logs the tokens it issues, as servers may)."""


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_test_db(tmp_path)
    yield db
    db.close()


@pytest.fixture(autouse=True)
def lifetime(oauth_server: OAuthServer) -> Iterator[None]:
    yield
    oauth_server.token_lifetime = 3600


def oauth_account(
    dovecot: DovecotServer, oauth: OAuthServer, user: str, *, scope: str = "mail offline_access"
) -> Account:
    return dovecot_account(
        dovecot,
        user,
        security=Security.STARTTLS,
        auth_method=AUTH_OAUTH2,
        oauth_provider="generic",
        oauth_client_id=CLIENT_ID,
        oauth_authorize_url=oauth.authorize_url,
        oauth_token_url=oauth.token_url,
        oauth_device_url=oauth.device_url,
        oauth_scope=scope,
    )


def device_sign_in(
    account: Account, oauth: OAuthServer, store: MemoryStore, user: str
) -> Endpoints:
    """The device flow with the test as the person: read the code, approve it on /device."""
    endpoints = endpoints_of(account)
    code = start_device(endpoints)
    assert code.verification_uri == oauth.base_url + "/device"
    approver = threading.Timer(0.3, oauth.approve_device, (code.user_code, user))
    approver.start()
    tokens = wait_for_device(endpoints, code)
    approver.join()
    save_sign_in(account, store, tokens)
    return endpoints


def test_device_sign_in_then_fetch(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    dovecot_oauth.deliver_many(oauth_user, [make_message(1), make_message(2)])
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    device_sign_in(account, oauth_server, store, oauth_user)
    result = fetch(account, login_secret(account, store), tmp_path)
    assert result.ok, result.error
    assert result.new_messages == 2


def test_paste_back_sign_in_then_fetch(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    """Over SSH: the browser (elsewhere) ends on a loopback address that does not load; the
    person copies it from the address bar and pastes it into poptui."""
    dovecot_oauth.deliver(oauth_user, make_message(1))
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    sign_in = BrowserSignIn(endpoints_of(account), "http://127.0.0.1:1/")
    assert "code_challenge_method=S256" in sign_in.address
    ended_on = oauth_server.approve_authorization(sign_in.address, oauth_user)
    save_sign_in(account, store, sign_in.finish(ended_on))
    result = fetch(account, login_secret(account, store), tmp_path)
    assert result.ok and result.new_messages == 1


def test_loopback_listener_catches_the_redirect(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    listener = LoopbackListener()
    try:
        sign_in = BrowserSignIn(endpoints_of(account), listener.redirect_uri)
        ended_on = oauth_server.approve_authorization(sign_in.address, oauth_user)
        requests.get(ended_on, timeout=10)  # what the desktop browser does
        caught = listener.wait(5)
    finally:
        listener.close()
    assert caught is not None
    assert sign_in.finish(caught).refresh_token


@pytest.mark.parametrize(
    ("pasted", "words"),
    [
        ("http://127.0.0.1:1/?error=access_denied", "did not sign you in: access_denied"),
        ("http://127.0.0.1:1/?state=x", "has no sign-in code"),
        ("http://127.0.0.1:1/?code=abc&state=forged", "belongs to another sign-in"),
        ("\x1b]52;c;aGk=\x07 garbage", "has no sign-in code"),
    ],
)
def test_a_wrong_paste_is_refused_in_words(
    pasted: str, words: str, oauth_server: OAuthServer, dovecot_oauth: DovecotServer
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, "x@example.test")
    sign_in = BrowserSignIn(endpoints_of(account), "http://127.0.0.1:1/")
    with pytest.raises(SignInFailed, match=words) as caught:
        sign_in.finish(pasted)
    assert "\x1b" not in caught.value.in_words()


def test_expiry_between_connections_is_refreshed_transparently(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    """The engine asks for a token at every connection: one that is about to expire is
    refreshed first; one the server already thinks expired is renewed on the same session."""
    oauth_server.token_lifetime = 4
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    device_sign_in(account, oauth_server, store, oauth_user)
    source = login_secret(account, store)
    assert isinstance(source, AccountTokenSource)
    dovecot_oauth.deliver(oauth_user, make_message(1))
    assert fetch(account, source, tmp_path).new_messages == 1
    assert source.refreshes == 0  # the sign-in's own token was still good
    clock = source.clock
    source.clock = lambda: clock() + 3.5  # within the last quarter of its life
    dovecot_oauth.deliver(oauth_user, make_message(2))
    assert fetch(account, source, tmp_path).new_messages == 1
    assert source.refreshes == 1
    source.clock = clock
    oauth_server.expire_access_tokens()  # the server disagrees with poptui's clock
    dovecot_oauth.deliver(oauth_user, make_message(3))
    result = fetch(account, source, tmp_path)
    assert result.ok, result.error
    assert result.new_messages == 1 and source.refreshes == 2


def test_revoked_sign_in_means_sign_in_again(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    device_sign_in(account, oauth_server, store, oauth_user)
    oauth_server.revoke_refresh_tokens(oauth_user)
    result = fetch(account, login_secret(account, store), tmp_path)
    assert isinstance(result.error, SignInRequired)
    assert pop3.is_auth_failure(result.error)
    assert "sign in again" in result.error.message.lower()
    assert "poptui account signin" in result.error.hint
    stored = Account.get_by_id(account.id)
    assert stored.consecutive_auth_failures == 1
    assert "sign in again" in stored.last_fetch_error.lower()


def test_never_signed_in_means_sign_in(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    result = fetch(account, login_secret(account, MemoryStore()), tmp_path)
    assert isinstance(result.error, SignInRequired)
    assert "not been signed in yet" in result.error.message


def test_wrong_scope_is_a_clear_error(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user, scope="profile offline_access")
    store = MemoryStore()
    endpoints = device_sign_in(account, oauth_server, store, oauth_user)
    # The generic provider names no required scope; a preset does (Microsoft's POP scope).
    source = login_secret(account, store)
    assert isinstance(source, AccountTokenSource)
    source.endpoints = endpoints = dataclasses.replace(endpoints, required_scope="mail")
    cached = CACHE.get(account.secret_key)
    assert cached is not None
    assert "scope missing" in missing_scope_problem(endpoints, cached)
    result = fetch(account, source, tmp_path)
    assert isinstance(result.error, pop3.TokenRejected)
    assert result.error.reason == "scope missing"
    assert "(it needs: mail)" in result.error.message


def test_no_token_in_the_database_or_the_log(
    oauth_server: OAuthServer,
    dovecot_oauth: DovecotServer,
    oauth_user: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    device_sign_in(account, oauth_server, store, oauth_user)
    dovecot_oauth.deliver(oauth_user, make_message(1))
    assert fetch(account, login_secret(account, store), tmp_path).ok
    oauth_server.revoke_refresh_tokens(oauth_user)
    CACHE.forget(account.secret_key)
    failed = fetch(account, login_secret(account, store), tmp_path)
    assert failed.error is not None
    database = (tmp_path / "fetch.db").read_bytes()
    tokens = oauth_server.issued_tokens()
    assert tokens
    # Everything poptui's side logged (the test server's own authlib grant loggers aside).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(SERVER_LOGGERS)
    )
    words = failed.error.in_words() + repr(failed.error) + ours
    for token in tokens:
        assert token.encode() not in database
        assert token not in words
    assert "AUTH OAUTHBEARER ********" in ours  # the login was logged, blanked
    assert "POST /token" in ours  # and so was the token HTTP (urllib3), without a token


def test_a_token_command_is_run_for_each_connection(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    """mpop's passwordeval / aerc's token command: any program printing an access token."""
    from tests.integration.oauth_helpers import device_token

    token = device_token(oauth_server, oauth_user)["access_token"]
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\necho run >> {tmp_path}/runs\nprintf '%s\\n' {token}\n")
    script.chmod(0o700)
    account = dovecot_account(
        dovecot_oauth,
        oauth_user,
        security=Security.STARTTLS,
        auth_method=AUTH_OAUTH2,
        oauth_token_command=str(script),
    )
    dovecot_oauth.deliver(oauth_user, make_message(1))
    source = login_secret(account, MemoryStore())
    assert fetch(account, source, tmp_path).new_messages == 1
    assert fetch(account, source, tmp_path).ok
    assert (tmp_path / "runs").read_text().count("run") == 2


def test_a_failing_token_command_is_worded(
    dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    account = dovecot_account(
        dovecot_oauth,
        oauth_user,
        security=Security.STARTTLS,
        auth_method=AUTH_OAUTH2,
        oauth_token_command="sh -c 'echo no token here >&2; exit 3'",
    )
    result = fetch(account, login_secret(account, MemoryStore()), tmp_path)
    assert result.error is not None
    assert "exit status 3" in result.error.message


def test_slow_down_makes_the_poller_wait_longer_for_good(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    """RFC 8628 §3.5: a client polling too fast gets `slow_down` and adds 5 s to its interval;
    it must not be told twice."""
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    endpoints = endpoints_of(account)
    code = dataclasses.replace(start_device(endpoints), interval=0)  # a client that rushes
    before = oauth_server.slow_downs
    approver = threading.Timer(1.0, oauth_server.approve_device, (code.user_code, oauth_user))
    approver.start()
    tokens = wait_for_device(endpoints, code)
    approver.join()
    assert tokens.refresh_token
    assert oauth_server.slow_downs - before == 1


def test_cancel_stops_waiting_for_the_device(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    endpoints = endpoints_of(account)
    code = start_device(endpoints)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(SignInCancelled):
        wait_for_device(endpoints, code, cancelled=stop.is_set)


def test_a_denied_device_sign_in_is_worded(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str
) -> None:
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    endpoints = endpoints_of(account)
    code = start_device(endpoints)
    oauth_server.approve_device(code.user_code, oauth_user, approve=False)
    with pytest.raises(SignInFailed, match="declined"):
        wait_for_device(endpoints, code)


def test_the_access_token_is_shared_with_the_next_process(
    oauth_server: OAuthServer, dovecot_oauth: DovecotServer, oauth_user: str, tmp_path: Path
) -> None:
    """A cron `poptui fetch` starts with an empty memory: it takes the last access token (and
    its expiry) from the secret store instead of asking the provider every run."""
    account = oauth_account(dovecot_oauth, oauth_server, oauth_user)
    store = MemoryStore()
    device_sign_in(account, oauth_server, store, oauth_user)
    issued = len(oauth_server.issued_tokens())
    for run in range(2):
        CACHE.forget(account.secret_key)  # a new process
        source = login_secret(account, store)
        assert isinstance(source, AccountTokenSource)
        dovecot_oauth.deliver(oauth_user, make_message(run + 1))
        assert fetch(account, source, tmp_path).new_messages == 1
        assert source.refreshes == 0
    assert len(oauth_server.issued_tokens()) == issued  # nothing new was asked for
    CACHE.forget(account.secret_key)
    source = login_secret(account, store)
    assert isinstance(source, AccountTokenSource)
    clock = source.clock
    source.clock = lambda: clock() + 3600  # the stored one has expired by now
    dovecot_oauth.deliver(oauth_user, make_message(3))
    assert fetch(account, source, tmp_path).new_messages == 1
    assert source.refreshes == 1
    kept = store.get(account.secret_key + ".oauth-access", SecretKind.INCOMING)
    assert kept is not None and oauth_server.state.tokens[-1].access_token in kept  # the new one
    AccountStore("tester").remove(account.name, keep_mail=False, secrets=store)
    assert store.get(account.secret_key + ".oauth-access", SecretKind.INCOMING) is None
