"""What every command runs with: its parsed arguments, the console, the database, the secret store.

The secret store is opened on first use only: most commands never touch a password, and opening
one may ask for a passphrase or wait on a keyring.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui.cli.console import Console, ask_passphrase

if TYPE_CHECKING:
    from tui.core.secrets import SecretStore
    from tui.core.storage.accounts import AccountStore


class CommandContext:
    """One parsed command line, the console it writes to, and the stores it works on."""

    def __init__(
        self,
        args: argparse.Namespace,
        console: Console,
        url: str,
        *,
        secret_store_factory: Callable[[], SecretStore] | None = None,
    ) -> None:
        self.args = args
        self.console = console
        self.url = url
        """The database URL, resolved (option, environment or the default file)."""
        self._secret_store_factory = secret_store_factory
        self._secret_store: SecretStore | None = None
        fd = getattr(args, "passphrase_fd", None)
        if fd is not None:  # read only when a store needs it: most commands never do
            from tui.core.secrets.handover import use_passphrase_fd

            use_passphrase_fd(fd)

    @property
    def accounts(self) -> AccountStore:
        from tui.core.storage.accounts import AccountStore  # peewee: not for --version

        return AccountStore()

    def secrets(self) -> SecretStore:
        """The configured secret store, opened once; raises the store's error when it cannot be."""
        if self._secret_store is None:
            if self._secret_store_factory is not None:
                self._secret_store = self._secret_store_factory()
            else:
                from tui.core.secrets.setup import open_configured_store

                self._secret_store = open_configured_store(ask_passphrase)
        return self._secret_store

    def use_secret_store(self, store: SecretStore) -> None:
        """Use this store from now on (`poptui secrets use` has just opened the new choice)."""
        self._secret_store = store
