"""What a session fetches and deletes: the server's listing against what is stored here.

UIDLs name messages across sessions; message numbers are valid for one session only. A message
whose listing line was malformed is neither fetched nor deleted. A UIDL that several messages
share (popa3d derives it from a few headers) is *ambiguous*: those messages are fetched and
stored under the UIDL plus a digest of their bytes (`keyed`), and deleted only when this
session's bytes match a stored copy for certain (`tui.core.sync.ambiguous`). So is a UIDL we
know whose listed size cannot be the stored copy's: pop3d takes a UIDL from an ``X-UIDL:``
header in the mail, so a new message can arrive under the UIDL of one stored and since gone;
it is fetched, never taken for the old one. A server that renumbered everything (a UIDL
reset) deletes nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from tui.core.net.pop3.columns import SizeWords, WordColumn, WordIndex
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES
from tui.core.net.pop3.listing import Listing
from tui.core.net.pop3.numbers import MessageNumbers
from tui.core.settings import DeletePolicy
from tui.core.storage.models import Account, Message, UidlAlias, database_proxy
from tui.core.storage.source_files import read_source
from tui.core.sync.known import KnownUidls as KnownUidls  # its home was here

RESET_MIN_EXPECTED = 10
"""UIDL reset detection needs at least this many messages we believe are still on the server."""


KEY_SEPARATOR = " sha256:"
"""Between a UIDL and the digest in a stored key: a space never occurs in a valid UIDL."""


def keyed(uidl: str, raw: bytes) -> str:
    """The stored key of a message whose UIDL another message shares: UIDL plus digest."""
    return uidl + KEY_SEPARATOR + hashlib.sha256(raw).hexdigest()[:40]


def base_uidl(key: str) -> str:
    """The server's UIDL a stored key stands for."""
    return key.split(" ", 1)[0]


@dataclass
class ServerListing:
    """The server's view of the mailbox for one session: only well-formed, usable messages.

    A sane server's listing (every message 1..n listed well-formed) stays in the flat columns
    `parse_listing` made: a 50,000-message mailbox is about 2 MB (index included), not dicts of
    objects held for the whole fetch."""

    uidls: Mapping[int, str]
    sizes: Mapping[int, int]
    malformed: int = 0
    """Messages the server has (by STAT) that are unusable because their listing line was
    malformed, repeated or missing."""

    @classmethod
    def parse(cls, count: int | None, sizes: Listing, uidls: Listing) -> ServerListing:
        """Messages with a well-formed LIST *and* UIDL line; the rest counted as malformed."""
        if (
            isinstance(sizes.entries, SizeWords)
            and isinstance(uidls.entries, WordColumn)
            and len(sizes.entries) == len(uidls.entries)
        ):  # both 1..n, nothing malformed: only messages past n (by STAT) are missing
            listed = len(uidls.entries)
            missing = count - listed if count is not None else 0
            return cls(uidls=uidls.entries, sizes=sizes.entries.column(), malformed=missing)
        usable = sizes.entries.keys() & uidls.entries.keys()
        everything = (
            set(range(1, count + 1))
            if count is not None
            else sizes.entries.keys() | uidls.entries.keys() | sizes.malformed | uidls.malformed
        )
        numbers = sorted(usable)
        return cls(
            uidls={n: uidls.entries[n] for n in numbers},
            sizes={n: int(sizes.entries[n]) for n in numbers},
            malformed=len(everything - usable),
        )

    _distinct: int | None = field(default=None, init=False, repr=False, compare=False)
    """How many distinct UIDLs: known once `listed` was built, kept when it is released."""

    def duplicates(self) -> set[str]:
        if self._distinct is None:
            self._distinct = len(self.listed)
        if self._distinct == len(self.uidls):
            return set()  # the common case, without counting
        counts = Counter(self.uidls.values())
        return {uidl for uidl, count in counts.items() if count > 1}

    @cached_property
    def listed(self) -> Collection[str]:
        """Every UIDL listed, each once (a listing is not changed once made)."""
        if isinstance(self.uidls, WordColumn):
            return WordIndex(self.uidls)
        return frozenset(self.uidls.values())

    def release_index(self) -> None:
        """Let `listed` go while the messages come in (built again if asked after): the plan
        is made, and at 50,000 messages it is half a megabyte held through the whole fetch,
        when memory peaks (issue #11)."""
        self._distinct = len(self.listed)
        self.__dict__.pop("listed", None)

    def pairs(self) -> Iterable[tuple[int, str]]:
        """(number, UIDL) for every message, without a lookup per message on columns."""
        if isinstance(self.uidls, WordColumn):
            return self.uidls.words()
        return self.uidls.items()

    def in_order(self) -> Iterable[tuple[int, str]]:
        """(number, UIDL) by message number."""
        if isinstance(self.uidls, WordColumn):
            return self.uidls.words()  # numbered 1..n already
        return sorted(self.uidls.items())


