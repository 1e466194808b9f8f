"""A password about to be saved with no store to keep it: choose (or unlock) one first.

Saving an account used to store its settings and drop the typed password ("Password not
stored") when the user had escaped the store setup or the passphrase dialog. The form now asks
for a store first and keeps the password while the user decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from tui.core.secrets import SecretStore, UnavailableStore
from tui.core.secrets.opening import SecretStoreConfig
from tui.core.secrets.unavailable import PendingStore
from tui.screens.secret_store_setup import SecretStoreSetupScreen
from tui.secret_store_start import LockedFileStore, ask_passphrase
from tui.services import Services

STORE_STILL_MISSING = (
    "Nothing saved, and the password you typed is still here: poptui has no password store "
    "to keep it in yet. Ctrl+L chooses one (or unlocks the password file)."
)


def store_missing(services: Services) -> bool:
    """No store could keep a password now (one still being opened does not count: it waits)."""
    store = services.secrets
    return isinstance(store, UnavailableStore) and not isinstance(store, PendingStore)


def choose_store(app: App[Any], services: Services, then: Callable[[], object]) -> None:
    """The passphrase dialog when the password file is locked, else the store setup; `then`
    runs when it is closed (whether a store was chosen or not)."""

    def closed(_: SecretStore | None) -> None:
        then()

    store = services.secrets
    if isinstance(store, LockedFileStore):
        ask_passphrase(app, services, store.path, then=closed)
        return
    config = getattr(app, "store_setup", None)
    if not isinstance(config, SecretStoreConfig):
        config = SecretStoreConfig(owner=services.accounts.owner)
    app.push_screen(SecretStoreSetupScreen(services, config), closed)
