"""Browsing and searching fetched mail: one index for the list order, full-text search, and a
mark for messages whose body text has been extracted for search.

* List order is `COALESCE(date, fetched_at) DESC, id DESC`, served by one partial index over the
  messages not deleted here, so the first page, the last page and every keyset page are index
  range scans whatever the mailbox size. The expression is frozen here and repeated verbatim by
  `tui.core.storage.queries` (SQLite and PostgreSQL only use an expression index for the same text).
* `body_indexed` marks messages whose `body_text` was extracted (the fetch stores headers only);
  `tui.core.storage.queries.index_bodies` fills it in the background. An empty body is then no
  longer "not yet extracted".
* Search: on SQLite an external-content FTS5 table kept in step by triggers (no change to the
  fetch code); on PostgreSQL a generated `tsvector` column with a GIN index ('simple' config,
  punctuation turned into spaces so `ana@example.com` is the words ana, example, com, as in FTS5).
"""

from __future__ import annotations

from typing import Any

from peewee import OperationalError

from tui.core.storage.dialect import Dialect

SORT_KEY = "COALESCE(date, fetched_at)"

SQLITE_STATEMENTS = [
    "ALTER TABLE message ADD COLUMN body_indexed INTEGER NOT NULL DEFAULT 0",
    f"CREATE INDEX message_list_order ON message (account_id, {SORT_KEY}, id)"
    " WHERE deleted_here = 0",
    "CREATE INDEX message_body_pending ON message (id) WHERE body_indexed = 0",
]

SQLITE_FTS_STATEMENTS = [
    """
    CREATE VIRTUAL TABLE message_fts USING fts5(
        subject, from_addr, to_addrs, body_text,
        content='message', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN
        INSERT INTO message_fts (rowid, subject, from_addr, to_addrs, body_text)
        VALUES (new.id, new.subject, new.from_addr, new.to_addrs, new.body_text);
    END
    """,
    """
    CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
        INSERT INTO message_fts (message_fts, rowid, subject, from_addr, to_addrs, body_text)
        VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.body_text);
    END
    """,
    """
    CREATE TRIGGER message_fts_update
    AFTER UPDATE OF subject, from_addr, to_addrs, body_text ON message BEGIN
        INSERT INTO message_fts (message_fts, rowid, subject, from_addr, to_addrs, body_text)
        VALUES ('delete', old.id, old.subject, old.from_addr, old.to_addrs, old.body_text);
        INSERT INTO message_fts (rowid, subject, from_addr, to_addrs, body_text)
        VALUES (new.id, new.subject, new.from_addr, new.to_addrs, new.body_text);
    END
    """,
    "INSERT INTO message_fts (message_fts) VALUES ('rebuild')",
]

POSTGRES_STATEMENTS = [
    "ALTER TABLE message ADD COLUMN body_indexed BOOLEAN NOT NULL DEFAULT FALSE",
    f"CREATE INDEX message_list_order ON message (account_id, ({SORT_KEY}), id)"
    " WHERE NOT deleted_here",
    "CREATE INDEX message_body_pending ON message (id) WHERE NOT body_indexed",
    """
    ALTER TABLE message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector(
            'simple'::regconfig,
            regexp_replace(
                subject || ' ' || from_addr || ' ' || to_addrs || ' ' || body_text,
                '[[:punct:]]+', ' ', 'g'
            )
        )
    ) STORED
    """,
    "CREATE INDEX message_search ON message USING GIN (search_vector)",
]


def apply(db: Any, dialect: Dialect) -> None:
    if dialect.name == "postgres":
        for statement in POSTGRES_STATEMENTS:
            db.execute_sql(statement)
        return
    for statement in SQLITE_STATEMENTS:
        db.execute_sql(statement)
    try:
        db.execute_sql(SQLITE_FTS_STATEMENTS[0])
    except OperationalError as error:
        # An SQLite built without FTS5: search falls back to LIKE (slower, still correct).
        if "fts5" not in str(error).lower():
            raise
        return
    for statement in SQLITE_FTS_STATEMENTS[1:]:
        db.execute_sql(statement)
