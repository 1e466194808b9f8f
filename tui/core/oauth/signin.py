"""An account's OAuth2 side: its endpoints (with the client id set once for all accounts),
what an OAuth2 fetch logs in with (`token_source`), and saving a finished sign-in into the
secret store.

`oauth.login.login_secret` is the one place the app, `poptui fetch` and the connection test ask
for an account's credential: a password for password accounts, `token_source` for OAuth2 ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from tui.core.net.pop3.auth import BearerToken, Secret
from tui.core.oauth.errors import SIGN_IN_AGAIN, SignInFailed, SignInRequired
from tui.core.oauth.providers import Endpoints, OAuthSettingsError, endpoints_for
from tui.core.oauth.tokens import (
    CACHE,
    AccountTokenSource,
    CommandTokenSource,
    RefreshTokenStore,
    TokenSet,
    access_text,
)
from tui.core.secrets.base import SecretKind, SecretStore
from tui.core.settings import AUTH_OAUTH2, AccountSettings
from tui.core.storage.accounts import (
    ACCESS_TOKEN_SUFFIX,
    CLIENT_SECRET_SUFFIX,
    current_user,
    settings_of,
)
from tui.core.storage.models import Account
from tui.core.storage.user_settings import read_setting, save_setting

if TYPE_CHECKING:
    from collections.abc import Callable

CLIENT_ID_KEY = "oauth2.client_id"
"""Setting rows `oauth2.client_id.<provider>` (or without a provider: any) hold the client id
accounts use when they set none themselves. Not a secret: it identifies the app registration."""


def global_client_id(provider: str, owner: str | None = None) -> str:
    owner = owner or current_user()
    for key in (f"{CLIENT_ID_KEY}.{provider}", CLIENT_ID_KEY):
        value = read_setting(owner, key)
        if value:
            return value
    return ""


def set_global_client_id(client_id: str, provider: str = "", owner: str | None = None) -> None:
    owner = owner or current_user()
    key = f"{CLIENT_ID_KEY}.{provider}" if provider else CLIENT_ID_KEY
    save_setting(owner, key, client_id)


def client_secret(store: SecretStore, secret_key: str, mailbox: str) -> str:
    """The account's OAuth2 client secret from the secret store ("" when it has none)."""
    return store.get(secret_key + CLIENT_SECRET_SUFFIX, SecretKind.INCOMING, mailbox=mailbox) or ""


def keep_client_secret(store: SecretStore, secret_key: str, mailbox: str, secret: str) -> None:
    """Keep (or with "" forget) the client secret in the secret store, never the database."""
    key = secret_key + CLIENT_SECRET_SUFFIX
    if secret:
        store.set(key, SecretKind.INCOMING, secret, mailbox=f"{mailbox} OAuth2 client")
    else:
        store.delete(key, SecretKind.INCOMING, mailbox=f"{mailbox} OAuth2 client")


def split_client_secret(settings: AccountSettings) -> tuple[AccountSettings, str]:
    """The settings to write to the database (without the client secret), and the secret."""
    return replace(settings, oauth_client_secret=""), settings.oauth_client_secret


def endpoints_of(
    account: Account | AccountSettings,
    store: SecretStore | None = None,
    secret_key: str | None = None,
) -> Endpoints:
    """The account's endpoints; with `store`, its client secret comes from there unless the
    settings carry one just typed (older accounts may still have one in the database)."""
    settings = account if isinstance(account, AccountSettings) else settings_of(account)
    key = secret_key or (account.secret_key if isinstance(account, Account) else None)
    if store is not None and key and not settings.oauth_client_secret:
        kept = client_secret(store, key, settings.name)
        if kept:
            settings = replace(settings, oauth_client_secret=kept)
    from tui.core.oauth.providers import provider_for_host

    provider = settings.oauth_provider or provider_for_host(settings.incoming_host) or "generic"
    return endpoints_for(settings, global_client_id(str(provider)))


def token_source(account: Account, store: SecretStore) -> Secret:
    """An OAuth2 account's login (`oauth.login.login_secret`): its token command, or tokens
    from its sign-in, refreshed as needed; one that refuses, with why, when it cannot be."""
    key, name = account.secret_key, account.name
    if account.oauth_token_command:
        from tui.core.secrets.command import PasswordCommandStore

        commands = PasswordCommandStore({(key, SecretKind.INCOMING): account.oauth_token_command})
        return CommandTokenSource(
            lambda: commands.get(key, SecretKind.INCOMING, mailbox=f"{name} token"), name
        )
    try:
        endpoints = endpoints_of(account, store)
    except OAuthSettingsError as error:
        return _refusing(SignInRequired(name, error.message, hint=error.hint))
    return AccountTokenSource(key, name, endpoints, saved_tokens(store, key, name))


