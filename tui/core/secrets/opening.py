"""How the app opens and switches secret stores without ever blocking its screen.

At start the configured store is opened in a worker and, instead of prompting, the outcome says
what is missing (a passphrase, a usable store). Each option of the setup screen is checked
(the keyring probed, each password command run once) before the choice is saved. The app's
screens call these from thread workers; `cancelled` is the worker's own flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui.core.secrets.base import SecretKind, SecretStore
from tui.core.secrets.choice import StoreChoice, open_store
from tui.core.secrets.command import DEFAULT_COMMAND_TIMEOUT, PasswordCommandStore
from tui.core.secrets.encrypted_file import (
    EncryptedFileStore,
    default_encrypted_file_path,
    display_path,
)
from tui.core.secrets.errors import SecretStoreError
from tui.core.secrets.handover import handed_over_passphrase
from tui.core.secrets.keyring import (
    DEFAULT_PROBE_TIMEOUT,
    KeyringHealth,
    KeyringProblem,
    KeyringStore,
    hanging_reason,
    probe_keyring,
)
from tui.core.secrets.setup import save_store_choice, saved_store_choice
from tui.core.secrets.threads import CallCancelled, CallTimedOut, call_in_thread
from tui.core.storage.models import database_proxy

OPENING_ADVICE = (
    "poptui is still opening the password store (checking the system keyring); "
    "try again in a moment."
)
PROBE_GRACE_S = 2.0
"""Waited beyond the probe's own timeout before giving up on it."""


def _never() -> bool:
    return False


@dataclass(frozen=True)
class SecretStoreConfig:
    """How the app opens and offers secret stores; tests inject the probe and the file path."""

    owner: str | None = None
    """Whose choice is saved (the account store's owner)."""
    probe: Callable[[], KeyringHealth] = probe_keyring
    """Finds out whether the system keyring really keeps passwords (blocking, in a worker)."""
    encrypted_file: Path | None = None
    """The encrypted file offered by default; None means `default_encrypted_file_path()`."""
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT + PROBE_GRACE_S
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    def default_file(self) -> Path:
        return self.encrypted_file or default_encrypted_file_path()

    def file_of(self, choice: StoreChoice) -> Path:
        return Path(choice.path).expanduser() if choice.path else self.default_file()

    def choice_for_file(self, path: Path) -> StoreChoice:
        """The choice to save: no path when it is the default one, so the default can move."""
        default = path == default_encrypted_file_path()
        return StoreChoice("cryptfile", path=None if default else str(path))

    def save(self, choice: StoreChoice) -> None:
        """Save `choice` as this owner's store (in the calling thread's own connection)."""
        with database_proxy.connection_context():
            save_store_choice(choice, self.owner)


def probe_within(
    probe: Callable[[], KeyringHealth], timeout: float, cancelled: Callable[[], bool] = _never
) -> KeyringHealth | None:
    """Run `probe` in a daemon thread; None when `cancelled()` turned true meanwhile.

    Neither a probe that never returns nor quitting the app while it runs can hang the caller:
    the thread is left behind and HANGING is reported instead.
    """
    try:
        return call_in_thread(probe, timeout, cancelled=cancelled, name="poptui-keyring-probe")
    except CallCancelled:
        return None
    except CallTimedOut:
        return KeyringHealth(KeyringProblem.HANGING, "", hanging_reason(timeout))
    except Exception as error:  # the probe is meant not to raise; say so if it does
        reason = f"The keyring check failed ({type(error).__name__})."
        return KeyringHealth(KeyringProblem.ERROR, "", reason)


# ---------------------------------------------------------------------------------------------
# At start.


@dataclass(frozen=True)
class StartOutcome:
    """What opening the configured store came to: exactly one of the three is set."""

    store: SecretStore | None = None
    """The store to use."""
    advice: str = ""
    """Nothing usable is configured: why, for the setup screen."""
    passphrase_file: Path | None = None
    """The encrypted file is chosen and its passphrase must be asked."""
    creating: bool = False
    """With `passphrase_file`: the file does not exist yet (ask the new passphrase twice)."""
    problem: str = ""
    """With `passphrase_file`: why the environment's passphrase did not open it."""


