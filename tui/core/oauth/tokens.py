"""Tokens: what a sign-in gives, refreshing it, and the token source a POP3 login asks.

The refresh token is the account's incoming secret in the secret store (the same store, moved
and forgotten with the account like a password; never the database). Access tokens are kept in
this process's memory and, with their expiry, in the secret store too (so a cron fetch uses
the last one rather than refreshing every run); they are refreshed a little before they
expire; the engine asks for one at every new connection, so a long fetch or a long-running app
never logs in with a stale one.
Token HTTP goes through authlib's OAuth2Session (requests), imported on first use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui.core.net.pop3.auth import BearerToken
from tui.core.oauth.errors import SignInRequired, TokenServiceUnreachable
from tui.core.oauth.providers import Endpoints
from tui.core.text import one_line

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

HTTP_TIMEOUT = 20.0
MAX_REFRESH_MARGIN = 300.0
"""Refresh this many seconds before expiry at most (a quarter of the lifetime when shorter)."""
PROVIDER_TEXT_LIMIT = 200

Clock = Callable[[], float]


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint gave; `repr` never shows a token."""

    access_token: str
    refresh_token: str
    issued_at: float
    expires_at: float
    scope: str

    def __repr__(self) -> str:
        return f"TokenSet(scope={self.scope!r}, expires_at={self.expires_at:.0f})"

    def expiring(self, now: float) -> bool:
        margin = min(MAX_REFRESH_MARGIN, (self.expires_at - self.issued_at) / 4)
        return now >= self.expires_at - margin

    def missing_scope(self, required: str) -> str:
        """`required` when the provider said which scopes it granted and left it out."""
        if required and self.scope and required not in self.scope.split():
            return required
        return ""


def token_set(response: dict[str, Any], requested_scope: str, now: float) -> TokenSet:
    access = response.get("access_token")
    if not isinstance(access, str) or not access:
        raise TokenServiceUnreachable("The provider's token service answered without a token.")
    try:
        lifetime = float(response.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    refresh = response.get("refresh_token")
    scope = response.get("scope")
    return TokenSet(
        access,
        refresh if isinstance(refresh, str) else "",
        now,
        now + max(1.0, lifetime),
        scope if isinstance(scope, str) else requested_scope,
    )


def session_for(endpoints: Endpoints, **extra: Any) -> OAuth2Session:
    """An authlib client for these endpoints: a public client unless a secret is configured."""
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        endpoints.client_id,
        endpoints.client_secret or None,
        scope=endpoints.scope,
        token_endpoint_auth_method="client_secret_post" if endpoints.client_secret else "none",
        **extra,
    )


def provider_error(error: Exception) -> tuple[str, str]:
    """(error code, cleaned description) of an authlib OAuthError; ("", "") otherwise."""
    code = getattr(error, "error", "") or ""
    description = getattr(error, "description", "") or ""
    return one_line(str(code), 60), one_line(str(description), PROVIDER_TEXT_LIMIT)


def refresh(endpoints: Endpoints, refresh_token: str, mailbox: str, now: float) -> TokenSet:
    """A new access token for a saved sign-in; `SignInRequired` when the provider says no."""
    import requests
    from authlib.integrations.base_client import OAuthError

    session = session_for(endpoints)
    try:
        with session:
            response = session.refresh_token(
                endpoints.token_url, refresh_token=refresh_token, timeout=HTTP_TIMEOUT
            )
    except OAuthError as error:
        code, description = provider_error(error)
        said = f" ({code}: {description})" if description else f" ({code})" if code else ""
        if code in ("invalid_grant", "unauthorized_client", "invalid_scope", ""):
            why = "the provider no longer accepts the saved sign-in (revoked or expired)"
        else:
            why = "the provider refused to renew the sign-in"
        raise SignInRequired(mailbox, why + said) from None
    except (requests.RequestException, ValueError) as error:
        raise TokenServiceUnreachable(
            f"Could not reach the sign-in service at {_host(endpoints.token_url)}: "
            f"{one_line(type(error).__name__, 60)}"
        ) from None
    tokens = token_set(dict(response), endpoints.scope, now)
    if not tokens.refresh_token:  # most providers keep the old one valid when they send none
        tokens = TokenSet(
            tokens.access_token, refresh_token, tokens.issued_at, tokens.expires_at, tokens.scope
        )
    return tokens


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return one_line(urlsplit(url).netloc or url, 120)


