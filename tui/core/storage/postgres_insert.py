"""Storing a fetched batch in PostgreSQL: the fetch's hot path on a team database.

The connection is psycopg 3's (`db.make_database`): peewee's own queries bind their parameters
on the client as before, but the batch goes through a server-binding cursor on the same
connection and in the same transaction, so raw mail travels as binary parameters (its own
bytes, not hex text twice their size), and the rows need no round trip each:

* the batch's `message` rows in multi-row INSERTs, the new ids coming back from RETURNING;
* its sources in one pipelined `executemany` of one prepared INSERT, each raw message a binary
  parameter, sent while the server is still storing the previous ones.

COPY would be cheaper still, but PostgreSQL refuses COPY FROM into a table with row-level
security, and a team database keeps it on: these are plain INSERTs, so every policy (and its
WITH CHECK) applies to them as to any other statement of the fetching role.

A message larger than `LARGE_BYTES` goes in `LARGE_CHUNK` pieces through a transient large
object (`_large_source`): as one parameter, libpq would copy it whole into its send buffer (and
keep a buffer that size for the connection's life), 15 MiB more at the size ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

ROWS_PER_INSERT = 1000
"""`message` rows per multi-row INSERT: 12 parameters each, far below the protocol's 65,535."""
LARGE_BYTES = 4 * 1024 * 1024
"""A source larger than this is sent in pieces (`_large_source`). Those pieces cost the server
twice the work (written into the large object, then copied into the row), so only messages
that would otherwise make libpq hold a large buffer take that way: at 1 MB it was 70% of the
benchmark corpus's bytes (87 of 5,000 messages of up to 3 MB)."""
LARGE_CHUNK = 1024 * 1024
"""Bytes per binary write of a large source."""


class StoredMessage(Protocol):
    """What this module reads of a `storage.insert.NewMessage`."""

    @property
    def key(self) -> str: ...

    @property
    def raw(self) -> bytes: ...


def insert_postgres(
    db: Any, columns: Sequence[str], rows: list[tuple[Any, ...]], batch: Sequence[StoredMessage]
) -> dict[str, int]:
    """INSERT `rows` (one per message of `batch`, in `columns` order) and the messages' raw
    sources into the open transaction of `db`; returns key → new message id."""
    from psycopg import Cursor

    cursor = Cursor(db.connection())  # server-side binding, whatever the connection's default
    try:
        ids: dict[str, int] = {}
        one_row = "(" + ", ".join("%s" for _ in columns) + ")"
        head = f"INSERT INTO message ({', '.join(columns)}) VALUES "
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            cursor.execute(
                head + ", ".join(one_row for _ in chunk) + " RETURNING uidl, id",
                [value for row in chunk for value in row],
            )
            ids.update(cursor.fetchall())
        small = [(ids[m.key], m.raw) for m in batch if len(m.raw) <= LARGE_BYTES]
        if small:
            insert = "INSERT INTO message_source (message_id, raw) VALUES (%s, %b)"
            cursor.executemany(insert, small)
        for message in batch:
            if len(message.raw) > LARGE_BYTES:
                _large_source(cursor, ids[message.key], message.raw)
        return ids
    finally:
        cursor.close()


def _large_source(cursor: Any, message_id: int, raw: bytes) -> None:
    """Store one large source a chunk at a time: the chunks go into a transient large object,
    the server copies it into the row and drops it (linear work: appending to a bytea would
    rewrite it per chunk). The large object lives inside the fetch's transaction and belongs to
    the fetching role, whom alone the server lets read it; a rollback or a kill leaves nothing.
    """
    cursor.execute("SELECT lo_create(0)")
    (oid,) = cursor.fetchall()[0]
    with memoryview(raw) as view:
        for start in range(0, len(raw), LARGE_CHUNK):
            piece = view[start : start + LARGE_CHUNK]
            cursor.execute("SELECT lo_put(%s, %s, %b)", (oid, start, piece))
    cursor.execute(
        "INSERT INTO message_source (message_id, raw) VALUES (%s, lo_get(%s))", (message_id, oid)
    )
    cursor.execute("SELECT lo_unlink(%s)", (oid,))
