"""PostgreSQL keeps raw sources uncompressed (STORAGE EXTERNAL), as SQLite does.

Migration 8 chose lz4 over pglz; lz4 still cost the server about a quarter of its CPU of a
fetch (5,000 messages, 246 MB: 2.1 s of server CPU with lz4, 1.6 s without), and on a machine
whose cores the POP3 reader and the server share, that was most of what kept a PostgreSQL fetch
above 1.3x the SQLite one (bench/RESULTS_POSTGRES.md). Mail is stored as it came, like Maildir
and SQLite store it; rows written before keep their compression (nothing is rewritten).
"""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

VERSION = 15


def apply(db: Any, dialect: Dialect) -> None:
    if dialect.name == "postgres":
        db.execute_sql("ALTER TABLE message_source ALTER COLUMN raw SET STORAGE EXTERNAL")
