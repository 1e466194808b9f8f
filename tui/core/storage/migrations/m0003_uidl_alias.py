"""UIDLs that name a message already stored under another UIDL (Gmail `recent:` mode serves the
same mail again under new UIDLs; remembering them means it is neither fetched nor stored twice)."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

VERSION = 3

STATEMENTS = [
    """
    CREATE TABLE uidl_alias (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        uidl VARCHAR(128) NOT NULL,
        message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
        seen_at {timestamp} NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uidl_alias_account_uidl ON uidl_alias (account_id, uidl)",
]


def apply(db: Any, dialect: Dialect) -> None:
    for statement in STATEMENTS:
        db.execute_sql(dialect.sql(statement))