@dataclass
class SyncPlan:
    to_fetch: Sequence[int]
    """Ascending; from `plan_sync` a `MessageNumbers` (runs, not an int per message)."""
    skipped_too_large: int
    left_for_next_time: int
    reset_suspected: bool
    ambiguous: set[str] = field(default_factory=set)
    """UIDLs whose messages are told apart by digest (see `ambiguous_uidls`)."""


def size_fits(message_id: int, stored: int, listed: int) -> bool:
    """Can a message stored with `stored` octets be listed with `listed`? Equal, or the
    stored size less one octet per line: a server that counts bare LF line ends."""
    if stored == listed:
        return True
    if not 0 <= listed < stored:
        return False
    raw = read_source(database_proxy.obj, message_id)
    return raw is not None and stored - raw.count(b"\n") == listed


def reused_uidls(listing: ServerListing, known: KnownUidls) -> set[str]:
    """Listed UIDLs stored here under their plain key whose listed size cannot be the stored
    copy's: another message now carries the UIDL (pop3d's ``X-UIDL:`` header), so it must be
    fetched and told apart by its bytes, and the stored copy is not the one listed."""
    if known.reused_cache is not None and known.reused_cache[0] is listing:
        return set(known.reused_cache[1])
    stored_sizes, listed_sizes = known.sizes, listing.sizes
    differing = [
        (number, uidl, stored)
        for number, uidl in listing.pairs()
        if (stored := stored_sizes.get(uidl)) is not None and stored != listed_sizes[number]
    ]  # the common case: empty, and no query
    reused = {
        uidl
        for number, uidl, stored in differing
        if not size_fits(known[uidl][0], stored, listed_sizes[number])
    }
    known.reused_cache = (listing, frozenset(reused))
    return reused


def ambiguous_uidls(listing: ServerListing, known: KnownUidls) -> set[str]:
    """UIDLs that do not name one message for certain: listed twice or more now, stored
    before under a digest key (they were shared once, so the same UIDL may be another mail),
    or listed with a size the stored copy cannot have (`reused_uidls`)."""
    keyed_before = {base_uidl(k) for k in known if KEY_SEPARATOR in k}
    keyed_listed = {uidl for uidl in keyed_before if uidl in listing.listed}
    return listing.duplicates() | keyed_listed | reused_uidls(listing, known)


def known_uidls(account: Account) -> KnownUidls:
    """Every UIDL stored for `account`, of messages and of aliases (same Message-ID)."""
    db = database_proxy.obj
    # A plain cursor: this runs on every fetch, and building 5,000 peewee rows costs more than
    # the query ("nothing new" is meant to take well under a second, from cron every minute).
    # Rows go into columns as they come (`KnownUidls.from_rows`), never all into a list first.
    known = KnownUidls.from_rows(
        db.execute_sql(
            f"SELECT id, uidl, deleted_on_server, size FROM message WHERE account_id = {db.param}",
            (account.id,),
        )
    )
    aliases: Any = (
        UidlAlias.select(UidlAlias.uidl, UidlAlias.message)
        .where(UidlAlias.account == account)
        .tuples()
    )
    for uidl, message_id in aliases:
        known.setdefault(uidl, (message_id, True))
    # `poptui import`: fetched by another program; no stored copy (id 0), so never deleted here.
    imported = f"SELECT uidl FROM imported_uidl WHERE account_id = {db.param}"
    for (uidl,) in db.execute_sql(imported, (account.id,)):
        known.setdefault(uidl, (0, False))
    return known


