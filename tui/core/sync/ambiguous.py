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

from tui.core.storage.models import Account, Message, MessageSource
from tui.core.sync.plan import KnownUidls, ServerListing, base_uidl, keyed


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
            Message.select(Message.id, Message.uidl, Message.size, MessageSource.raw)
            .join(MessageSource)
            .where((Message.account == account) & Message.id.in_(list(ids)))
            .tuples()
            .iterator()  # one stored message in memory at a time
        )
        for message_id, key, size, raw in rows:
            copy = StoredCopy(message_id, key, size, _digest(bytes(raw)))
            groups.copies.setdefault(base_uidl(key), []).append(copy)
        return groups

    def accounted(self, listing: ServerListing, due: set[int]) -> set[str]:
        """UIDLs needing no RETR: each listed message has a stored copy of its listed size,
        and no stored copy is due for deletion (deleting needs this session's bytes)."""
        done = set()
        for uidl in self.uidls:
            copies = self.copies.get(uidl, [])
            listed = Counter(listing.sizes[n] for n, u in listing.uidls.items() if u == uidl)
            stored = Counter(c.size for c in copies)
            if not listed - stored and not any(c.message_id in due for c in copies):
                done.add(uidl)
        return done

    def key_for(self, number: int, uidl: str, raw: bytes) -> str | None:
        """The key to store this retrieved message under, or None when it is already stored."""
        digest = _digest(raw)
        self.retrieved[number] = digest
        if any(c.digest == digest for c in self.copies.get(uidl, [])):
            return None
        key = keyed(uidl, raw)
        if key in self.keys_added:
            return None
        self.keys_added.add(key)
        return key

    def note_stored(self, account: Account) -> None:
        """Reload the copies stored this session (after the batch was committed)."""
        if not self.keys_added:
            return
        added: Any = (
            Message.select(Message.uidl, Message.id)
            .where((Message.account == account) & Message.uidl.in_(sorted(self.keys_added)))
            .tuples()
        )
        fresh = AmbiguousGroups.load(account, self.uidls, {k: (m, True) for k, m in added})
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
