"""Raw messages into SQLite without SQLite copying them whole: the fetch's memory in message size.

A blob bound to an INSERT is copied by the driver (SQLite's "transient" binding) and again into
the record SQLite builds before it is written to its pages: a 3 MB attachment cost 7.6 MB of
peak memory on its way in, measured, on top of the message itself (issue #11: peak RSS flat in
message size). A large message is therefore inserted as a `zeroblob` of its size (no bytes held
by SQLite) and written into its row through incremental blob I/O, which goes page by page
through SQLite's bounded page cache. Small ones stay in one `executemany`, where the copies cost
nothing worth a round trip each. Same transaction either way: the caller commits, or nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

LARGE_SOURCE = 256 * 1024
"""Bytes from which a message is written through blob I/O (it costs a statement and a blob
handle more than a row of the batch's `executemany`)."""


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
        cursor.execute(
            "INSERT INTO message_source (message_id, raw) VALUES (?, zeroblob(?))",
            (message_id, len(raw)),
        )
        with connection.blobopen("message_source", "raw", cursor.lastrowid) as blob:
            blob.write(raw)
