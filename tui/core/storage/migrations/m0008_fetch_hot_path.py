"""The fetch's INSERTs no longer build the search index or compress raw mail on the way in.

* SQLite: a message enters the FTS5 index when its body is extracted (`body_indexed` set by
  `tui.core.storage.queries.index_bodies`), not by a trigger on INSERT, so storing a batch writes no
  full-text pages. The index holds exactly the indexed messages: the triggers below keep it so,
  and the messages not yet indexed are taken out here once. Until a message is indexed, search
  finds it by its headers with a plain scan of the (few) pending rows.
* PostgreSQL: raw sources are compressed with lz4 instead of the default pglz, which cost more
  than everything else a fetch does on the server (pglz ~3 s per 100 MB, lz4 a fraction of it);
  a server built without lz4 stores them uncompressed (STORAGE EXTERNAL), as SQLite does.
"""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

_FTS_COLUMNS = "subject, from_addr, to_addrs, body_text"

SQLITE_STATEMENTS = [
    "DROP TRIGGER IF EXISTS message_fts_insert",
    "DROP TRIGGER IF EXISTS message_fts_update",
    "DROP TRIGGER IF EXISTS message_fts_delete",
    # Rows the old INSERT trigger indexed by their headers but whose bodies are pending: out, so
    # that "in the index" and "body_indexed" are one fact from now on.
    f"""
    INSERT INTO message_fts (message_fts, rowid, {_FTS_COLUMNS})
    SELECT 'delete', id, {_FTS_COLUMNS} FROM message WHERE body_indexed = 0
    """,
    f"""
    CREATE TRIGGER message_fts_delete AFTER DELETE ON message WHEN old.body_indexed BEGIN
        INSERT INTO message_fts (message_fts, rowid, {_FTS_COLUMNS})
        VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.body_text);
    END
    """,
    # One trigger, its two statements in this order: an entry is removed before it is re-added.
    f"""
    CREATE TRIGGER message_fts_update
    AFTER UPDATE OF {_FTS_COLUMNS}, body_indexed ON message BEGIN
        INSERT INTO message_fts (message_fts, rowid, {_FTS_COLUMNS})
        SELECT 'delete', old.id, old.subject, old.from_addr, old.to_addrs, old.body_text
        WHERE old.body_indexed;
        INSERT INTO message_fts (rowid, {_FTS_COLUMNS})
        SELECT new.id, new.subject, new.from_addr, new.to_addrs, new.body_text
        WHERE new.body_indexed;
    END
    """,
]

POSTGRES_LZ4 = (
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)"
)


def apply(db: Any, dialect: Dialect) -> None:
    if dialect.name == "postgres":
        if db.execute_sql(POSTGRES_LZ4).fetchone() is not None:
            db.execute_sql("ALTER TABLE message_source ALTER COLUMN raw SET COMPRESSION lz4")
        else:
            db.execute_sql("ALTER TABLE message_source ALTER COLUMN raw SET STORAGE EXTERNAL")
        return
    if not db.table_exists("message_fts"):
        return  # an SQLite without FTS5: search scans (`queries._like_search`)
    for statement in SQLITE_STATEMENTS:
        db.execute_sql(statement)
