"""What a mailbox logs in with: its password, or an OAuth2 account's token source.

Apart from `oauth.signin` so that a password mailbox, which most are, loads none of OAuth2's
modules (providers, tokens, the sign-in flows) to read its password: a fetch from cron pays
for every import before it connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.secrets.base import SecretKind
from tui.core.settings import AUTH_OAUTH2

if TYPE_CHECKING:
    from tui.core.net.pop3.auth import Secret
    from tui.core.secrets.base import SecretStore
    from tui.core.storage.models import Account


def login_secret(account: Account, store: SecretStore) -> Secret | None:
    """What `fetch_account` / `check_incoming` log in with; None when no password is stored."""
    if account.auth_method != AUTH_OAUTH2:
        return store.get(account.secret_key, SecretKind.INCOMING, mailbox=account.name)
    from tui.core.oauth.signin import token_source

    return token_source(account, store)
