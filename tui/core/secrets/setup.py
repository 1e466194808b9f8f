"""Which secret store this user's passwords live in, saved per user in the database.

The choice (never a password) is a `Setting` row; with none saved the system keyring is used if
a probe shows it really keeps passwords, otherwise the caller gets the advice to choose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.core.secrets.base import SecretStore
from tui.core.secrets.choice import StoreChoice, open_store
from tui.core.secrets.errors import KeyringUnavailableError
from tui.core.secrets.handover import handed_over_passphrase
from tui.core.storage.accounts import current_user
from tui.core.storage.user_settings import read_setting, save_setting

if TYPE_CHECKING:
    from tui.core.secrets.keyring import KeyringHealth

SETTING_KEY = "secret_store"

CHOOSE_HINT = (
    "Pick one from a shell: `poptui secrets use file` (encrypted file), "
    "`poptui secrets use command ACCOUNT --incoming 'pass show mail/work'` (password command), "
    "or `poptui secrets use keyring` after fixing the keyring; or in the app's password editor."
)


def saved_store_choice(owner: str | None = None) -> StoreChoice | None:
    """The store `owner` (default: the current user) chose, or None when none was saved.

    Raises `SecretStoreError` when the saved setting is not valid.
    """
    value = read_setting(owner or current_user(), SETTING_KEY)
    if value is None:
        return None
    return StoreChoice.from_dict(json.loads(value))


def save_store_choice(choice: StoreChoice, owner: str | None = None) -> None:
    """Remember `choice` for `owner` (default: the current user), replacing any earlier one."""
    owner = owner or current_user()
    value = json.dumps(choice.to_dict(), sort_keys=True)
    save_setting(owner, SETTING_KEY, value)


def passphrase_from_environment() -> str | None:
    """The encrypted file's passphrase as a scheduler handed it over (`tui.core.secrets.handover`:
    a descriptor, a private file, POPTUI_SECRETS_PASSPHRASE or a systemd credential), or None.

    Raises `SecretStoreError` when a source is set but cannot be used.
    """
    handed = handed_over_passphrase()
    return handed.passphrase if handed is not None else None


def open_configured_store(
    passphrase_provider: Callable[[], str] | None = None,
    *,
    owner: str | None = None,
    probe: Callable[[], KeyringHealth] | None = None,
) -> SecretStore:
    """The command line's store: the user's choice; with none saved, the keyring if it works.

    Raises `KeyringUnavailableError` carrying the probe's advice when nothing usable is chosen.
    The app opens its store with `tui.core.secrets.opening.open_configured`, which asks nothing
    itself and reports what is missing instead.
    """
    choice = saved_store_choice(owner)
    if choice is None:
        if probe is None:  # loaded only here: a saved choice of another store never needs it
            from tui.core.secrets.keyring import probe_keyring

            probe = probe_keyring
        health = probe()
        if not health.usable:
            raise KeyringUnavailableError(f"{health.advice}\n{CHOOSE_HINT}")
        return open_store(StoreChoice("keyring"), keyring_backend=health.backend)
    if choice.kind == "cryptfile":
        env = passphrase_from_environment()
        provider = (lambda: env) if env else passphrase_provider
        return open_store(choice, provider)
    return open_store(choice)
