"""UIDLs another program (fetchmail, getmail, mpop, Thunderbird) already fetched: `poptui import`
files them here so those messages are never fetched again, though poptui holds no copy."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

VERSION = 12

STATEMENTS = [
    """
    CREATE TABLE imported_uidl (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        uidl VARCHAR(128) NOT NULL,
        source VARCHAR(32) NOT NULL,
        imported_at {timestamp} NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX imported_uidl_account_uidl ON imported_uidl (account_id, uidl)",
]


def apply(db: Any, dialect: Dialect) -> None:
    for statement in STATEMENTS:
        db.execute_sql(dialect.sql(statement))
