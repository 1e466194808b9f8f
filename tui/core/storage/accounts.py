"""Accounts as the app and the command line use them: create, edit, remove, switch the active one.

Every change to an account goes through `AccountStore`, so each rule has one home: "exactly one
active mailbox" (with the database's unique index), when a disabled mailbox may fetch again, and
that removing one forgets its passwords. Converts between `AccountSettings` (what the form
holds) and the `Account` row.
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import uuid
from dataclasses import fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from peewee import IntegrityError, OperationalError

from tui.core.errors import PoptuiError
from tui.core.settings import AccountSettings, DeletePolicy, Security, SharingPermission
from tui.core.storage.dialect import dialect_of, write_transaction
from tui.core.storage.models import Account, AppUser, FetchLog, Message, database_proxy, utcnow
from tui.core.storage.source_files import SourceFiles

ACTIVATE_RETRIES = 20

_PLAIN_FIELDS = [
    f.name
    for f in fields(AccountSettings)
    if f.name not in {"incoming_security", "outgoing_security", "delete_policy", "sharing", "extra"}
]


class AccountError(PoptuiError):
    """An account operation that cannot be done, worded for the user."""


class AccountNotFound(AccountError):
    pass


CLIENT_SECRET_SUFFIX = ".oauth-client"
"""An OAuth2 client secret is kept in the secret store as the incoming secret of the account's
secret key plus this (`tui.core.oauth.signin.client_secret`), never in the database."""
ACCESS_TOKEN_SUFFIX = ".oauth-access"
"""Likewise the last OAuth2 access token and its expiry, shared by the processes that fetch."""


class PasswordKind(StrEnum):
    """A mailbox's two passwords, by the values `tui.core.secrets.SecretKind` gives them.

    Storage may not import secrets (a higher room), yet removing a mailbox must forget both;
    `tests/integration/test_storage.py` holds the two enums to the same values.
    """

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class ForgetsPasswords(Protocol):
    """What `AccountStore.remove` needs of a `tui.core.secrets.SecretStore`."""

    def delete(self, account_key: str, kind: Any, /, *, mailbox: str = "") -> None: ...


def reenables(*, tested: bool, new_incoming_password: bool) -> bool:
    """When a change lets a mailbox that was disabled (too many failed logins or connections)
    fetch again: its settings just passed a test against the server, or it has a new incoming
    password. A new outgoing password fixes nothing the fetch does, and an untested edit of
    the settings may not either."""
    return tested or new_incoming_password


def close_interrupted_fetches(account: Account, now: datetime) -> int:
    """Mark the fetch-log rows a killed process left "running" as "interrupted"; how many.

    Call it only while holding the account's fetch lock: then no fetch of it is running.
    """
    return int(
        FetchLog.update(status="interrupted", finished_at=now)
        .where((FetchLog.account == account) & (FetchLog.status == "running"))
        .execute()
    )


def current_user() -> str:
    """Who is using poptui: the operating-system login (over SSH, each person is themselves).

    On PostgreSQL it is the database role the connection logged in as, which with peer
    authentication over the Unix socket is that same login; the row-level security policies
    compare rows with it, so the app must use the same name.
    """
    db = database_proxy.obj
    sql = dialect_of(db).current_user_sql if db is not None else ""
    if sql:
        return str(db.execute_sql(sql).fetchone()[0])
    return getpass.getuser()


def registered_user(name: str) -> AppUser | None:
    """The user's row, None before their first command (`SharingService.ensure_user` adds it)."""
    return AppUser.get_or_none(AppUser.name == name)


def settings_of(account: Account) -> AccountSettings:
    values = {name: getattr(account, name) for name in _PLAIN_FIELDS}
    return AccountSettings(
        **values,
        incoming_security=Security(account.incoming_security),
        outgoing_security=Security(account.outgoing_security),
        delete_policy=DeletePolicy(account.delete_policy),
        sharing=SharingPermission(account.sharing),
    )


def _apply(account: Account, settings: AccountSettings) -> None:
    for name in _PLAIN_FIELDS:
        setattr(account, name, getattr(settings, name))
    account.incoming_security = settings.incoming_security.value
    account.outgoing_security = settings.outgoing_security.value
    account.delete_policy = settings.delete_policy.value
    account.sharing = settings.sharing.value
    account.updated_at = utcnow()


