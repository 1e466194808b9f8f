"""Messages that share a UIDL: told apart by the digest of their bytes.

Real servers do hand out one unique-id for two different messages (popa3d hashes a few
headers). Such messages are still fetched, each stored under `plan.keyed(uidl, raw)`, and one
is deleted on the server only when this session retrieved it, its bytes match exactly one stored
copy, no other message of the group had the same bytes, and its listed size fits.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tui.core.storage.models import Account, Message, database_proxy
from tui.core.storage.source_files import read_source
from tui.core.sync.plan import (
    KnownUidls,
    ServerListing,
    ambiguous_uidls,
    base_uidl,
    keyed,
    reused_uidls,
)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass
class StoredCopy:
    message_id: int
    key: str
    size: int
    digest: str


@dataclass
class AmbiguousGroups:
    """What is stored under each ambiguous UIDL, and what this session retrieved of them."""

    uidls: set[str]
    copies: dict[str, list[StoredCopy]] = field(default_factory=dict)
    retrieved: dict[int, str] = field(default_factory=dict)
    """Server message number → digest of the bytes retrieved this session."""
    keys_added: set[str] = field(default_factory=set)
    reused: set[str] = field(default_factory=set)
    """Of `uidls`, those stored under their plain key and listed with another size
    (`plan.reused_uidls`): the bytes may be a stored message listed under another UIDL."""
    account: Account | None = None

    @classmethod
    def for_listing(
        cls, account: Account, listing: ServerListing, known: KnownUidls
    ) -> AmbiguousGroups:
        """The groups this session's listing calls for (`plan.ambiguous_uidls`)."""
        groups = cls.load(account, ambiguous_uidls(listing, known), known)
        groups.reused = reused_uidls(listing, known) & groups.uidls
        groups.account = account
        return groups

    @classmethod
    def load(cls, account: Account, uidls: set[str], known: KnownUidls) -> AmbiguousGroups:
        """Read the stored copies (key, size, digest of the stored bytes) of `uidls`."""
        groups = cls(uidls)
        if not uidls:
            return groups
        ids = {mid: key for key, (mid, _) in known.items() if base_uidl(key) in uidls}
        if not ids:
            return groups
        rows: Any = (
            Message.select(Message.id, Message.uidl, Message.size)
            .where((Message.account == account) & Message.id.in_(list(ids)))
            .tuples()
        )
        for message_id, key, size in list(rows):
            raw = read_source(database_proxy.obj, message_id)  # one in memory at a time
            if raw is None:
                continue  # no stored bytes: nothing here can match this session's copies
            copy = StoredCopy(message_id, key, size, _digest(raw))
            groups.copies.setdefault(base_uidl(key), []).append(copy)
        return groups

    def accounted(self, listing: ServerListing, due: set[int]) -> set[str]:
        """UIDLs needing no RETR: each listed message has a stored copy of its listed size,
        and no stored copy of a listed size is due for deletion (deleting needs this
        session's bytes; a copy of no listed size, gone since, can never be deleted)."""
        done = set()
        for uidl in self.uidls:
            copies = self.copies.get(uidl, [])
            listed = Counter(listing.sizes[n] for n, u in listing.uidls.items() if u == uidl)
            stored = Counter(c.size for c in copies)
            doomed = any(c.message_id in due and c.size in listed for c in copies)
            if not listed - stored and not doomed:
                done.add(uidl)
        return done

    def key_for(self, number: int, uidl: str, raw: bytes) -> str | None:
        """The key to store this retrieved message under, or None when it is already stored."""
        digest = _digest(raw)
        self.retrieved[number] = digest
        if any(c.digest == digest for c in self.copies.get(uidl, [])):
            return None
        if uidl in self.reused and self._stored_elsewhere(digest, len(raw)):
            return None
        key = keyed(uidl, raw)
        if key in self.keys_added:
            return None
        self.keys_added.add(key)
        return key

    def _stored_elsewhere(self, digest: str, size: int) -> bool:
        """Are these bytes stored under any key (a server that swapped two UIDLs)?"""
        ids: Any = (
            Message.select(Message.id)
            .where((Message.account == self.account) & (Message.size == size))
            .tuples()
        )
        for (message_id,) in list(ids):
            raw = read_source(database_proxy.obj, message_id)  # one in memory at a time
            if raw is not None and _digest(raw) == digest:
                return True
        return False

    def note_stored(self, account: Account) -> None:
        """Reload the copies stored this session (after the batch was committed)."""
        if not self.keys_added:
            return
        added: Any = (
            Message.select(Message.uidl, Message.id)
            .where((Message.account == account) & Message.uidl.in_(sorted(self.keys_added)))
            .tuples()
        )
        fresh = AmbiguousGroups.load(
            account, self.uidls, KnownUidls((k, (m, True)) for k, m in added)
        )
        for uidl, copies in fresh.copies.items():
            have = {c.message_id for c in self.copies.get(uidl, [])}
            self.copies.setdefault(uidl, []).extend(c for c in copies if c.message_id not in have)

    def deletable(self, listing: ServerListing, due: set[int]) -> dict[int, int]:
        """Server number → stored id, for ambiguous messages told apart for certain."""
        result: dict[int, int] = {}
        for uidl in self.uidls:
            numbers = [n for n, u in listing.uidls.items() if u == uidl and n in self.retrieved]
            seen = Counter(self.retrieved[n] for n in numbers)
            for number in numbers:
                digest = self.retrieved[number]
                matches = [c for c in self.copies.get(uidl, []) if c.digest == digest]
                if seen[digest] != 1 or len(matches) != 1:
                    continue
                copy = matches[0]
                if copy.message_id in due and copy.size == listing.sizes[number]:
                    result[number] = copy.message_id
        return result
