"""Where a message's bytes are when they are not in its row: a segment file beside a SQLite
database (`storage.source_files`), written once instead of twice (issue #11).

Three nullable columns; existing rows keep their bytes in `raw` and stay readable as they are.
On PostgreSQL the bytes always stay in the row, and a CHECK keeps it so: no member of a team
database can make another member's poptui read a local file by pointing a row at one.
"""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect


def apply(db: Any, dialect: Dialect) -> None:
    for column in ("file_segment", "file_offset", "file_length"):
        db.execute_sql(f"ALTER TABLE message_source ADD COLUMN {column} BIGINT")
    if dialect.name == "postgres":
        db.execute_sql(
            "ALTER TABLE message_source ADD CONSTRAINT message_source_bytes_in_row"
            " CHECK (file_segment IS NULL AND file_offset IS NULL AND file_length IS NULL)"
        )
