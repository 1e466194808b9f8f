"""PostgreSQL computes a message's search words when its body is extracted, not when it is fetched.

The generated `search_vector` (migration 4) was computed on INSERT from the headers (the body not
extracted yet) and again when `index_bodies` set the body: the first one thrown away each time,
after it had cost the fetch's server a `regexp_replace`, a `to_tsvector` and GIN entries per
message (0.23 s of its 2 s of CPU for the benchmark's 5,000 messages, bench/RESULTS_POSTGRES.md).
Now it is NULL until `body_indexed`, as SQLite's FTS5 index holds only extracted messages
(migration 8), and search finds the pending ones by their headers with the same scan on both
(`storage.queries.search`). The words and their index are rebuilt once, here.
"""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

POSTGRES_STATEMENTS = [
    "DROP INDEX IF EXISTS message_search",
    "ALTER TABLE message DROP COLUMN search_vector",
    """
    ALTER TABLE message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        CASE WHEN body_indexed THEN to_tsvector(
            'simple'::regconfig,
            regexp_replace(
                subject || ' ' || from_addr || ' ' || to_addrs || ' ' || body_text,
                '[[:punct:]]+', ' ', 'g'
            )
        ) END
    ) STORED
    """,
    "CREATE INDEX message_search ON message USING GIN (search_vector)",
]


def apply(db: Any, dialect: Dialect) -> None:
    if dialect.name == "postgres":
        for statement in POSTGRES_STATEMENTS:
            db.execute_sql(statement)
