"""Creating what an `ImportPlan` found: accounts, their passwords in the secret store, and the
peer's already-fetched UIDLs; or, with `dry_run`, only saying what would be created.

All or nothing: the accounts and UIDLs are written in one transaction, and the passwords inside
it; a failure anywhere rolls the database back and forgets the passwords already stored.
Idempotent: an account with the same server and user name is never created twice (its settings,
password and delivery targets are left alone; only UIDLs not yet filed are added).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui.core.delivery.store import add_target
from tui.core.imports.found import FoundAccount, ImportPlan
from tui.core.secrets.base import SecretKind, SecretStore
from tui.core.storage.accounts import AccountStore
from tui.core.storage.dialect import write_transaction
from tui.core.storage.models import Account, ImportedUidl, database_proxy

CHUNK = 500


@dataclass
class AccountOutcome:
    """What happens (or would) to one found account."""

    found: FoundAccount
    name: str
    """The mailbox's name in poptui (an existing one's, or the new one's)."""
    exists: bool
    new_uidls: list[str] = field(default_factory=list)
    duplicate_of: str = ""
    """Set when the same server and user came earlier in this import."""


@dataclass
class ImportOutcome:
    plan: ImportPlan
    dry_run: bool
    accounts: list[AccountOutcome] = field(default_factory=list)
    passwords_stored: int = 0

    @property
    def created(self) -> list[str]:
        return [a.name for a in self.accounts if not a.exists and not a.duplicate_of]

    @property
    def uidls_added(self) -> int:
        return sum(len(a.new_uidls) for a in self.accounts)


def _unique_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 1
    while name.casefold() in taken:
        n += 1
        name = f"{wanted} ({n})"
    taken.add(name.casefold())
    return name


def _filed(account_id: int) -> set[str]:
    rows: Any = (
        ImportedUidl.select(ImportedUidl.uidl).where(ImportedUidl.account == account_id).tuples()
    )
    return {uidl for (uidl,) in rows}


def outline(plan: ImportPlan, store: AccountStore) -> ImportOutcome:
    """What `apply` would do, read from the database without changing it."""
    outcome = ImportOutcome(plan, dry_run=True)
    existing: dict[tuple[str, str], Account] = {
        (a.incoming_host.strip().lower(), a.username.strip()): a for a in store.list()
    }
    taken = {name.casefold() for name in store.names()}
    seen: dict[tuple[str, str], str] = {}
    for found in plan.importable:
        if found.key in seen:
            outcome.accounts.append(
                AccountOutcome(found, seen[found.key], True, [], seen[found.key])
            )
            continue
        match = existing.get(found.key)
        unique = list(dict.fromkeys(found.uidls))
        if match is not None:
            filed = _filed(match.id)
            result = AccountOutcome(found, match.name, True, [u for u in unique if u not in filed])
        else:
            result = AccountOutcome(found, _unique_name(found.settings.name, taken), False, unique)
        seen[found.key] = result.name
        outcome.accounts.append(result)
    outcome.passwords_stored = sum(
        1 for a in outcome.accounts if not a.exists and a.found.password is not None
    )
    return outcome


def apply_plan(
    plan: ImportPlan,
    store: AccountStore,
    secrets: Callable[[], SecretStore] | None,
    *,
    dry_run: bool = False,
) -> ImportOutcome:
    """Create what `plan` found (see the module's docstring); `secrets` opens the secret store,
    called only when a password was found."""
    outcome = outline(plan, store)
    if dry_run:
        return outcome
    outcome.dry_run = False
    with_password = [a for a in outcome.accounts if not a.exists and a.found.password is not None]
    secret_store = secrets() if with_password and secrets is not None else None
    stored: list[tuple[str, str]] = []
    created: list[Account] = []
    try:
        with write_transaction(database_proxy.obj):
            for result in outcome.accounts:
                if result.duplicate_of:
                    continue
                if result.exists:
                    account = store.get(result.name)
                else:
                    result.found.settings.name = result.name
                    account = store.create(result.found.settings, activate=False)
                    created.append(account)
                    for spec in result.found.deliveries:
                        add_target(account, spec)
                _file_uidls(account, result)
                password = result.found.password
                if not result.exists and password is not None and secret_store is not None:
                    secret_store.set(
                        account.secret_key, SecretKind.INCOMING, password, mailbox=account.name
                    )
                    stored.append((account.secret_key, account.name))
    except BaseException:
        for key, name in stored:  # the first failure is the one to report
            with contextlib.suppress(Exception):
                secret_store.delete(key, SecretKind.INCOMING, mailbox=name)  # type: ignore[union-attr]
        raise
    outcome.passwords_stored = len(stored)
    if created and store.active() is None:
        store.activate(created[0].name)
    return outcome


def _file_uidls(account: Account, result: AccountOutcome) -> None:
    source = result.found.peer.value
    rows = [{"account": account.id, "uidl": u, "source": source} for u in result.new_uidls]
    for start in range(0, len(rows), CHUNK):
        ImportedUidl.insert_many(rows[start : start + CHUNK]).execute()
