"""Storing a batch of fetched messages in a few statements: the fetch's hot path.

peewee builds every INSERT afresh (tens of `sql()` calls per row) and sends two statements per
message; here each batch goes through the DB-API driver directly: on SQLite two `executemany`
with one prepared statement each, on PostgreSQL multi-row INSERTs (`execute_values`, the rows'
ids coming back from `RETURNING`) in pages bounded by bytes, so a batch of large messages never
becomes one huge SQL string. peewee stays the model layer: the columns are the `Message` and
`MessageSource` models' own, and the caller holds the transaction (`write_transaction`).
Row-level security on a team database applies to these statements like to any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui.core.storage.dialect import dialect_of

MESSAGE_COLUMNS = (
    "account_id", "uidl", "size", "from_addr", "to_addrs", "subject", "date", "message_id",
    "has_attachments", "party_domains", "first_seen_at", "fetched_at",
)  # fmt: skip
PAGE_BYTES = 1024 * 1024
"""PostgreSQL: raw bytes per multi-row INSERT of sources. psycopg2 interpolates parameters on
the client, so bytes travel as hex text (twice their size, copied a few times on the way):
a message larger than this travels in binary instead (`_large_source`)."""
LARGE_CHUNK = 1024 * 1024
"""PostgreSQL: bytes per binary write of a large message."""
LOOKUP_CHUNK = 500
"""Keys per `IN (...)` when reading back the new rows' ids on SQLite."""


@dataclass(frozen=True)
class NewMessage:
    """One message to store: its key (UIDL, or UIDL plus digest), raw bytes and list fields."""

    key: str
    raw: bytes
    from_addr: str
    to_addrs: str
    subject: str
    date: datetime | None
    message_id: str
    has_attachments: bool
    party_domains: str


def insert_messages(
    db: Any, account_id: int, batch: Sequence[NewMessage], now: datetime
) -> dict[str, int]:
    """INSERT `batch` (messages and their sources) into the open transaction of `db`; returns
    key → new message id.

    A key already stored for the account fails the batch (the unique index): the lock and the
    known-UIDL filter make that a bug, and failing the batch (no DELE follows) is the safe
    answer to a bug.
    """
    if not batch:
        return {}
    dialect = dialect_of(db)
    stamp = dialect.timestamp_param(now)
    rows = [
        (
            account_id,
            m.key,
            len(m.raw),
            m.from_addr,
            m.to_addrs,
            m.subject,
            dialect.timestamp_param(m.date) if m.date is not None else None,
            m.message_id,
            m.has_attachments,
            m.party_domains,
            stamp,
            stamp,
        )
        for m in batch
    ]
    columns = ", ".join(MESSAGE_COLUMNS)
    cursor = db.cursor()
    if dialect.name == "postgres":
        return _insert_postgres(cursor, columns, rows, batch)
    marks = ", ".join("?" for _ in MESSAGE_COLUMNS)
    cursor.executemany(f"INSERT INTO message ({columns}) VALUES ({marks})", rows)
    ids = _ids_by_key(cursor, account_id, [m.key for m in batch])
    cursor.executemany(
        "INSERT INTO message_source (message_id, raw) VALUES (?, ?)",
        ((ids[m.key], m.raw) for m in batch),
    )
    return ids


def _ids_by_key(cursor: Any, account_id: int, keys: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(
            f"SELECT uidl, id FROM message WHERE account_id = ? AND uidl IN ({marks})",
            (account_id, *chunk),
        )
        ids.update(cursor.fetchall())
    return ids


def _insert_postgres(
    cursor: Any, columns: str, rows: list[tuple[Any, ...]], batch: Sequence[NewMessage]
) -> dict[str, int]:
    from psycopg2 import Binary
    from psycopg2.extras import execute_values

    returned = execute_values(
        cursor,
        f"INSERT INTO message ({columns}) VALUES %s RETURNING uidl, id",
        rows,
        page_size=len(rows),
        fetch=True,
    )
    ids: dict[str, int] = dict(returned)
    page: list[tuple[int, Any]] = []
    size = 0
    for message in batch:
        if len(message.raw) > PAGE_BYTES:
            _large_source(cursor, ids[message.key], message.raw)
            continue
        if page and size + len(message.raw) > PAGE_BYTES:
            _sources(cursor, execute_values, page)
            page, size = [], 0
        page.append((ids[message.key], Binary(message.raw)))
        size += len(message.raw)
    _sources(cursor, execute_values, page)
    return ids


def _sources(cursor: Any, execute_values: Any, page: list[tuple[int, Any]]) -> None:
    if page:
        execute_values(
            cursor,
            "INSERT INTO message_source (message_id, raw) VALUES %s",
            page,
            page_size=len(page),
        )


def _large_source(cursor: Any, message_id: int, raw: bytes) -> None:
    """Store one large source a chunk at a time, so it never exists as one hex string (nor the
    three copies psycopg2 and libpq would make of it): the chunks go into a transient large
    object, the server copies it into the row and drops it. Server work stays linear in the
    size (appending to a bytea would rewrite it per chunk).

    The large object lives inside the fetch's transaction and belongs to the fetching role,
    whom alone the server lets read it; a rollback or a kill leaves nothing behind.
    """
    from psycopg2 import Binary

    cursor.execute("SELECT lo_create(0)")
    oid = cursor.fetchone()[0]
    with memoryview(raw) as view:
        for start in range(0, len(raw), LARGE_CHUNK):
            chunk = Binary(view[start : start + LARGE_CHUNK])
            cursor.execute("SELECT lo_put(%s, %s, %s)", (oid, start, chunk))
    cursor.execute(
        "INSERT INTO message_source (message_id, raw) VALUES (%s, lo_get(%s))", (message_id, oid)
    )
    cursor.execute("SELECT lo_unlink(%s)", (oid,))
