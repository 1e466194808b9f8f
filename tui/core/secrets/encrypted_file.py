"""Passwords in a file encrypted with a passphrase (keyrings.cryptfile): the store that works
over SSH without a desktop keyring. keyrings.cryptfile is imported only when a file is opened."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tui.core.secrets.base import (
    SERVICE,
    SecretAccess,
    SecretKind,
    check_password,
    secret_id,
)
from tui.core.secrets.errors import (
    SecretStoreError,
    WrongPassphraseError,
    safe_detail,
)
from tui.core.storage.files import PRIVATE_FILE, make_private_dirs

_T = TypeVar("_T")

# What keyrings.cryptfile raises when the key does not decrypt the reference value.
_WRONG_KEY_MESSAGES = frozenset({"MAC check failed", "Incorrect Password"})


def default_encrypted_file_path() -> Path:
    """~/.local/share/poptui/secrets.cfg on Linux (platformdirs' user data directory)."""
    import platformdirs

    return platformdirs.user_data_path("poptui", appauthor=False) / "secrets.cfg"


def display_path(path: Path) -> str:
    """The path as the user would type it: ~/… under the home directory."""
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _unreadable(where: str, exc: Exception, passphrase: str) -> SecretStoreError:
    """The file exists but cryptfile could not read it (not a wrong passphrase)."""
    return SecretStoreError(
        f"The encrypted password file {where} could not be read; it may be damaged "
        f"or made by another program ({safe_detail(exc, [passphrase])})."
    )


class EncryptedFileStore:
    """Passwords in a keyrings.cryptfile file (Argon2 key derivation, AES-GCM).

    The passphrase is given by the caller (asked once per session by the UI): the key is set on
    the keyring object before its first use, so cryptfile never falls back to getpass. The Argon2
    key (about 2 s) is derived once per process and kept in memory only (`cryptfile_keyring`);
    values read are cached too, and that cache is dropped when the file changes on disk. A value
    an older version wrote with its own salt is rewritten with the file's shared salt when read,
    so the next process derives nothing more for it. The first `unlock` creates the file if it
    does not exist yet: use `exists` to ask for a new passphrase twice.
    """

    def __init__(self, path: Path | str, passphrase: str) -> None:
        if not isinstance(passphrase, str) or not passphrase.strip():
            raise SecretStoreError("The passphrase of the encrypted password file cannot be empty.")
        self._path = Path(path).expanduser()
        self._passphrase = passphrase
        self._keyring: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, str | None] = {}
        self._cache_stamp: tuple[int, int] | None = None

    @property
    def path(self) -> Path:
        return self._path

    @staticmethod
    def exists(path: Path | str) -> bool:
        """True when the file already has a passphrase (so the UI asks for it, not a new one)."""
        import configparser

        parser = configparser.RawConfigParser()
        try:
            parser.read(Path(path).expanduser(), encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            return False
        return parser.has_option("keyring_2Dsetting", "password_20reference")

    def describe(self) -> str:
        return f"encrypted file {display_path(self._path)}"

    def __repr__(self) -> str:
        return f"EncryptedFileStore(path={display_path(self._path)!r})"

    def unlock(self) -> None:
        """Check the passphrase now (or create the file): slow, call it off the UI thread."""
        with self._lock:
            self._open()

    def _open(self) -> Any:
        if self._keyring is not None:
            return self._keyring
        from tui.core.secrets.cryptfile_keyring import SharedSaltKeyring

        where = display_path(self._path)
        try:
            make_private_dirs(self._path.parent)
            created = not self._path.exists()
            opened = SharedSaltKeyring()
            opened.file_path = str(self._path)
            # Setting the key unlocks an existing file or creates a new one; never prompts.
            opened.keyring_key = self._passphrase
            if created and self._path.exists():
                # keyrings.cryptfile writes with open(): 0644 under umask 022. Its rewrites keep
                # the mode, so once is enough; only the encrypted reference was in it meanwhile.
                os.chmod(self._path, PRIVATE_FILE)
        except ValueError as exc:
            if str(exc) in _WRONG_KEY_MESSAGES:
                failure: SecretStoreError = WrongPassphraseError(
                    f"Wrong passphrase for the encrypted password file {where}."
                )
            else:
                failure = _unreadable(where, exc, self._passphrase)
        except OSError as exc:
            failure = SecretStoreError(
                f"Could not open the encrypted password file {where}: "
                f"{exc.strerror or type(exc).__name__}."
            )
        except Exception as exc:
            failure = _unreadable(where, exc, self._passphrase)
        else:
            self._keyring = opened
            self._cache.clear()
            self._cache_stamp = self._stamp()
            return opened
        raise failure

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _refresh_cache(self) -> None:
        stamp = self._stamp()
        if stamp != self._cache_stamp:
            self._cache.clear()
            self._cache_stamp = stamp

    def _attempt(
        self, access: SecretAccess, call: Callable[[Any], _T], hidden: Iterable[str] = ()
    ) -> tuple[_T | None, SecretStoreError | None]:
        """Like `KeyringStore._attempt`: returns the error so it is raised unchained."""
        try:
            with self._lock:
                opened = self._open()
                self._refresh_cache()
                return call(opened), None
        except SecretStoreError as exc:
            return None, exc
        except Exception as exc:
            return None, access.failed(self.describe(), exc, [*hidden, self._passphrase])

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        key = secret_id(account_key, kind)

        def read(opened: Any) -> str | None:
            if key not in self._cache:
                password = opened.get_password(SERVICE, key)
                self._cache[key] = password
                if password is not None and not opened.uses_shared_salt(SERVICE, key):
                    self._upgrade(opened, key, password)
            return self._cache[key]

        password, failure = self._attempt(SecretAccess("read", account_key, kind, mailbox), read)
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        check_password(password)
        write = partial(self._write, key=secret_id(account_key, kind), password=password)
        access = SecretAccess("store", account_key, kind, mailbox)
        _, failure = self._attempt(access, write, [password])
        del password, write  # see KeyringStore.set: keep it out of the raising frame's locals
        if failure is not None:
            raise failure

    def _write(self, opened: Any, *, key: str, password: str) -> None:
        opened.set_password(SERVICE, key, password)
        self._cache[key] = password
        self._cache_stamp = self._stamp()

    def _upgrade(self, opened: Any, key: str, password: str) -> None:
        """Rewrite a value that has its own salt with the shared one, unless the file changed
        since it was read (another process is writing: leave it, it costs time, not data)."""
        if self._stamp() != self._cache_stamp:
            return
        with contextlib.suppress(Exception):  # only an optimisation: reading has succeeded
            self._write(opened, key=key, password=password)

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        key = secret_id(account_key, kind)

        def forget(opened: Any) -> None:
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):  # idempotent
                opened.delete_password(SERVICE, key)
            self._cache[key] = None
            self._cache_stamp = self._stamp()

        _, failure = self._attempt(SecretAccess("delete", account_key, kind, mailbox), forget)
        if failure is not None:
            raise failure
