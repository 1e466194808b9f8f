"""Which kind of store holds the passwords (`StoreChoice`, saved in settings, never a password)
and `open_store`, which opens the store a choice names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, NamedTuple

from tui.core.secrets.base import (
    DEFAULT_KEYRING_TIMEOUT,
    SecretKind,
    SecretStore,
    parse_secret_id,
    secret_id,
)
from tui.core.secrets.command import DEFAULT_COMMAND_TIMEOUT, PasswordCommand, PasswordCommandStore
from tui.core.secrets.errors import SecretStoreError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

StoreKind = Literal["keyring", "cryptfile", "command"]
_STORE_KINDS: tuple[StoreKind, ...] = ("keyring", "cryptfile", "command")


class StoreChoice(NamedTuple):  # not a dataclass: `poptui fetch` skips that import
    """Which store holds the passwords; saved in the app's settings as `to_dict()`."""

    kind: StoreKind = "keyring"
    path: str | None = None
    """cryptfile only; None means `default_encrypted_file_path()`."""
    commands: Mapping[str, str] = MappingProxyType({})
    """command only: `secret_id(account_key, kind)` -> command line."""

    def with_command(self, account_key: str, kind: SecretKind, command: str) -> StoreChoice:
        """A copy with the command for one account and kind set (validated now)."""
        PasswordCommand.parse(command)
        commands = dict(self.commands)
        commands[secret_id(account_key, kind)] = command.strip()
        return StoreChoice("command", self.path, commands)

    def command_table(self) -> dict[tuple[str, SecretKind], str]:
        """`commands` keyed by (account key, kind), as `PasswordCommandStore` takes them."""
        return {parse_secret_id(key): command for key, command in self.commands.items()}

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"kind": self.kind}
        if self.path is not None:
            data["path"] = self.path
        if self.commands:
            data["commands"] = dict(self.commands)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StoreChoice:
        def invalid(reason: str) -> SecretStoreError:
            return SecretStoreError(f"The saved password store setting is not valid: {reason}.")

        kind = data.get("kind", "keyring")
        if kind not in _STORE_KINDS:
            raise invalid(f"unknown kind {kind!r} (expected keyring, cryptfile or command)")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid("path must be text")
        raw_commands = data.get("commands", {})
        if not isinstance(raw_commands, Mapping):
            raise invalid("commands must be a table")
        commands: dict[str, str] = {}
        for key, command in raw_commands.items():
            if not isinstance(key, str) or not isinstance(command, str):
                raise invalid("commands must map text to text")
            try:
                parse_secret_id(key)
            except ValueError:
                raise invalid(f"{key!r} is not ACCOUNT:incoming or ACCOUNT:outgoing") from None
            commands[key] = command
        return cls(kind, path, commands)


def open_store(
    choice: StoreChoice,
    passphrase_provider: Callable[[], str] | None = None,
    *,
    keyring_backend: KeyringBackend | None = None,
    keyring_timeout: float | None = DEFAULT_KEYRING_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> SecretStore:
    """Open the chosen store. Blocking (the encrypted file is unlocked here): use a worker.

    `passphrase_provider` is called once, only for the encrypted file; the UI supplies it
    (a dialog, or the CLI's getpass) — this module never prompts.
    """
    # Each store's module loads with it: a password command needs neither of the others.
    if choice.kind == "keyring":
        from tui.core.secrets.keyring import KeyringStore

        return KeyringStore(keyring_backend, timeout=keyring_timeout)
    if choice.kind == "cryptfile":
        from pathlib import Path

        from tui.core.secrets.encrypted_file import (
            EncryptedFileStore,
            default_encrypted_file_path,
            display_path,
        )

        path = Path(choice.path) if choice.path else default_encrypted_file_path()
        if passphrase_provider is None:
            raise SecretStoreError(
                f"The encrypted password file {display_path(path)} needs its passphrase, and "
                "none can be asked here."
            )
        store = EncryptedFileStore(path, passphrase_provider())
        store.unlock()
        return store
    return PasswordCommandStore(choice.command_table(), timeout=command_timeout)