def saved_tokens(store: SecretStore, key: str, name: str) -> RefreshTokenStore:
    """The account's refresh token and its last access token, both in the secret store."""
    access_key = key + ACCESS_TOKEN_SUFFIX

    def put_access(text: str) -> None:
        from tui.core.secrets.errors import SecretStoreError

        # Only a cache: a store that cannot keep it costs one refresh per process.
        with contextlib.suppress(SecretStoreError):
            store.set(access_key, SecretKind.INCOMING, text, mailbox=f"{name} access token")

    def get_access() -> str | None:
        from tui.core.secrets.errors import SecretStoreError

        try:
            return store.get(access_key, SecretKind.INCOMING, mailbox=f"{name} access token")
        except SecretStoreError:
            return None

    return RefreshTokenStore(
        get=lambda: store.get(key, SecretKind.INCOMING, mailbox=name),
        put=lambda token: store.set(key, SecretKind.INCOMING, token, mailbox=name),
        get_access=get_access,
        put_access=put_access,
    )


def form_bearer(
    settings: AccountSettings,
    store: SecretStore,
    *,
    secret_key: str | None = None,
    tokens: TokenSet | None = None,
) -> BearerToken:
    """The access token the form's "Test & save" logs in with, before anything is saved: its
    token command's, the sign-in's just made (`tokens`), or one renewed from the refresh token
    the mailbox being edited (`secret_key`) keeps. `SignInRequired` when there is none."""
    name = settings.name or "this mailbox"
    if settings.oauth_token_command:
        from tui.core.secrets.command import PasswordCommandStore

        key = secret_key or "form-test"
        commands = PasswordCommandStore({(key, SecretKind.INCOMING): settings.oauth_token_command})
        run = CommandTokenSource(
            lambda: commands.get(key, SecretKind.INCOMING, mailbox=f"{name} token"), name
        )
        return run(False)
    endpoints = endpoints_of(settings, store, secret_key)
    if tokens is not None:
        return BearerToken(
            tokens.access_token,
            missing_scope=tokens.missing_scope(endpoints.required_scope),
            granted_scope=tokens.scope,
            just_issued=True,
        )
    if secret_key is None:
        raise SignInRequired(name, "it has not been signed in yet")
    saved = saved_tokens(store, secret_key, name)
    return AccountTokenSource(secret_key, name, endpoints, saved)(True)


def same_sign_in(before: AccountSettings, after: AccountSettings) -> bool:
    """A saved refresh token still belongs to `after`: same provider, token endpoint and
    client. Otherwise it is never sent (it would go to another service) and the form signs in."""
    if not (before.uses_oauth2 and after.uses_oauth2) or before.oauth_token_command:
        return False
    try:
        old, new = endpoints_of(before), endpoints_of(after)
    except OAuthSettingsError:
        return False
    return (old.provider, old.token_url, old.client_id, old.scope) == (
        new.provider,
        new.token_url,
        new.client_id,
        new.scope,
    )


def _refusing(error: SignInRequired) -> Callable[[bool], BearerToken]:
    def source(fresh: bool) -> BearerToken:
        raise error

    return source


def save_sign_in(account: Account, store: SecretStore, tokens: TokenSet) -> None:
    """Keep a finished sign-in: the refresh token in the secret store, the access token here."""
    require_refresh_token(tokens)
    store.set(account.secret_key, SecretKind.INCOMING, tokens.refresh_token, mailbox=account.name)
    CACHE.put(account.secret_key, tokens)
    saved_tokens(store, account.secret_key, account.name).put_access(access_text(tokens))


def require_refresh_token(tokens: TokenSet) -> None:
    """Without a refresh token poptui could not fetch again once the access token expired."""
    if not tokens.refresh_token:
        raise SignInFailed(
            "The provider signed you in but gave no refresh token, so poptui could not fetch "
            "again later.",
            hint="Microsoft: the scope needs offline_access. Google: sign in again (poptui asks "
            "with prompt=consent).",
        )


def missing_scope_problem(endpoints: Endpoints, tokens: TokenSet) -> str:
    """A sentence when the provider granted less than mail needs; "" when all is well."""
    missing = tokens.missing_scope(endpoints.required_scope)
    if not missing:
        return ""
    return (
        f"scope missing: the provider granted “{tokens.scope}” but reading mail needs "
        f"“{missing}”. Check the app registration's permissions, then sign in again."
    )


def needs_sign_in(account: Account) -> bool:
    """The last fetch stopped because the account must be signed in (again): what the list,
    `poptui doctor` and the app show instead of a plain "error"."""
    return (
        account.auth_method == AUTH_OAUTH2
        and account.last_fetch_status == "error"
        and SIGN_IN_AGAIN in (account.last_fetch_error or "").lower()
    )
