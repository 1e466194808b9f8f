"""Delivering a mailbox's stored mail to its targets, and the gate that keeps undelivered mail
on the server.

Called after each durable commit of fetched mail, and again at the start of the next fetch's
deletion step, so a crash between storing and delivering is repaired then. Per target, in
order of arrival: a batch is marked `trying` (committed) before it is attempted, then each
message's outcome is recorded. The first failure stops that target for this run (a full disk
or a broken MDA would fail the rest too); other targets go on. A message may be deleted on the
server only when every target that should have it has it (`hold`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tui.core.delivery.errors import DeliveryError
from tui.core.delivery.models import DeliveryRow, TargetRow
from tui.core.delivery.targets import DeliveryTarget, TargetKind
from tui.core.storage.dialect import dialect_of, write_transaction
from tui.core.storage.models import Account, Message, database_proxy, utcnow
from tui.core.storage.source_files import read_source

BATCH = 100


@dataclass
class DeliveryOutcome:
    """What one delivery run did: counts, and each failing target's error in words."""

    delivered: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """Target described → the error ("Could not deliver to Maildir ~/Mail: No space …")."""
    held: int = 0
    """Messages the deletion policy wanted gone that stay on the server, undelivered."""

    def hold(self, account: Account, doomed: dict[int, int]) -> dict[int, int]:
        """`doomed` (server number → stored id) without the messages some target still lacks."""
        waiting = undelivered(account, doomed.values())
        self.held += sum(1 for mid in doomed.values() if mid in waiting)
        return {n: mid for n, mid in doomed.items() if mid not in waiting}

    def warnings(self) -> list[str]:
        """For the fetch's outcome: one line per failing target."""
        n = self.held
        kept = f" ({n} message{'s' if n != 1 else ''} kept on the server)" if n else ""
        return [words + kept for words in self.failures.values()]


def _targets(account: Account) -> list[Any]:
    return list(TargetRow.select().where(TargetRow.account == account).order_by(TargetRow.id))


def undelivered(account: Account, message_ids: Iterable[int]) -> set[int]:
    """Of `message_ids`, those some target of the mailbox should have and does not yet."""
    ids = sorted(set(message_ids))
    targets = _targets(account) if ids else []
    if not targets:
        return set()
    delivered: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows: Any = (
            DeliveryRow.select(DeliveryRow.message, DeliveryRow.target)
            .where(
                (DeliveryRow.account == account)
                & (DeliveryRow.state == "delivered")
                & DeliveryRow.message.in_(chunk)
            )
            .tuples()
        )
        for message_id, _target in rows:
            delivered[message_id] = delivered.get(message_id, 0) + 1
    waiting = set()
    for message_id in ids:
        due = sum(1 for t in targets if message_id > t.start_after)
        if delivered.get(message_id, 0) < due:
            waiting.add(message_id)
    return waiting


def _pending(account: Account, target: Any, after: int) -> list[tuple[int, str | None]]:
    """The next batch of (message id, previous state or None) the target lacks, after `after`."""
    db = database_proxy.obj
    sql = dialect_of(db).bind(
        "SELECT m.id, d.state FROM message m LEFT JOIN delivery d"
        " ON d.message_id = m.id AND d.target_id = ?"
        " WHERE m.account_id = ? AND m.id > ? AND (d.state IS NULL OR d.state <> 'delivered')"
        f" ORDER BY m.id LIMIT {BATCH}"
    )
    rows = db.execute_sql(sql, (target.id, account.id, max(after, target.start_after))).fetchall()
    return [(int(mid), state) for mid, state in rows]


def _mark(account: Account, target: Any, ids: list[int], state: str, error: str = "") -> None:
    now = utcnow()
    for mid in ids:
        updated = (
            DeliveryRow.update(
                state=state,
                error=error,
                updated_at=now,
                attempts=DeliveryRow.attempts + (1 if state == "trying" else 0),
            )
            .where((DeliveryRow.message == mid) & (DeliveryRow.target == target.id))
            .execute()
        )
        if not updated:
            DeliveryRow.insert(
                message=mid,
                target=target.id,
                account=account,
                state=state,
                attempts=1 if state == "trying" else 0,
                error=error,
                updated_at=now,
            ).execute()


