"""A mailbox's delivery targets in the database: add, list, remove, replace.

Adding a target never delivers old mail: it gets the messages stored after it was added
(`poptui export` copies what is already here).
"""

from __future__ import annotations

from typing import Any

from peewee import fn

from tui.core.delivery.models import TargetRow
from tui.core.delivery.targets import DeliveryTarget, TargetKind, parse_target
from tui.core.storage.dialect import write_transaction
from tui.core.storage.models import Account, Message, database_proxy, utcnow

MAX_TARGETS = 20
"""Per mailbox; every target is one more write (or process) per message."""


def _target_of(row: Any) -> DeliveryTarget:
    return DeliveryTarget(
        TargetKind(row.kind), row.address, row.recipient, id=row.id, last_error=row.last_error
    )


def list_targets(account: Account | int) -> list[DeliveryTarget]:
    """The mailbox's targets (the account row or its id), in the order they were added."""
    rows = TargetRow.select().where(TargetRow.account == account).order_by(TargetRow.id)
    return [_target_of(row) for row in rows]


def _as_target(target: DeliveryTarget | str) -> DeliveryTarget:
    return parse_target(target) if isinstance(target, str) else target


def add_target(account: Account, target: DeliveryTarget | str) -> DeliveryTarget:
    """Add `target` (or its spec, `maildir:PATH` …) to the mailbox; the stored target.

    Adding one already there returns it unchanged, so an import run twice adds nothing twice.
    """
    from tui.core.delivery.errors import TargetInvalid

    wanted = _as_target(target)
    with write_transaction(database_proxy.obj):
        existing = [t for t in list_targets(account) if t.same_place(wanted)]
        if existing:
            return existing[0]
        if TargetRow.select().where(TargetRow.account == account).count() >= MAX_TARGETS:
            raise TargetInvalid(f"{account.name} already has {MAX_TARGETS} delivery targets")
        newest = Message.select(fn.MAX(Message.id)).where(Message.account == account).scalar() or 0
        row = TargetRow.create(
            account=account,
            kind=wanted.kind.value,
            address=wanted.address,
            recipient=wanted.recipient,
            start_after=newest,
            created_at=utcnow(),
        )
    return _target_of(row)


def remove_target(account: Account, target: DeliveryTarget | str) -> bool:
    """Remove the target (matched by id when it has one, else by kind and address); whether
    one was there. Mail it had not received yet no longer waits for it."""
    wanted = _as_target(target)
    query = TargetRow.delete().where(TargetRow.account == account)
    if wanted.id is not None:
        query = query.where(TargetRow.id == wanted.id)
    else:
        query = query.where(
            (TargetRow.kind == wanted.kind.value)
            & (TargetRow.address == wanted.address)
            & (TargetRow.recipient == wanted.recipient)
        )
    return bool(query.execute())


def set_targets(account: Account, targets: list[DeliveryTarget]) -> list[DeliveryTarget]:
    """Make the mailbox's targets exactly `targets` (the form's list): those kept keep their
    state, new ones start with the next message, missing ones are removed."""
    with write_transaction(database_proxy.obj):
        current = list_targets(account)
        for old in current:
            if not any(old.same_place(t) for t in targets):
                remove_target(account, old)
        for new in targets:
            add_target(account, new)
    return list_targets(account)
