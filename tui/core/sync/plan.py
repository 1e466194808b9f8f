"""What a session fetches and deletes: the server's listing against what is stored here.

UIDLs name messages across sessions; message numbers are valid for one session only. A UIDL
that two messages share, or a server that renumbered everything (a UIDL reset), deletes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tui.core.settings import DeletePolicy
from tui.core.storage.models import Account, Message, UidlAlias, database_proxy

RESET_MIN_EXPECTED = 10
"""UIDL reset detection needs at least this many messages we believe are still on the server."""

KnownUidls = dict[str, tuple[int, bool]]
"""UIDL → (stored message id, believed still on the server)."""


@dataclass
class ServerListing:
    """The server's view of the mailbox for one session."""

    uidls: dict[int, str]
    sizes: dict[int, int]

    def duplicates(self) -> set[str]:
        counts = Counter(self.uidls.values())
        return {uidl for uidl, count in counts.items() if count > 1}


@dataclass
class SyncPlan:
    to_fetch: list[int]
    skipped_too_large: int
    left_for_next_time: int
    reset_suspected: bool


def known_uidls(account: Account) -> KnownUidls:
    """Every UIDL stored for `account`, of messages and of aliases (same Message-ID)."""
    known: KnownUidls = {}
    db = database_proxy.obj
    # A plain cursor: this runs on every fetch, and building 5,000 peewee rows costs more than
    # the query ("nothing new" is meant to take well under a second, from cron every minute).
    rows = db.execute_sql(
        f"SELECT id, uidl, deleted_on_server FROM message WHERE account_id = {db.param}",
        (account.id,),
    ).fetchall()
    for message_id, uidl, deleted in rows:
        known[uidl] = (message_id, not deleted)
    aliases: Any = (
        UidlAlias.select(UidlAlias.uidl, UidlAlias.message)
        .where(UidlAlias.account == account)
        .tuples()
    )
    for uidl, message_id in aliases:
        known.setdefault(uidl, (message_id, True))
    return known


def plan_sync(account: Account, listing: ServerListing, known: KnownUidls) -> SyncPlan:
    """The new messages to fetch this session, within the account's size and count limits."""
    expected_on_server = {u for u, (_, on_server) in known.items() if on_server}
    on_server = set(listing.uidls.values())
    reset = (
        len(expected_on_server) >= RESET_MIN_EXPECTED
        and len(on_server) >= RESET_MIN_EXPECTED
        and not (expected_on_server & on_server)
    )
    seen: set[str] = set()
    new: list[int] = []
    for number in sorted(listing.uidls):
        uidl = listing.uidls[number]
        if uidl in known or uidl in seen:
            continue
        seen.add(uidl)
        new.append(number)
    skipped = 0
    if account.max_message_bytes:
        fits = [n for n in new if listing.sizes.get(n, 0) <= account.max_message_bytes]
        skipped = len(new) - len(fits)
        new = fits
    left = 0
    if account.max_messages_per_fetch and len(new) > account.max_messages_per_fetch:
        left = len(new) - account.max_messages_per_fetch
        new = new[: account.max_messages_per_fetch]
    return SyncPlan(new, skipped, left, reset)


def deletable(
    account: Account, listing: ServerListing, now: datetime, *, reset_suspected: bool
) -> dict[int, int]:
    """Server message number → stored message id, for the messages the policy deletes now.

    Only messages already stored here qualify; duplicated UIDLs and a suspected UIDL reset
    delete nothing, because then a UIDL no longer names one known message.
    """
    policy = DeletePolicy(account.delete_policy)
    if policy is DeletePolicy.LEAVE or reset_suspected:
        return {}
    duplicates = listing.duplicates()
    query = Message.select(Message.id, Message.uidl).where(
        (Message.account == account) & ~Message.deleted_on_server
    )
    if policy is DeletePolicy.AFTER_DAYS:
        query = query.where(
            Message.first_seen_at <= now - timedelta(days=account.delete_after_days)
        )
    elif policy is DeletePolicy.WHEN_DELETED_HERE:
        query = query.where(Message.deleted_here)
    wanted: dict[int, str] = dict(query.tuples())  # type: ignore[arg-type]
    wanted_by_uidl = {uidl: message_id for message_id, uidl in wanted.items()}
    return {
        number: wanted_by_uidl[uidl]
        for number, uidl in listing.uidls.items()
        if uidl in wanted_by_uidl and uidl not in duplicates
    }