def deliver_pending(
    account: Account,
    *,
    mda_timeout: float | None = None,
    lmtp_timeout: float | None = None,
) -> DeliveryOutcome:
    """Deliver every stored message of `account` that one of its targets still lacks."""
    outcome = DeliveryOutcome()
    for row in _targets(account):
        target = DeliveryTarget(TargetKind(row.kind), row.address, row.recipient, id=row.id)
        try:
            outcome.delivered += _deliver_to(account, row, target, mda_timeout, lmtp_timeout)
        except DeliveryError as error:
            outcome.failures[target.describe()] = error.message
            TargetRow.update(last_error=error.message, last_error_at=utcnow()).where(
                TargetRow.id == row.id
            ).execute()
    return outcome


def _deliver_to(
    account: Account,
    row: Any,
    target: DeliveryTarget,
    mda_timeout: float | None,
    lmtp_timeout: float | None,
) -> int:
    count = 0
    after = 0
    while True:
        batch = _pending(account, row, after)
        if not batch:
            break
        ids = [mid for mid, _ in batch]
        with write_transaction(database_proxy.obj):
            _mark(account, row, ids, "trying")
        done: list[int] = []
        try:
            with _writer(account, target, mda_timeout, lmtp_timeout) as send:
                for mid, state in batch:
                    send(mid, state is not None)
                    done.append(mid)
        except DeliveryError as error:
            with write_transaction(database_proxy.obj):
                _mark(account, row, done, "delivered")
                _mark(account, row, ids[len(done) : len(done) + 1], "failed", error.message)
            raise
        with write_transaction(database_proxy.obj):
            _mark(account, row, done, "delivered")
            TargetRow.update(last_delivered_at=utcnow(), last_error="", last_error_at=None).where(
                TargetRow.id == row.id
            ).execute()
        count += len(done)
        after = ids[-1]
    return count


def _source(message_id: int) -> tuple[bytes, Any]:
    row: Any = (
        Message.select(Message.uidl, Message.fetched_at)
        .where(Message.id == message_id)
        .tuples()
        .first()
    )
    raw = read_source(database_proxy.obj, message_id) if row is not None else None
    if row is None or raw is None:
        raise DeliveryError(f"Message {message_id} has no stored source to deliver")
    uidl, fetched_at = row
    return raw, (uidl, fetched_at)


def maildir_name(account: Account, target_id: int, message_id: int, uidl: str, when: Any) -> str:
    """The message's file name in this target: the same on every attempt (no second copy)."""
    from tui.core.delivery.maildir import unique_name

    key = hashlib.sha256(
        f"{account.secret_key}\0{target_id}\0{message_id}\0{uidl}".encode()
    ).hexdigest()[:32]
    seconds = int(when.replace(tzinfo=UTC).timestamp()) if isinstance(when, datetime) else 0
    return unique_name(seconds, key)


@contextlib.contextmanager
def _writer(
    account: Account,
    target: DeliveryTarget,
    mda_timeout: float | None,
    lmtp_timeout: float | None,
) -> Iterator[Callable[[int, bool], None]]:
    """A function delivering one stored message (by id) to `target`; its second argument says
    an earlier attempt may have got through (a crash mid-delivery)."""
    if target.kind is TargetKind.MAILDIR:
        from tui.core.delivery.maildir import Maildir

        folder = Maildir(target.address)

        def to_maildir(mid: int, retry: bool) -> None:
            raw, (uidl, when) = _source(mid)
            name = maildir_name(account, target.id or 0, mid, uidl, when)
            folder.deliver(raw, name, look_in_cur=retry)

        yield to_maildir
    elif target.kind is TargetKind.MBOX:
        from tui.core.delivery.mbox import Mbox

        with Mbox(target.address).locked() as mbox:

            def to_mbox(mid: int, _retry: bool) -> None:
                raw, (_uidl, when) = _source(mid)
                mbox.append(raw, when if isinstance(when, datetime) else utcnow())

            yield to_mbox
    elif target.kind is TargetKind.MDA:
        from tui.core.delivery.mda import MDA_TIMEOUT, run_mda

        def to_mda(mid: int, _retry: bool) -> None:
            run_mda(target, _source(mid)[0], timeout=mda_timeout or MDA_TIMEOUT)

        yield to_mda
    else:
        from tui.core.delivery.lmtp import LMTP_TIMEOUT, deliver_lmtp

        recipient = target.recipient or account.email or account.username

        def to_lmtp(mid: int, _retry: bool) -> None:
            deliver_lmtp(target, _source(mid)[0], recipient, timeout=lmtp_timeout or LMTP_TIMEOUT)

        yield to_lmtp
