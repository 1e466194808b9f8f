"""Which secret store this user's passwords live in, saved per user in the database.

The choice (never a password) is a `Setting` row; with none saved the system keyring is used if
a probe shows it really keeps passwords, otherwise the caller gets the advice to choose.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from tui.core.secrets.stores import (
    KeyringHealth,
    KeyringUnavailableError,
    SecretKind,
    SecretStore,
    StoreChoice,
    open_store,
    probe_keyring,
)
from tui.core.storage.accounts import current_user
from tui.core.storage.models import Setting

SETTING_KEY = "secret_store"
PASSPHRASE_ENV = "POPTUI_SECRETS_PASSPHRASE"
"""For scripts and timers: the encrypted file's passphrase (keep it in a root-only unit file)."""

CHOOSE_HINT = (
    "Pick one from a shell: `poptui secrets use file` (encrypted file), "
    "`poptui secrets use command ACCOUNT --incoming 'pass show mail/work'` (password command), "
    "or `poptui secrets use keyring` after fixing the keyring; or in the app's password editor."
)


class UnavailableStore:
    """Stands in for the secret store while none is open: every call raises with the advice.

    The app holds one until the configured store is opened (off the UI thread), and keeps it
    when nothing usable is configured, so screens show what to do instead of crashing.
    """

    def __init__(self, advice: str) -> None:
        self.advice = advice
        """User-facing: why no store is open and what to do about it."""

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        raise KeyringUnavailableError(self.advice)

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        del password  # never kept, not even in the raising frame
        raise KeyringUnavailableError(self.advice)

    def delete(self, account_key: str, kind: SecretKind) -> None:
        raise KeyringUnavailableError(self.advice)

    def describe(self) -> str:
        return "no password store open"

    def __repr__(self) -> str:
        return "UnavailableStore()"


def saved_choice(owner: str | None = None) -> StoreChoice | None:
    row = Setting.get_or_none(
        (Setting.owner == (owner or current_user())) & (Setting.key == SETTING_KEY)
    )
    if row is None:
        return None
    return StoreChoice.from_dict(json.loads(row.value))


def save_choice(choice: StoreChoice, owner: str | None = None) -> None:
    owner = owner or current_user()
    value = json.dumps(choice.to_dict(), sort_keys=True)
    updated = (
        Setting.update(value=value)
        .where((Setting.owner == owner) & (Setting.key == SETTING_KEY))
        .execute()
    )
    if not updated:
        Setting.create(owner=owner, key=SETTING_KEY, value=value)


def passphrase_from_environment() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


def open_configured_store(
    passphrase_provider: Callable[[], str] | None = None,
    *,
    owner: str | None = None,
    probe: Callable[[], KeyringHealth] = probe_keyring,
) -> SecretStore:
    """Open the user's chosen store; with no choice saved, the keyring only if it works.

    Raises `KeyringUnavailableError` carrying the probe's advice when nothing usable is chosen.
    """
    choice = saved_choice(owner)
    if choice is None:
        health = probe()
        if not health.usable:
            raise KeyringUnavailableError(f"{health.advice}\n{CHOOSE_HINT}")
        return open_store(StoreChoice("keyring"), keyring_backend=health.backend)
    if choice.kind == "cryptfile":
        env = passphrase_from_environment()
        provider = (lambda: env) if env else passphrase_provider
        return open_store(choice, provider)
    return open_store(choice)
