"""The UIDLs stored here for a mailbox, held in columns: what a fetch checks the listing against.

A mailbox left on the server keeps every message listed there stored here too, and every fetch
reads them all. As a dict of tuples (and a second dict of sizes) 45,000 of them cost 12 MB,
held for the whole fetch: an incremental fetch of 5,000 new messages peaked at 59 MB against
46 MB for the same 5,000 into an empty store (issue #11). Here each row read from the message
table costs its UIDL's characters and a few machine integers; the handful added one by one
(aliases, imported UIDLs) go into a dict beside.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tui.core.net.pop3.columns import WordColumn, WordIndex

if TYPE_CHECKING:
    from tui.core.sync.plan import ServerListing

_JOIN_EVERY = 4096
"""UIDLs joined into one string at a time while the rows are read."""


class _Stored:
    """Rows of the message table: key i+1 is `keys[i + 1]`, with its id, flag and size."""

    __slots__ = ("ids", "index", "keys", "sizes", "still")

    def __init__(self, rows: Iterable[tuple[int, str, Any, int]]) -> None:
        parts: list[str] = []
        pending: list[str] = []
        ends: array[int] = array("I", [0])
        self.ids: array[int] = array("q")
        self.sizes: array[int] = array("q")
        self.still = bytearray()
        for message_id, uidl, deleted, size in rows:
            pending.append(uidl)
            ends.append(ends[-1] + len(uidl))
            self.ids.append(message_id)
            self.sizes.append(size)
            self.still.append(0 if deleted else 1)
            if len(pending) >= _JOIN_EVERY:
                parts.append("".join(pending))
                pending.clear()
        parts.append("".join(pending))
        self.keys = WordColumn("".join(parts), ends)
        self.index = WordIndex(self.keys)

    def find(self, key: object) -> int:
        """The key's number (1-based), 0 when it is not here."""
        return self.index.find(key)


class StoredSizes(Mapping[str, int]):
    """Stored message key → stored size (`KnownUidls.sizes`)."""

    def __init__(self, known: KnownUidls) -> None:
        self._known = known
        self.extra: dict[str, int] = {}

    def __getitem__(self, key: str) -> int:
        stored = self._known._stored
        number = stored.find(key) if stored is not None else 0
        if number:
            return stored.sizes[number - 1]  # type: ignore[union-attr]
        return self.extra[key]

    def get(self, key: str, default: int | None = None) -> int | None:  # type: ignore[override]
        """`Mapping.get` without its KeyError: a new message's UIDL is a miss, and a fetch
        asks once per listed message (`plan.reused_uidls`)."""
        stored = self._known._stored
        number = stored.find(key) if stored is not None else 0
        if number:
            return stored.sizes[number - 1]  # type: ignore[union-attr]
        return self.extra.get(key, default)

    def __iter__(self) -> Iterator[str]:
        stored = self._known._stored
        if stored is not None:
            yield from (key for _, key in stored.keys.words())
        yield from self.extra

    def __len__(self) -> int:
        stored = self._known._stored
        return (len(stored.keys) if stored is not None else 0) + len(self.extra)

    def __setitem__(self, key: str, size: int) -> None:
        stored = self._known._stored
        number = stored.find(key) if stored is not None else 0
        if number:
            stored.sizes[number - 1] = size  # type: ignore[union-attr]
        else:
            self.extra[key] = size

    def update(self, sizes: Mapping[str, int]) -> None:
        for key, size in sizes.items():
            self[key] = size


class KnownUidls(Mapping[str, tuple[int, bool]]):
    """UIDL → (stored message id, believed still on the server); `sizes`: stored message key →
    stored size, read in the same query (the listing's sizes are checked against it)."""

    def __init__(
        self,
        entries: Mapping[str, tuple[int, bool]] | Iterable[tuple[str, tuple[int, bool]]] = (),
    ) -> None:
        self._stored: _Stored | None = None
        self._extra: dict[str, tuple[int, bool]] = dict(entries)
        self.sizes = StoredSizes(self)
        self.reused_cache: tuple[ServerListing, frozenset[str]] | None = None
        """`reused_uidls` of one listing: asked several times a session, it may query."""

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, str, Any, int]]) -> KnownUidls:
        """From (id, uidl, deleted on server, size) rows of the message table, read as they
        come; each UIDL at most once (the table's unique index)."""
        known = cls()
        known._stored = _Stored(rows)
        return known

    def _number(self, key: object) -> int:
        return self._stored.find(key) if self._stored is not None else 0

    def __getitem__(self, key: str) -> tuple[int, bool]:
        number = self._number(key)
        if number:
            stored = self._stored
            assert stored is not None
            return stored.ids[number - 1], bool(stored.still[number - 1])
        return self._extra[key]

    def get(  # type: ignore[override]
        self, key: str, default: tuple[int, bool] | None = None
    ) -> tuple[int, bool] | None:
        """`Mapping.get` without its KeyError (a miss is a new message: the common case)."""
        number = self._number(key)
        if number:
            stored = self._stored
            assert stored is not None
            return stored.ids[number - 1], bool(stored.still[number - 1])
        return self._extra.get(key, default)

    def __contains__(self, key: object) -> bool:
        if key in self._extra:
            return True
        stored = self._stored  # asked once per listed message while a fetch is planned
        return stored is not None and stored.index.find(key) > 0

    def __iter__(self) -> Iterator[str]:
        if self._stored is not None:
            yield from (key for _, key in self._stored.keys.words())
        yield from self._extra

    def __len__(self) -> int:
        return (len(self._stored.keys) if self._stored is not None else 0) + len(self._extra)

    def items(self) -> Iterator[tuple[str, tuple[int, bool]]]:  # type: ignore[override]
        """(key, (id, still)) for every key, without a look-up per stored row."""
        stored = self._stored
        if stored is not None:
            ids, still = stored.ids, stored.still
            for (_, key), message_id, flag in zip(stored.keys.words(), ids, still, strict=True):
                yield key, (message_id, bool(flag))
        yield from self._extra.items()

    def __setitem__(self, key: str, value: tuple[int, bool]) -> None:
        number = self._number(key)
        if number:
            stored = self._stored
            assert stored is not None
            stored.ids[number - 1], stored.still[number - 1] = value[0], int(value[1])
        else:
            self._extra[key] = value

    def setdefault(self, key: str, value: tuple[int, bool]) -> tuple[int, bool]:
        if key in self:
            return self[key]
        self._extra[key] = value
        return value
