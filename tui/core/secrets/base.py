"""What every secret store is: the two kinds of password, the ids they are filed under, and the
`SecretStore` protocol the app, the CLI and the fetch call."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from tui.core.secrets.errors import SecretStoreError, failed_to
from tui.core.text import one_line

SERVICE = "poptui"
"""Keyring service name; the keyring username is `secret_id(account_key, kind)`."""


DEFAULT_KEYRING_TIMEOUT = 30.0
"""Generous: a desktop keyring may show an unlock prompt the user has to answer. (Here, not in
`keyring`, so that choosing a store loads no store's module.)"""


class SecretKind(StrEnum):
    """Which of an account's two passwords: they are changed separately."""

    INCOMING = "incoming"
    """The POP3 server's password."""
    OUTGOING = "outgoing"
    """The SMTP server's password."""


def secret_id(account_key: str, kind: SecretKind) -> str:
    """The name one password is filed under in every store: ``<account secret key>:incoming``.

    The key is the account's `secret_key` (a uuid), so renaming a mailbox keeps its passwords;
    users never see it (messages name the mailbox instead).
    """
    if not account_key:
        raise ValueError("account_key must not be empty")
    return f"{account_key}:{SecretKind(kind).value}"


def parse_secret_id(value: str) -> tuple[str, SecretKind]:
    """Inverse of `secret_id`; the kind is after the last colon, so keys may contain colons."""
    account_key, sep, kind = value.rpartition(":")
    if not sep or not account_key or kind not in {k.value for k in SecretKind}:
        raise ValueError(f"not a secret id (expected 'ACCOUNT:incoming|outgoing'): {value!r}")
    return account_key, SecretKind(kind)


def password_words(kind: SecretKind, mailbox: str) -> str:
    """ "incoming password of Work", or "incoming password" when no mailbox name is given.

    The one way errors say whose password: by the mailbox's name, never by its secret key.
    """
    name = one_line(mailbox, 80)
    return f"{kind.value} password of {name}" if name else f"{kind.value} password"


class SecretAccess(NamedTuple):  # not a dataclass: `poptui fetch` skips that import
    """One read, store or delete of one password, as a store's failure words it."""

    action: Literal["read", "store", "delete"]
    account_key: str
    kind: SecretKind
    mailbox: str

    def failed(self, where: str, exc: Exception, hidden: Iterable[str] = ()) -> SecretStoreError:
        """The backend's failure in words, without the secrets in `hidden` and without the
        account key (a backend may quote the keyring username): the mailbox is named instead."""
        what = password_words(self.kind, self.mailbox)
        return failed_to(self.action, what, where, exc, [*hidden, self.account_key])


@runtime_checkable
class SecretStore(Protocol):
    """Where an installation keeps account passwords. Calls may block: run them in a worker.

    `account_key` is the account's secret key; `mailbox`, its name, only words errors.
    """

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        """The password, or None when none is stored."""
        ...

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        """Store or replace the password."""
        ...

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        """Forget the password; deleting one that is not there is not an error."""
        ...

    def describe(self) -> str:
        """Where the passwords are, for the user, e.g. "system keyring (Secret Service)"."""
        ...


def check_password(password: str) -> None:
    """Refuse what no store should keep: a non-string or an empty password."""
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    if not password:
        raise SecretStoreError("An empty password cannot be stored.")
