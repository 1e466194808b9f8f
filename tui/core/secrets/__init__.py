"""Where account passwords live: the system keyring, an encrypted file or a password command.

Passwords never go to the database, config files or logs; error messages and reprs never
contain a password or passphrase. This face imports neither keyring nor keyrings.cryptfile
(`poptui fetch` with a password command must not pay for them): the stores load them on first
use. The user's saved choice is in `tui.core.secrets.setup`, the app's way of opening and
switching stores in `tui.core.secrets.opening` (both use the database).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

if TYPE_CHECKING:
    from tui.core.secrets.base import (
        DEFAULT_KEYRING_TIMEOUT,
        SERVICE,
        SecretKind,
        SecretStore,
        parse_secret_id,
        password_words,
        secret_id,
    )
    from tui.core.secrets.choice import StoreChoice, StoreKind, open_store
    from tui.core.secrets.command import DEFAULT_COMMAND_TIMEOUT, PasswordCommandStore
    from tui.core.secrets.encrypted_file import EncryptedFileStore, default_encrypted_file_path
    from tui.core.secrets.errors import (
        KeyringUnavailableError,
        PasswordCommandError,
        ReadOnlyStoreError,
        SecretStoreError,
        SecretStoreTimeoutError,
        UnsafeBackendError,
        WrongPassphraseError,
    )
    from tui.core.secrets.keyring import (
        ALTERNATIVES,
        DEFAULT_PROBE_TIMEOUT,
        LOCKED_ADVICE,
        NO_KEYRING_ADVICE,
        KeyringHealth,
        KeyringProblem,
        KeyringStore,
        probe_keyring,
    )
    from tui.core.secrets.memory import MemoryStore
    from tui.core.secrets.unavailable import PendingStore, UnavailableStore

__all__ = [
    "ALTERNATIVES",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_KEYRING_TIMEOUT",
    "DEFAULT_PROBE_TIMEOUT",
    "LOCKED_ADVICE",
    "NO_KEYRING_ADVICE",
    "SERVICE",
    "EncryptedFileStore",
    "KeyringHealth",
    "KeyringProblem",
    "KeyringStore",
    "KeyringUnavailableError",
    "MemoryStore",
    "PasswordCommandError",
    "PasswordCommandStore",
    "PendingStore",
    "ReadOnlyStoreError",
    "SecretKind",
    "SecretStore",
    "SecretStoreError",
    "SecretStoreTimeoutError",
    "StoreChoice",
    "StoreKind",
    "UnavailableStore",
    "UnsafeBackendError",
    "WrongPassphraseError",
    "default_encrypted_file_path",
    "open_store",
    "parse_secret_id",
    "password_words",
    "probe_keyring",
    "secret_id",
]

_HOMES = {
    "base": (
        "DEFAULT_KEYRING_TIMEOUT",
        "SERVICE",
        "SecretKind",
        "SecretStore",
        "parse_secret_id",
        "password_words",
        "secret_id",
    ),
    "choice": (
        "StoreChoice",
        "StoreKind",
        "open_store",
    ),
    "command": (
        "DEFAULT_COMMAND_TIMEOUT",
        "PasswordCommandStore",
    ),
    "encrypted_file": (
        "EncryptedFileStore",
        "default_encrypted_file_path",
    ),
    "errors": (
        "KeyringUnavailableError",
        "PasswordCommandError",
        "ReadOnlyStoreError",
        "SecretStoreError",
        "SecretStoreTimeoutError",
        "UnsafeBackendError",
        "WrongPassphraseError",
    ),
    "keyring": (
        "ALTERNATIVES",
        "DEFAULT_PROBE_TIMEOUT",
        "LOCKED_ADVICE",
        "NO_KEYRING_ADVICE",
        "KeyringHealth",
        "KeyringProblem",
        "KeyringStore",
        "probe_keyring",
    ),
    "memory": ("MemoryStore",),
    "unavailable": (
        "PendingStore",
        "UnavailableStore",
    ),
}

__getattr__ = lazy_exports(__name__, homes_of(_HOMES))