class TokenCache:
    """Access tokens in memory, by account secret key: shared by the app's fetches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenSet] = {}

    def get(self, key: str) -> TokenSet | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens[key] = tokens

    def forget(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


CACHE = TokenCache()
"""This process's access tokens (never written anywhere)."""


class RefreshTokenStore:
    """The calls of a `tui.core.secrets.SecretStore` this needs: the refresh token (the
    incoming slot) and, optionally, the last access token with its expiry, so the next
    process (a cron `poptui fetch`) uses it instead of asking the provider again."""

    def __init__(
        self,
        get: Callable[[], str | None],
        put: Callable[[str], None],
        *,
        get_access: Callable[[], str | None] = lambda: None,
        put_access: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.get = get
        self.put = put
        self.get_access = get_access
        self.put_access = put_access


def access_text(tokens: TokenSet) -> str:
    """An access token with its times and scope, one line of JSON, for the secret store."""
    import json

    return json.dumps(
        {
            "access_token": tokens.access_token,
            "issued_at": round(tokens.issued_at),
            "expires_at": round(tokens.expires_at),
            "scope": tokens.scope,
        }
    )


def access_from_text(text: str | None) -> TokenSet | None:
    """What `access_text` wrote; None for anything else (never an error: it is a cache)."""
    import json

    if not text:
        return None
    try:
        value = json.loads(text)
        token, issued, expires = value["access_token"], value["issued_at"], value["expires_at"]
        scope = value.get("scope", "")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(token, str) or not token or not isinstance(scope, str):
        return None
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        return None
    return TokenSet(token, "", float(issued), float(expires), scope)


class AccountTokenSource:
    """The `TokenSource` of one signed-in account: cached, refreshed, rotated refresh tokens
    saved back. Called by `Pop3Client.login` (True: the last token was refused)."""

    def __init__(
        self,
        key: str,
        mailbox: str,
        endpoints: Endpoints,
        saved: RefreshTokenStore,
        *,
        cache: TokenCache = CACHE,
        clock: Clock = time.time,
    ) -> None:
        self.key = key
        self.mailbox = mailbox
        self.endpoints = endpoints
        self.saved = saved
        self.cache = cache
        self.clock = clock
        self.refreshes = 0
        """How many times the token endpoint was asked (for the tests and the doctor)."""

    def __repr__(self) -> str:
        return f"AccountTokenSource({self.mailbox!r})"

    def __call__(self, fresh: bool = False) -> BearerToken:
        now = self.clock()
        cached = self.cache.get(self.key)
        if cached is None and not fresh:
            cached = access_from_text(self.saved.get_access())  # another process's
            if cached is not None:
                self.cache.put(self.key, cached)
        if cached is not None and not fresh and not cached.expiring(now):
            return self._bearer(cached)
        refresh_token = self.saved.get()
        if not refresh_token:
            raise SignInRequired(self.mailbox, "it has not been signed in yet")
        tokens = refresh(self.endpoints, refresh_token, self.mailbox, now)
        self.refreshes += 1
        if tokens.refresh_token != refresh_token:
            self.saved.put(tokens.refresh_token)
        self.cache.put(self.key, tokens)
        self.saved.put_access(access_text(tokens))
        return self._bearer(tokens)

    def _bearer(self, tokens: TokenSet) -> BearerToken:
        return BearerToken(
            tokens.access_token,
            missing_scope=tokens.missing_scope(self.endpoints.required_scope),
            renewable=True,
        )


class CommandTokenSource:
    """An access token printed by a program the user already runs (mpop's passwordeval, aerc):
    run afresh for every connection, so the program decides about caching and renewing."""

    def __init__(self, run: Callable[[], str | None], mailbox: str) -> None:
        self.run = run
        self.mailbox = mailbox

    def __repr__(self) -> str:
        return f"CommandTokenSource({self.mailbox!r})"

    def __call__(self, fresh: bool = False) -> BearerToken:
        from tui.core.secrets.errors import SecretStoreError

        try:
            token = self.run()
        except SecretStoreError as error:  # it failed, timed out or printed nothing usable
            raise TokenServiceUnreachable(
                f"No access token for {one_line(self.mailbox, 80)}: {error}"
            ) from None
        if not token:
            raise SignInRequired(self.mailbox, "its token command printed no token")
        return BearerToken(token.strip(), renewable=False)
