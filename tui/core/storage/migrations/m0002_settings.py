"""Per-user settings (which secret store is in use, and similar choices; never secrets)."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

VERSION = 2

STATEMENTS = [
    """
    CREATE TABLE setting (
        id {serial_pk},
        owner VARCHAR(128) NOT NULL,
        key VARCHAR(128) NOT NULL,
        value TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX setting_owner_key ON setting (owner, key)",
]


def apply(db: Any, dialect: Dialect) -> None:
    for statement in STATEMENTS:
        db.execute_sql(dialect.sql(statement))
