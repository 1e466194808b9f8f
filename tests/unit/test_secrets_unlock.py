"""The encrypted file derives its Argon2 key once per process (issue #10, item 3).

The derivation is counted by wrapping argon2's real `hash_secret_raw` (it still runs): the
store, keyrings.cryptfile and the file on disk are the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import argon2.low_level
import pytest

from tui.core.secrets import EncryptedFileStore, SecretKind
from tui.core.secrets.base import SERVICE, secret_id
from tui.core.secrets.cryptfile_keyring import forget_derived_keys

PASSPHRASE = "correct horse battery staple"
ACCOUNTS = [f"account{n}" for n in range(5)]


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Salts passed to the real Argon2 derivation, in order; starts with no key in memory."""
    real: Callable[..., bytes] = argon2.low_level.hash_secret_raw
    salts: list[bytes] = []

    def counting(*args: Any, **kwargs: Any) -> bytes:
        salts.append(kwargs.get("salt", args[1] if len(args) > 1 else b""))
        return real(*args, **kwargs)

    monkeypatch.setattr(argon2.low_level, "hash_secret_raw", counting)
    forget_derived_keys()
    yield salts
    forget_derived_keys()


def _fill(path: Path) -> None:
    store = EncryptedFileStore(path, PASSPHRASE)
    for account in ACCOUNTS:
        store.set(account, SecretKind.INCOMING, f"{account}-pop")
        store.set(account, SecretKind.OUTGOING, f"{account}-smtp")


def _new_process() -> None:
    """What a new process starts with: no derived key in memory."""
    forget_derived_keys()


def test_ten_reads_in_a_new_process_derive_the_key_once(
    tmp_path: Path, derivations: list[bytes]
) -> None:
    path = tmp_path / "secrets.cfg"
    _fill(path)
    _new_process()
    derivations.clear()
    store = EncryptedFileStore(path, PASSPHRASE)
    for account in ACCOUNTS:
        assert store.get(account, SecretKind.INCOMING) == f"{account}-pop"
        assert store.get(account, SecretKind.OUTGOING) == f"{account}-smtp"
    assert len(derivations) == 1
    # A second store on the same file in the same process (the app reopening it) derives nothing.
    again = EncryptedFileStore(path, PASSPHRASE)
    assert again.get(ACCOUNTS[-1], SecretKind.INCOMING) == f"{ACCOUNTS[-1]}-pop"
    assert len(derivations) == 1


def test_a_wrong_passphrase_is_still_refused_and_not_cached_as_right(
    tmp_path: Path, derivations: list[bytes]
) -> None:
    from tui.core.secrets import WrongPassphraseError

    path = tmp_path / "secrets.cfg"
    _fill(path)
    with pytest.raises(WrongPassphraseError):
        EncryptedFileStore(path, "not the passphrase").unlock()
    with pytest.raises(WrongPassphraseError):
        EncryptedFileStore(path, "not the passphrase").unlock()
    assert EncryptedFileStore(path, PASSPHRASE).get(ACCOUNTS[0], SecretKind.INCOMING)


def test_a_file_written_by_plain_cryptfile_is_read_and_then_costs_one_derivation(
    tmp_path: Path, derivations: list[bytes]
) -> None:
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    path = tmp_path / "secrets.cfg"
    legacy = CryptFileKeyring()
    legacy.file_path = str(path)
    legacy.keyring_key = PASSPHRASE
    for account in ACCOUNTS:
        legacy.set_password(SERVICE, secret_id(account, SecretKind.INCOMING), f"{account}-pop")
    _new_process()
    derivations.clear()
    first = EncryptedFileStore(path, PASSPHRASE)
    assert [first.get(a, SecretKind.INCOMING) for a in ACCOUNTS] == [f"{a}-pop" for a in ACCOUNTS]
    assert len(derivations) == 1 + len(ACCOUNTS)  # each old value has its own salt

    _new_process()
    derivations.clear()
    second = EncryptedFileStore(path, PASSPHRASE)
    assert [second.get(a, SecretKind.INCOMING) for a in ACCOUNTS] == [f"{a}-pop" for a in ACCOUNTS]
    assert len(derivations) == 1  # the first process rewrote them with the shared salt


def test_upstream_cryptfile_still_reads_the_file(tmp_path: Path, derivations: list[bytes]) -> None:
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    path = tmp_path / "secrets.cfg"
    _fill(path)
    upstream = CryptFileKeyring()
    upstream.file_path = str(path)
    upstream.keyring_key = PASSPHRASE
    key = secret_id(ACCOUNTS[2], SecretKind.OUTGOING)
    assert upstream.get_password(SERVICE, key) == f"{ACCOUNTS[2]}-smtp"


def test_derived_keys_never_reach_the_file(tmp_path: Path, derivations: list[bytes]) -> None:
    from tui.core.secrets import cryptfile_keyring

    path = tmp_path / "secrets.cfg"
    _fill(path)
    content = path.read_bytes()
    keys = list(cryptfile_keyring._derived.values())
    assert keys
    for key in keys:
        assert key not in content
        import base64

        assert base64.b64encode(key) not in content
