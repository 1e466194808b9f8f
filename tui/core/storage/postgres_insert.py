"""Storing a fetched batch in PostgreSQL: the fetch's hot path on a team database.

The connection is psycopg 3's (`db.make_database`): peewee's own queries bind their parameters
on the client as before, but the batch goes through a server-binding cursor (`$n` placeholders,
so psycopg parses no statement) on the same connection and in the same transaction, so raw mail
travels as binary parameters (its own bytes, not hex text twice their size), and the rows need
no round trip each:

* the batch's `message` rows in multi-row INSERTs, their ids taken ahead from the sequence;
* its sources in multi-row INSERTs (`SOURCES_PER_INSERT`, `SOURCE_BYTES_PER_INSERT`), each raw
  message a binary parameter;
* all of it pipelined (`PostgresWriter`): sent while the server is still storing the previous
  statements, the previous batches included, and waited for once, before the COMMIT.

Rows per statement matter on a team database: each statement execution sets up the row-level
security check of `message_source` (an EXISTS on `message`) afresh, so one INSERT per source
cost the server about as much CPU as storing the 246 MB of the benchmark's 5,000 messages itself;
one per 64 sources took a quarter off the server's CPU of storing them. The policies ask which
mailboxes are the caller's once per statement (`sharing.postgres_rls._OWNS`), not per row
(bench/RESULTS_POSTGRES.md).

COPY would be cheaper still, but PostgreSQL refuses COPY FROM into a table with row-level
security, and a team database keeps it on: these are plain INSERTs, so every policy (and its
WITH CHECK) applies to them as to any other statement of the fetching role.

A message larger than `LARGE_BYTES` goes in `LARGE_CHUNK` pieces through a transient large
object (`_large_source`): as one parameter, libpq would copy it whole into its send buffer (and
keep a buffer that size for the connection's life), 15 MiB more at the size ceiling.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

ROWS_PER_INSERT = 1000
"""`message` rows per multi-row INSERT: 12 parameters each, far below the protocol's 65,535."""
SOURCES_PER_INSERT = 64
"""Sources per multi-row INSERT at most (two parameters each)."""
SOURCE_BYTES_PER_INSERT = 1024 * 1024
"""Raw bytes per multi-row INSERT at most (a single larger source goes alone): libpq copies a
statement's parameters into its send buffer and keeps a buffer that size for the connection."""
LARGE_BYTES = 4 * 1024 * 1024
"""A source larger than this is sent in pieces (`_large_source`). Those pieces cost the server
twice the work (written into the large object, then copied into the row), so only messages
that would otherwise make libpq hold a large buffer take that way: at 1 MB it was 70% of the
benchmark corpus's bytes (87 of 5,000 messages of up to 3 MB)."""
LARGE_CHUNK = 1024 * 1024
"""Bytes per binary write of a large source."""
ID_BLOCK = 1024
"""Message ids taken from the sequence at a time (`PostgresWriter`): a round trip, which waits
for everything sent before it, per this many messages."""


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
    sources into the open transaction of `db`, and wait until the server has stored them;
    returns key → new message id."""
    writer = PostgresWriter()
    try:
        ids = writer.insert(db, columns, rows, batch)
    except BaseException:
        writer.abandon()
        raise
    writer.finish()
    return ids


class PostgresWriter:
    """One write transaction's batches on a team database, sent without waiting for them.

    Each batch's statements go into one pipeline that stays open from the transaction's first
    batch to `finish` (called before the COMMIT): the server stores batch N while poptui reads
    and prepares batch N+1, where a pipeline per batch made each side wait for the other (the
    storing thread spent three quarters of a 5,000-message fetch waiting for the server). The
    new rows' ids are taken from the `message` sequence in blocks (a round trip per block,
    growing to `ID_BLOCK`; ids left over serve the next transaction) instead of coming back
    from each INSERT, so nothing waits for a result.
    A statement that fails makes the server skip the rest; the error is raised by the next
    wait (a new block of ids, a large message, `finish`), and the transaction is rolled back.
    """

    def __init__(self) -> None:
        self._cursor: Any = None
        self._pipeline = contextlib.ExitStack()
        self._ids: list[int] = []
        """Ids taken from the sequence and not used yet (used from the end)."""
        self._taken = 0

    def insert(
        self,
        db: Any,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        batch: Sequence[StoredMessage],
    ) -> dict[str, int]:
        """Send the INSERTs of `rows` (one per message of `batch`, in `columns` order) and of
        the messages' sources into the open transaction of `db`; key → the id each message
        gets once they are stored."""
        if self._cursor is None:
            from psycopg import RawCursor

            connection = db.connection()
            # Server-side binding, whatever the default, and `$n` placeholders: psycopg parses a
            # `%s` statement of over 50 parameters afresh at each execution (its cache keeps
            # smaller ones only), a regex over every statement of the fetch's hot path.
            self._cursor = RawCursor(connection)
            self._pipeline.enter_context(connection.pipeline())
        if len(self._ids) < len(batch):
            block = min(ID_BLOCK, max(64, self._taken))  # a small fetch takes few
            self._take_ids(max(block, len(batch) - len(self._ids)))
        cursor = self._cursor
        ids = {m.key: self._ids.pop() for m in batch}
        keyed = [(ids[m.key], *row) for m, row in zip(batch, rows, strict=True)]
        head = f"INSERT INTO message (id, {', '.join(columns)}) VALUES "
        for start in range(0, len(keyed), ROWS_PER_INSERT):
            chunk = keyed[start : start + ROWS_PER_INSERT]
            values = placeholders(len(chunk), len(columns) + 1)
            cursor.execute(head + values, [value for row in chunk for value in row])
        for group in _source_groups((ids[m.key], m.raw) for m in batch):
            values = placeholders(len(group), 2)
            cursor.execute(
                "INSERT INTO message_source (message_id, raw) VALUES " + values,
                [value for row in group for value in row],
            )
        for message in batch:
            if len(message.raw) > LARGE_BYTES:
                _large_source(cursor, ids[message.key], message.raw)
        return ids

    def finish(self) -> None:
        """Wait until the server has run every statement sent; raise the first that failed."""
        try:
            self._pipeline.close()
        finally:
            self._close()

    def abandon(self) -> None:
        """Leave the pipeline without waiting for what it holds (the transaction is rolled
        back next, which undoes whatever the server stored of it)."""
        try:
            self._pipeline.__exit__(*sys.exc_info())
        finally:
            self._close()

    def _close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        self._pipeline = contextlib.ExitStack()

    def _take_ids(self, count: int) -> None:
        cursor = self._cursor
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('message', 'id')) FROM generate_series(1, $1)",
            (count,),
        )
        taken = [row[0] for row in cursor.fetchall()]
        self._ids[:0] = reversed(taken)  # popped from the end: used in the order taken
        self._taken += len(taken)


@functools.lru_cache(maxsize=128)
def placeholders(rows: int, width: int) -> str:
    """The VALUES list of a multi-row INSERT of `rows` rows of `width` parameters, numbered
    from $1 row by row: `($1, $2), ($3, $4)`."""
    numbers = iter(range(1, rows * width + 1))
    return ", ".join(
        "(" + ", ".join(f"${next(numbers)}" for _ in range(width)) + ")" for _ in range(rows)
    )


def _source_groups(rows: Iterable[tuple[int, bytes]]) -> Iterator[list[tuple[int, bytes]]]:
    """The (message id, raw) rows of sources up to `LARGE_BYTES`, in groups of at most
    `SOURCES_PER_INSERT` rows and `SOURCE_BYTES_PER_INSERT` bytes (or one larger source)."""
    group: list[tuple[int, bytes]] = []
    size = 0
    for message_id, raw in rows:
        if len(raw) > LARGE_BYTES:
            continue
        if group and (
            len(group) == SOURCES_PER_INSERT or size + len(raw) > SOURCE_BYTES_PER_INSERT
        ):
            yield group
            group, size = [], 0
        group.append((message_id, raw))
        size += len(raw)
    if group:
        yield group


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
            cursor.execute("SELECT lo_put($1, $2, $3)", (oid, start, piece))
    cursor.execute(
        "INSERT INTO message_source (message_id, raw) VALUES ($1, lo_get($2))", (message_id, oid)
    )
    cursor.execute("SELECT lo_unlink($1)", (oid,))
