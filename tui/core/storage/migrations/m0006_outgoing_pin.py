"""A pinned certificate for the outgoing (SMTP) server too: it is often another machine, with
its own self-signed certificate, than the incoming one."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect

VERSION = 6

STATEMENTS = [
    "ALTER TABLE account ADD COLUMN outgoing_pinned_fingerprint VARCHAR(128) NOT NULL DEFAULT ''",
]


def apply(db: Any, dialect: Dialect) -> None:
    for statement in STATEMENTS:
        db.execute_sql(dialect.sql(statement))