def _uidls_reset(known: KnownUidls, on_server: Collection[str]) -> bool:
    """Does none of the (at least `RESET_MIN_EXPECTED`) UIDLs we believe still on the server
    appear in the listing? Stops at the first that does: the usual case, at once."""
    expected: set[str] = set()
    for key, (_, still) in known.items():
        if not still:
            continue
        # A listed UIDL has no space, so a key found as is needs no `base_uidl`.
        uidl = key if key in on_server else base_uidl(key)
        if uidl in on_server:
            return False
        expected.add(uidl)
    return len(expected) >= RESET_MIN_EXPECTED


def plan_sync(
    account: Account,
    listing: ServerListing,
    known: KnownUidls,
    accounted: set[str] | None = None,
) -> SyncPlan:
    """The new messages to fetch this session, within the account's size and count limits.

    Every message of an ambiguous UIDL is fetched (its bytes tell it apart), unless that UIDL
    is in `accounted`: every listed copy is already stored and none is due for deletion.
    """
    ambiguous = ambiguous_uidls(listing, known)
    accounted = accounted or set()
    reset = len(listing.listed) >= RESET_MIN_EXPECTED and _uidls_reset(known, listing.listed)
    # A size above the global ceiling is absurd (or too big to hold): such a message is skipped.
    limit = min(account.max_message_bytes or MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES)
    cap = account.max_messages_per_fetch or 0
    sizes = listing.sizes
    new = MessageNumbers()
    skipped = left = 0
    # A UIDL listed twice is ambiguous (`duplicates`): any other is seen here once.
    for number, uidl in listing.in_order():
        if uidl in ambiguous:
            if uidl in accounted:
                continue
        elif uidl in known:
            continue
        if sizes.get(number, 0) > limit:
            skipped += 1
        elif cap and len(new) >= cap:
            left += 1
        else:
            new.append(number)
    return SyncPlan(new, skipped, left, reset, ambiguous)


def due_for_deletion(account: Account, now: datetime) -> dict[int, str]:
    """Stored message id → stored key, for the stored messages the policy deletes now."""
    policy = DeletePolicy(account.delete_policy)
    if policy is DeletePolicy.LEAVE:
        return {}
    query = Message.select(Message.id, Message.uidl).where(
        (Message.account == account) & ~Message.deleted_on_server
    )
    if policy is DeletePolicy.AFTER_DAYS:
        query = query.where(
            Message.first_seen_at <= now - timedelta(days=account.delete_after_days)
        )
    elif policy is DeletePolicy.WHEN_DELETED_HERE:
        query = query.where(Message.deleted_here)
    return dict(query.tuples())  # type: ignore[arg-type]


def deletable(
    account: Account,
    listing: ServerListing,
    now: datetime,
    *,
    reset_suspected: bool,
    ambiguous: set[str] | None = None,
) -> dict[int, int]:
    """Server message number → stored message id, for the messages the policy deletes now.

    Only messages stored here under their plain UIDL qualify; ambiguous UIDLs (decided by
    `tui.core.sync.ambiguous` from this session's bytes) and a suspected UIDL reset delete
    nothing here, because then a UIDL no longer names one known message.
    """
    if reset_suspected:
        return {}
    skip = listing.duplicates() | (ambiguous or set())
    wanted_by_uidl = {key: mid for mid, key in due_for_deletion(account, now).items()}
    return {
        number: wanted_by_uidl[uidl]
        for number, uidl in listing.pairs()
        if uidl in wanted_by_uidl and uidl not in skip
    }
