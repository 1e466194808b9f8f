"""Raw messages into SQLite rows without SQLite copying them whole: memory flat in message size.

Only where the bytes stay in the row: an in-memory database (a SQLite database file keeps them in
segment files beside it, `storage.source_files`).

A blob bound to an INSERT is copied by the driver (SQLite's "transient" binding) and again into
the record SQLite builds before it is written to its pages: a 3 MB attachment cost 7.6 MB of
peak memory on its way in, measured, on top of the message itself (issue #11: peak RSS flat in
message size). A large message is therefore inserted as a `zeroblob` of its size (no bytes held
by SQLite) and written into its row through incremental blob I/O, which goes page by page
through SQLite's bounded page cache, grown by the message's size for one of a few MB
(`CACHED_SOURCE`) so its pages reach the WAL once. Small ones stay in one `executemany`, where
the copies cost nothing worth a round trip each. Same transaction either way: the caller
commits, or nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

LARGE_SOURCE = 256 * 1024
"""Bytes from which a message is written through blob I/O (it costs a statement and a blob
handle more than a row of the batch's `executemany`)."""
CACHED_SOURCE = 4 * 1024 * 1024
"""Up to this size a large message's pages stay in SQLite's page cache (grown by the message's
size while it is written) from its `zeroblob` to its blob write, so each page goes to the WAL
once. In the default 2 MB cache the zero-filled pages of a message near or above that size
were spilled to the WAL, read back for the blob write and written again: 1.6 times the bytes
written and 2.6 times read of a 246 MB fetch (bench corpus, counted with strace). Larger
messages keep the bounded cache: peak memory stays flat in message size beyond this."""
_CACHE_SLACK_KIB = 512
"""Room for the b-tree pages the INSERT touches besides the message's own."""


def insert_sources(connection: sqlite3.Connection, rows: Iterable[tuple[int, bytes]]) -> None:
    """INSERT (message id, raw) rows into `message_source` in the open transaction."""
    cursor: Any = connection.cursor()
    large: list[tuple[int, bytes]] = []

    def small() -> Iterable[tuple[int, bytes]]:
        for message_id, raw in rows:
            if len(raw) >= LARGE_SOURCE:
                large.append((message_id, raw))
            else:
                yield message_id, raw

    cursor.executemany("INSERT INTO message_source (message_id, raw) VALUES (?, ?)", small())
    for message_id, raw in large:
        with _cache_room(cursor, len(raw)):
            cursor.execute(
                "INSERT INTO message_source (message_id, raw) VALUES (?, zeroblob(?))",
                (message_id, len(raw)),
            )
            with connection.blobopen("message_source", "raw", cursor.lastrowid) as blob:
                blob.write(raw)


@contextlib.contextmanager
def _cache_room(cursor: Any, size: int) -> Iterator[None]:
    """The page cache grown by `size` bytes (up to `CACHED_SOURCE`) within, as it was after:
    the pages left dirty then go to the WAL as usual, once."""
    if size > CACHED_SOURCE:
        yield
        return
    (setting,) = cursor.execute("PRAGMA cache_size").fetchone()
    if setting < 0:
        kib = -setting
    else:
        kib = setting * cursor.execute("PRAGMA page_size").fetchone()[0] // 1024
    cursor.execute(f"PRAGMA cache_size = {-(kib + size // 1024 + _CACHE_SLACK_KIB)}")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(setting)}")
