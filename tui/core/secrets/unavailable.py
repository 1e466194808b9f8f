"""What the app holds while no real secret store is open: every call says why and what to do.

The app starts before the configured store is open (the keyring may hang over SSH), so screens
get a `PendingStore` meanwhile and an `UnavailableStore` when nothing usable is configured.
"""

from __future__ import annotations

import threading

from tui.core.secrets.base import SecretKind, SecretStore
from tui.core.secrets.errors import KeyringUnavailableError


class UnavailableStore:
    """Stands in for the secret store while none is open: every call raises with the advice.

    The app holds one until the configured store is opened (off the UI thread), and keeps it
    when nothing usable is configured, so screens show what to do instead of crashing.
    """

    def __init__(self, advice: str) -> None:
        self.advice = advice
        """User-facing: why no store is open and what to do about it."""

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        raise KeyringUnavailableError(self.advice)

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        del password  # never kept, not even in the raising frame
        raise KeyringUnavailableError(self.advice)

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        raise KeyringUnavailableError(self.advice)

    def describe(self) -> str:
        return "no password store open"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PendingStore(UnavailableStore):
    """The store while the configured one is being opened at start.

    Store calls run in workers, so one made meanwhile (the first poll's fetch) may wait a few
    seconds for the opening to settle and then goes to the store opened; past that it raises
    the advice like any `UnavailableStore`.
    """

    def __init__(self, advice: str, wait: float) -> None:
        super().__init__(advice)
        self._wait = wait
        self._ready = threading.Event()
        self._settled_store: SecretStore | None = None

    def settle(self, store: SecretStore) -> None:
        """The opening is over: calls waiting (and later ones) go to `store`."""
        self._settled_store = store
        self._ready.set()

    def _settled(self) -> SecretStore:
        if self._ready.wait(self._wait) and self._settled_store is not None:
            return self._settled_store
        raise KeyringUnavailableError(self.advice)

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        return self._settled().get(account_key, kind, mailbox=mailbox)

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        self._settled().set(account_key, kind, password, mailbox=mailbox)

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        self._settled().delete(account_key, kind, mailbox=mailbox)
