"""Passwords in a dict: the store tests and the app factory's test configuration pass in."""

from __future__ import annotations

from collections.abc import Mapping

from tui.core.secrets.base import SecretKind, check_password, secret_id


class MemoryStore:
    """Passwords kept in this process only, gone at exit."""

    def __init__(self, initial: Mapping[tuple[str, SecretKind], str] | None = None) -> None:
        self._values: dict[str, str] = {}
        for (account_key, kind), password in (initial or {}).items():
            self._values[secret_id(account_key, kind)] = password

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        return self._values.get(secret_id(account_key, kind))

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        check_password(password)
        self._values[secret_id(account_key, kind)] = password

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        self._values.pop(secret_id(account_key, kind), None)

    def describe(self) -> str:
        return "memory (not kept after exit)"

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._values)} passwords)"
