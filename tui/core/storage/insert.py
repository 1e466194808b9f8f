"""Storing a batch of fetched messages in a few statements: the fetch's hot path.

peewee builds every INSERT afresh (tens of `sql()` calls per row) and sends two statements per
message; here each batch goes through the DB-API driver directly: on SQLite two `executemany`
with one prepared statement each (the bytes themselves appended to a segment file beside a
database file, `storage.source_files`); on PostgreSQL `storage.postgres_insert` (binary parameters,
multi-row and pipelined INSERTs). peewee stays the model layer: the columns are the `Message` and
`MessageSource` models' own, and the caller holds the transaction (`write_transaction`).
Row-level security on a team database applies to these statements like to any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tui.core.storage.dialect import dialect_of
from tui.core.storage.sqlite_sources import insert_sources

if TYPE_CHECKING:
    from tui.core.storage.postgres_insert import PostgresWriter
    from tui.core.storage.source_files import SourceFiles

MESSAGE_COLUMNS = (
    "account_id", "uidl", "size", "from_addr", "to_addrs", "subject", "date", "message_id",
    "has_attachments", "party_domains", "first_seen_at", "fetched_at",
)  # fmt: skip
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
    db: Any,
    account_id: int,
    batch: Sequence[NewMessage],
    now: datetime,
    files: SourceFiles | None = None,
    postgres: PostgresWriter | None = None,
) -> dict[str, int]:
    """INSERT `batch` (messages and their sources) into the open transaction of `db`; returns
    key → new message id. On PostgreSQL, with `postgres` the statements are only sent (the
    transaction's `postgres.finish()` waits for them before the COMMIT); without, this waits.

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
    if dialect.name == "postgres":
        if postgres is not None:
            return postgres.insert(db, MESSAGE_COLUMNS, rows, batch)
        from tui.core.storage.postgres_insert import insert_postgres

        return insert_postgres(db, MESSAGE_COLUMNS, rows, batch)
    columns = ", ".join(MESSAGE_COLUMNS)
    cursor = db.cursor()
    marks = ", ".join("?" for _ in MESSAGE_COLUMNS)
    cursor.executemany(f"INSERT INTO message ({columns}) VALUES ({marks})", rows)
    ids = _ids_by_key(cursor, account_id, [m.key for m in batch])
    if files is None:
        insert_sources(db.connection(), ((ids[m.key], m.raw) for m in batch))  # large: blob I/O
        return ids
    refs = []
    for m in batch:  # the bytes once, into the account's segment (synced before the COMMIT)
        number, offset = files.append(account_id, m.raw)
        refs.append((ids[m.key], number, offset, len(m.raw)))
    cursor.executemany(
        "INSERT INTO message_source (message_id, raw, file_segment, file_offset, file_length)"
        " VALUES (?, X'', ?, ?, ?)",
        refs,
    )
    return ids


def _ids_by_key(cursor: Any, account_id: int, keys: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        # Padded to a power of two with its last key (IN ignores repeats): a few statement
        # shapes in the driver's statement cache, not one per batch size (1.3 MB at 50,000).
        chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
        marks = ", ".join("?" for _ in chunk)
        cursor.execute(
            f"SELECT uidl, id FROM message WHERE account_id = ? AND uidl IN ({marks})",
            (account_id, *chunk),
        )
        ids.update(cursor.fetchall())
    return ids
