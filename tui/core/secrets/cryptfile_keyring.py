"""keyrings.cryptfile with one Argon2 derivation per process instead of one per password read.

keyrings.cryptfile salts every value on its own and derives the AES key with Argon2 (about 2 s
on a small machine) for each encryption and decryption, so a `poptui fetch --all` paid one
derivation per account, and two for a value saved without associated data. Here:

- derived keys are kept in this process's memory only, keyed by passphrase, salt and Argon2
  parameters, so the same salt is never derived twice in a process (never written anywhere);
- values written from now on reuse the salt of the file's password reference, so after the
  unlock every value decrypts with the key already derived. AES-GCM takes a fresh random
  16-byte nonce per value, which is what keeps reusing one key safe.

The file format is unchanged: each value still carries its salt, so upstream keyrings.cryptfile
reads these files and poptui reads files written by older versions (one derivation per old value
until it is written again; see `EncryptedFileStore.get`). Importing this module imports
keyrings.cryptfile: import it only when a file is opened.
"""

from __future__ import annotations

import configparser
import json
import os
import threading
from typing import Any

from keyrings.cryptfile.cryptfile import CryptFileKeyring
from keyrings.cryptfile.escape import escape as escape_for_ini
from keyrings.cryptfile.file_base import decodebytes

_REFERENCE = ("keyring-setting", "password reference")

_DerivationKey = tuple[str, bytes, int, int, int]
_derived: dict[_DerivationKey, bytes] = {}
_derived_lock = threading.Lock()


def forget_derived_keys() -> None:
    """Drop every key derived in this process (tests; a locked app may call it too)."""
    with _derived_lock:
        _derived.clear()


def _derive(passphrase: str, salt: bytes, time_cost: int, memory_cost: int, parallel: int) -> bytes:
    """Argon2id exactly as keyrings.cryptfile does it, once per (passphrase, salt, cost)."""
    wanted = (passphrase, salt, time_cost, memory_cost, parallel)
    with _derived_lock:
        key = _derived.get(wanted)
        if key is None:
            from argon2.low_level import Type, hash_secret_raw

            key = hash_secret_raw(
                secret=passphrase.encode("utf-8"),
                salt=salt,
                time_cost=time_cost,
                memory_cost=memory_cost,
                parallelism=parallel,
                hash_len=16,
                type=Type.ID,
            )
            _derived[wanted] = key
        return key


def salt_of(encrypted_base64: str) -> bytes | None:
    """The salt of one value as stored in the file, or None when it cannot be read."""
    try:
        payload = json.loads(decodebytes(encrypted_base64.strip().encode()).decode())
        return bytes(decodebytes(payload["salt"].encode()))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class SharedSaltKeyring(CryptFileKeyring):  # type: ignore[misc]
    """A CryptFileKeyring that derives each (passphrase, salt) key once per process and writes
    new values with the salt of the file's password reference."""

    def __init__(self) -> None:
        super().__init__()
        self._shared_salt: bytes | None = None

    def _create_cipher(self, password: str, salt: bytes, nonce: bytes | None = None) -> Any:
        from Crypto.Cipher import AES

        mode = self._get_mode(self.aesmode)
        if mode is None:
            raise ValueError(f"invalid AES mode: {self.aesmode}")
        key = _derive(password, salt, self.time_cost, self.memory_cost, self.parallelism)
        return AES.new(key, mode, nonce)

    def encrypt(self, password: bytes, assoc: bytes | None = None) -> bytes:
        if self._shared_salt is None:
            # A new file: the first value written is its password reference; its salt is shared.
            self._shared_salt = os.urandom(16)
        salt = self._shared_salt
        cipher = self._create_cipher(self.keyring_key, salt)
        if assoc is not None:
            cipher.update(assoc)
        data, mac = cipher.encrypt_and_digest(password)
        from keyrings.cryptfile.file_base import encodebytes

        fields = {"salt": salt, "data": data, "mac": mac, "nonce": cipher.nonce}
        return json.dumps({k: encodebytes(v).decode()[:-1] for k, v in fields.items()}).encode()

    def _unlock(self) -> None:
        """Check the passphrase against the reference, then share the reference's salt."""
        super()._unlock()
        self._shared_salt = self.stored_salt(*_REFERENCE)

    def stored_salt(self, service: str, username: str) -> bytes | None:
        """The salt the file holds for this value now; None when there is no such value."""
        config = configparser.RawConfigParser()
        config.read(self.file_path, encoding="utf-8")
        try:
            stored = config.get(escape_for_ini(service), escape_for_ini(username))
        except (configparser.NoSectionError, configparser.NoOptionError):
            return None
        return salt_of(stored)

    def uses_shared_salt(self, service: str, username: str) -> bool:
        """False for a value written with its own salt (by an older poptui or another tool)."""
        salt = self.stored_salt(service, username)
        return salt is None or salt == self._shared_salt