class AccountStore:
    """The accounts of one owner (the current OS user unless told otherwise)."""

    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner or current_user()

    def _query(self) -> object:
        return Account.select().where(
            (Account.owner == self.owner) & (Account.archived_at.is_null())
        )

    def list(self) -> list[Account]:
        return list(self._query().order_by(Account.name))  # type: ignore[attr-defined]

    def names(self) -> builtins.list[str]:
        return [a.name for a in self.list()]

    def get(self, name: str) -> Account:
        found = self._query().where(Account.name == name).first()  # type: ignore[attr-defined]
        if found is None:
            known = ", ".join(self.names()) or "none yet"
            raise AccountNotFound(f"No account named {name!r} (accounts: {known})")
        return found  # type: ignore[no-any-return]

    def get_by_id(self, account_id: int) -> Account:
        found = self._query().where(Account.id == account_id).first()  # type: ignore[attr-defined]
        if found is None:
            raise AccountNotFound(f"No account with id {account_id}")
        return found  # type: ignore[no-any-return]

    def active(self) -> Account | None:
        return self._query().where(Account.is_active).first()  # type: ignore[attr-defined, no-any-return]

    def create(self, settings: AccountSettings, *, activate: bool | None = None) -> Account:
        """Store a new account; the first one becomes active unless told otherwise."""
        account = Account(owner=self.owner, secret_key=uuid.uuid4().hex, created_at=utcnow())
        _apply(account, settings)
        with database_proxy.atomic():
            try:
                account.save(force_insert=True)
            except IntegrityError as error:
                raise AccountError(f"An account named {settings.name!r} already exists") from error
        if activate or (activate is None and self.active() is None):
            self.activate(account.name)
            account = self.get(account.name)
        return account

    def update(self, name: str, settings: AccountSettings) -> Account:
        account = self.get(name)
        _apply(account, settings)
        try:
            with database_proxy.atomic():
                account.save()
        except IntegrityError as error:
            raise AccountError(f"An account named {settings.name!r} already exists") from error
        return account

    def activate(self, name: str) -> Account:
        """Make `name` the one active mailbox.

        Clear-then-set in one transaction; a concurrent writer that slips between the two hits the
        partial unique index and retries, so there is never a moment with two active mailboxes.
        """
        target = self.get(name)
        last_error: Exception | None = None
        for _ in range(ACTIVATE_RETRIES):
            try:
                with write_transaction(database_proxy.obj):
                    # Lock this owner's rows first, in a fixed order, so concurrent switches
                    # queue up instead of deadlocking on the unique index (PostgreSQL).
                    if dialect_of(database_proxy.obj).locks_rows:
                        list(
                            Account.select(Account.id)
                            .where(Account.owner == self.owner)
                            .order_by(Account.id)
                            .for_update()
                        )
                    Account.update(is_active=False).where(
                        (Account.owner == self.owner)
                        & Account.is_active
                        & (Account.id != target.id)
                    ).execute()
                    Account.update(is_active=True).where(Account.id == target.id).execute()
                return self.get(name)
            except (IntegrityError, OperationalError) as error:
                # SQLite writers queue on BEGIN IMMEDIATE, so only PostgreSQL (a deadlock, a
                # lost race on the unique index) is worth another try; a full or read-only
                # disk is not, and is worded by the caller.
                if (
                    isinstance(error, OperationalError)
                    and not dialect_of(database_proxy.obj).locks_rows
                ):
                    raise
                last_error = error
        raise AccountError(f"Could not switch the active mailbox: {last_error}")

    def enable(self, name: str) -> Account:
        """Clear an automatic disable (a new password or working settings are in): fetch again."""
        account = self.get(name)
        Account.update(
            disabled=False,
            disabled_reason="",
            consecutive_auth_failures=0,
            consecutive_connect_failures=0,
        ).where(Account.id == account.id).execute()
        return self.get(name)

    def enable_if_fixed(
        self, name: str, *, tested: bool = False, new_incoming_password: bool = False
    ) -> bool:
        """After a change to `name`: enable it again if it was disabled and `reenables` says the
        change may have fixed it. True when it was re-enabled (worth telling the user)."""
        if not self.get(name).disabled or not reenables(
            tested=tested, new_incoming_password=new_incoming_password
        ):
            return False
        self.enable(name)
        return True

    def remove(
        self, name: str, *, keep_mail: bool, secrets: ForgetsPasswords | None = None
    ) -> None:
        """Remove an account; with `keep_mail` its fetched mail stays, readable as archived.

        With `secrets` (the `SecretStore` in use) its incoming and outgoing passwords are
        forgotten too, after the database change: a store that fails (a locked keyring) raises
        its own error with the account already gone, as the app has always done.
        """
        account = self.get(name)
        with database_proxy.atomic():
            if keep_mail:
                stamp = utcnow()
                Account.update(
                    archived_at=stamp,
                    is_active=False,
                    name=f"{account.name} (removed {stamp:%Y-%m-%d %H:%M:%S.%f})",
                ).where(Account.id == account.id).execute()
            else:
                account.delete_instance()
            if account.is_active:
                successor = self._query().order_by(Account.name).first()  # type: ignore[attr-defined]
                if successor is not None and not successor.disabled:
                    Account.update(is_active=True).where(Account.id == successor.id).execute()
        db = database_proxy.obj
        if not keep_mail and not db.in_transaction():  # the rows are gone for good (committed)
            files = SourceFiles.for_database(db)
            if files is not None:
                with contextlib.suppress(OSError):  # left behind, referred to by nothing
                    files.remove_account(account.id)
        if secrets is not None:
            for kind in PasswordKind:
                secrets.delete(account.secret_key, kind, mailbox=account.name)
            if account.auth_method == "oauth2":  # its client secret and last access token
                for suffix in (CLIENT_SECRET_SUFFIX, ACCESS_TOKEN_SUFFIX):
                    secrets.delete(
                        account.secret_key + suffix, PasswordKind.INCOMING, mailbox=account.name
                    )

    def message_count(self, account: Account, *, include_deleted: bool = False) -> int:
        query = Message.select().where(Message.account == account)
        if not include_deleted:
            query = query.where(~Message.deleted_here)
        return int(query.count())
