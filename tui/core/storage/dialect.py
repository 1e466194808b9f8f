"""Where SQLite and PostgreSQL differ, in one object: column types for the frozen migration SQL,
the spellings the message queries need, and how a writer locks.

Code that writes raw SQL asks `dialect_of(db)` instead of testing the database class itself, so
every difference between the two is listed here, next to its twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from peewee import Database, PostgresqlDatabase

_SQL_WORDS = ("serial_pk", "blob", "timestamp", "boolean", "true", "false")
"""The fields `Dialect.sql` fills into a template by name."""


@dataclass(frozen=True)
class Dialect:
    name: str

    # Column types and literals for `sql()` (migrations).
    serial_pk: str
    blob: str
    timestamp: str
    boolean: str
    true: str
    false: str

    placeholder: str
    """How the driver marks a parameter; the queries are written with `?` (see `bind`)."""
    is_false_sql: str
    """`{}` is false, spelled as the partial indexes of migration 4 spell it: the planner uses
    an index only when the query repeats its predicate's exact text."""
    unindexed_sql: str
    """`{}` written so the planner does not pick an index for it (SQLite's unary plus)."""
    write_lock: str
    """The BEGIN mode a writer uses ("" for the plain transaction)."""
    locks_rows: bool
    """`SELECT … FOR UPDATE` locks rows (PostgreSQL); SQLite's write lock covers the file."""
    migration_lock_sql: str
    """Taken inside the migration transaction so two starting processes never both migrate."""
    current_user_sql: str
    """Asks the database who is connected ("" when it has no users: SQLite)."""
    text_timestamps: bool
    """Timestamps are bound as text (peewee stores `str(datetime)` on SQLite)."""
    full_text: Literal["fts5", "tsvector"]
    search_from: str
    """The FROM clause of a search: the full-text matches joined to their messages, as `m`."""
    search_match_sql: str
    """The WHERE term matching the `match_query` parameter."""

    def sql(self, template: str) -> str:
        """Fill `{serial_pk}`, `{blob}`, `{timestamp}`, `{boolean}`, `{true}`, `{false}`."""
        return template.format(**{name: getattr(self, name) for name in _SQL_WORDS})

    def bind(self, sql: str) -> str:
        """`sql` written with `?` parameters, in the driver's own marks."""
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def is_false(self, column: str) -> str:
        return self.is_false_sql.format(column)

    def unindexed(self, column: str) -> str:
        return self.unindexed_sql.format(column)

    def timestamp_param(self, value: datetime) -> Any:
        """`value` as peewee writes a DateTimeField, so raw SQL and the models compare alike."""
        return str(value) if self.text_timestamps else value

    def match_query(self, terms: Sequence[Sequence[str]]) -> str:
        """The full-text query: every term a phrase of its words, the last word a prefix
        ("invoi" finds "invoice"), all terms ANDed; "" when there are none.

        Words must be letters and digits only (`queries.search_words`), so nothing in them is
        syntax to FTS5 or `to_tsquery`.
        """
        phrases = [list(words) for words in terms if words]
        if self.full_text == "tsvector":
            return " & ".join(
                "(" + " <-> ".join(f"'{word}'" for word in words) + ":*)" for words in phrases
            )
        return " ".join('"' + " ".join(words) + '"*' for words in phrases)


SQLITE = Dialect(
    name="sqlite",
    serial_pk="INTEGER PRIMARY KEY AUTOINCREMENT",
    blob="BLOB",
    timestamp="DATETIME",
    boolean="INTEGER",
    true="1",
    false="0",
    placeholder="?",
    is_false_sql="{} = 0",
    unindexed_sql="+{}",
    write_lock="IMMEDIATE",
    locks_rows=False,
    migration_lock_sql="",
    current_user_sql="",
    text_timestamps=True,
    full_text="fts5",
    # CROSS JOIN pins the join order: matches first, then their rows. Left to itself SQLite
    # walked the whole list index probing FTS per row (minutes on 100,000 messages).
    search_from="message_fts CROSS JOIN message AS m ON m.id = message_fts.rowid",
    search_match_sql="message_fts MATCH ?",
)
POSTGRES = Dialect(
    name="postgres",
    serial_pk="BIGSERIAL PRIMARY KEY",
    blob="BYTEA",
    timestamp="TIMESTAMP",
    boolean="BOOLEAN",
    true="TRUE",
    false="FALSE",
    placeholder="%s",
    is_false_sql="NOT {}",
    unindexed_sql="{}",
    write_lock="",
    locks_rows=True,
    migration_lock_sql="SELECT pg_advisory_xact_lock(738201)",
    current_user_sql="SELECT current_user",
    text_timestamps=False,
    full_text="tsvector",
    search_from="message AS m",
    search_match_sql="m.search_vector @@ to_tsquery('simple', ?)",
)


def dialect_of(db: Database) -> Dialect:
    """The dialect of an open (or proxied-to) database."""
    return POSTGRES if isinstance(db, PostgresqlDatabase) else SQLITE


def write_transaction(db: Database) -> Any:
    """A transaction that takes SQLite's write lock up front (BEGIN IMMEDIATE), so a reader that
    turns writer never deadlocks; on PostgreSQL an ordinary transaction."""
    lock = dialect_of(db).write_lock
    return db.atomic(lock) if lock else db.atomic()