def open_configured(
    config: SecretStoreConfig, cancelled: Callable[[], bool] = _never
) -> StartOutcome:
    """In a thread: the saved choice, then the store it names (probing the keyring first)."""
    try:
        with database_proxy.connection_context():
            choice = saved_store_choice(config.owner)
    except SecretStoreError as error:
        return StartOutcome(advice=str(error))
    if choice is None or choice.kind == "keyring":
        health = probe_within(config.probe, config.probe_timeout, cancelled)
        if health is None:
            return StartOutcome(advice="The keyring check was stopped.")
        if not health.usable:
            return StartOutcome(advice=health.reason)
        try:
            return StartOutcome(store=KeyringStore(health.backend))
        except SecretStoreError as error:
            return StartOutcome(advice=str(error))
    if choice.kind == "cryptfile":
        path = config.file_of(choice)
        creating = not EncryptedFileStore.exists(path)
        if creating:
            return StartOutcome(passphrase_file=path, creating=creating)
        handed = None
        try:
            handed = handed_over_passphrase()
            if handed is not None:
                store = EncryptedFileStore(path, handed.passphrase)
                store.unlock()
                return StartOutcome(store=store)
        except SecretStoreError as error:
            problem = str(error)
            if handed is not None:
                problem = f"{error} (the passphrase came from {handed.source})"
            return StartOutcome(passphrase_file=path, problem=problem)
        return StartOutcome(passphrase_file=path)
    try:
        return StartOutcome(store=open_store(choice, command_timeout=config.command_timeout))
    except SecretStoreError as error:
        return StartOutcome(advice=str(error))


def locked_reason(path: Path) -> str:
    """Why no store is open when the encrypted file's passphrase was not entered."""
    where = display_path(path)
    return f"The encrypted password file {where} is locked: its passphrase was not entered."


# ---------------------------------------------------------------------------------------------
# Switching stores (the setup screen's options).


@dataclass(frozen=True)
class StoreSwitch:
    """A store checked and saved as the choice: use `store` from now on; `message` says so."""

    store: SecretStore
    message: str


class StoreRefusedError(SecretStoreError):
    """The store was checked and not taken (the message says why); nothing was changed."""


@dataclass(frozen=True)
class CommandMailbox:
    """One mailbox as the password-command option sees it."""

    account_key: str
    name: str
    same_credentials: bool
    """The outgoing server uses the incoming password: no outgoing command."""


def switch_to_file(config: SecretStoreConfig, store: EncryptedFileStore) -> StoreSwitch:
    """Save the (already unlocked) encrypted file as the choice."""
    config.save(config.choice_for_file(store.path))
    return StoreSwitch(store, f"Passwords are now kept in the {store.describe()}.")


def switch_to_commands(
    config: SecretStoreConfig,
    choice: StoreChoice,
    mailboxes: list[CommandMailbox],
    cancelled: Callable[[], bool] = _never,
) -> StoreSwitch | None:
    """Run each command once (dropping the password at once), then save the choice.

    Raises `StoreRefusedError` naming the mailbox whose command failed; None when cancelled.
    """
    store = PasswordCommandStore(choice.command_table(), timeout=config.command_timeout)
    missing: list[str] = []
    for mailbox in mailboxes:
        for kind in SecretKind:
            if cancelled():
                return None
            if store.command_for(mailbox.account_key, kind) is None:
                if kind is SecretKind.INCOMING:
                    missing.append(mailbox.name)
                continue
            try:  # the password itself is dropped at once
                store.get(mailbox.account_key, kind, mailbox=mailbox.name)
            except SecretStoreError as error:
                raise StoreRefusedError(str(error)) from None
    config.save(choice)
    message = "Passwords now come from the commands; each one printed a password."
    if missing:
        message += f" No command yet for: {', '.join(missing)}."
    return StoreSwitch(store, message)


def switch_to_keyring(
    config: SecretStoreConfig, cancelled: Callable[[], bool] = _never
) -> StoreSwitch | None:
    """Probe the keyring again and, if it works now, save it as the choice.

    Raises `StoreRefusedError` with what is wrong; None when cancelled.
    """
    health = probe_within(config.probe, config.probe_timeout, cancelled)
    if health is None:
        return None
    if not health.usable:
        raise StoreRefusedError(health.reason)
    store = KeyringStore(health.backend)
    config.save(StoreChoice("keyring"))
    return StoreSwitch(store, f"Passwords are now kept in the {store.describe()}.")
