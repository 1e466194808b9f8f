"""Opening the database: the URL switch, SQLite durability pragmas, and automatic migrations.

SQLite in the user's data directory is the default; `--database URL` / `POPTUI_DATABASE` accept
`sqlite:///path` and `postgresql://…` so a team can share one PostgreSQL database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from peewee import Database, PeeweeException, PostgresqlDatabase, SqliteDatabase
from platformdirs import user_data_path

from tui.core.storage.dialect import dialect_of, write_transaction
from tui.core.storage.failures import (
    BadDatabaseUrl,
    DatabaseError,
    SchemaNeedsOwner,
    SchemaTooNew,
    explain,
    has_sqlstate,
)
from tui.core.storage.files import create_private_file, make_private_dirs
from tui.core.storage.migrations import all_migrations
from tui.core.storage.models import database_proxy

DATABASE_ENV = "POPTUI_DATABASE"
INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for "must be owner of table" and "permission denied"."""
SQLITE_BUSY_TIMEOUT_S = 15.0
"""How long a writer waits for another process (a cron fetch, a second TUI) to finish."""
SQLITE_PAGE_SIZE = 32 * 1024
"""The page size of a new SQLite database (SQLite's default is 4 KiB)."""


__all__ = [
    "DATABASE_ENV",
    "DatabaseError",
    "SchemaNeedsOwner",
    "SchemaTooNew",
    "default_database_path",
    "default_database_url",
    "describe_url",
    "make_database",
    "migrate",
    "open_database",
    "resolve_database_url",
    "schema_version",
    "sqlite_file",
]


def default_database_path() -> Path:
    return user_data_path("poptui", appauthor=False) / "poptui.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


def resolve_database_url(url: str | None) -> str:
    """The URL to use: an explicit one, else `POPTUI_DATABASE`, else the default SQLite file."""
    return url or os.environ.get(DATABASE_ENV) or default_database_url()


def describe_url(url: str) -> str:
    """The URL without its password, for messages, logs and `poptui doctor`."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def sqlite_file(url: str) -> str | None:
    """The file path of a `sqlite://` URL as written (relative or absolute), else None.

    As in playhouse.db_url: sqlite:///relative.db, sqlite:////absolute.db; "" for sqlite://
    and ":memory:" for sqlite:///:memory:.
    """
    if urlparse(url).scheme.lower() != "sqlite":
        return None
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


def _sqlite(path: str) -> SqliteDatabase:
    if path != ":memory:":
        target = Path(path).expanduser()
        try:
            make_private_dirs(target.parent)
        except OSError as error:
            raise DatabaseError(
                f"Cannot create the folder for the database {target.parent}: {error.strerror}"
            ) from error
        try:
            create_private_file(target)  # 0600 before SQLite opens it: -wal/-shm follow its mode
        except OSError as error:
            raise DatabaseError(f"Cannot create the database {target}: {error.strerror}") from error
        path = str(target)
    return SqliteDatabase(
        path,
        timeout=SQLITE_BUSY_TIMEOUT_S,
        # Every transaction takes the write lock up front (BEGIN IMMEDIATE), not only those
        # spelled `write_transaction`: peewee's `atomic()` begins DEFERRED, and a transaction
        # that reads and then writes must upgrade its lock, which in WAL mode fails at once with
        # "database is locked" (busy_timeout does not apply) whenever another process committed
        # in between. Beginning IMMEDIATE makes a writer wait its turn within the busy timeout,
        # so concurrent fetches of different mailboxes simply take turns. Readers outside a
        # transaction never block writers (WAL).
        lock_type="IMMEDIATE",
        pragmas={
            # Before anything else: it only takes effect while the file is still empty (a new
            # database); an existing one keeps its page size. Mail is mostly large blobs in
            # overflow pages, and SQLite's cost per written page (a WAL frame, its header and
            # checksum, a read and a write again at the checkpoint) dominates a fetch: 32 KiB
            # pages cut a fetch's system calls eightfold and its CPU by about a seventh against
            # the default 4 KiB (bench/RESULTS_SPEED.md).
            "page_size": SQLITE_PAGE_SIZE,
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "full",
            "busy_timeout": int(SQLITE_BUSY_TIMEOUT_S * 1000),
        },
        check_same_thread=False,
    )


def _postgres(name: str, options: dict[str, Any]) -> PostgresqlDatabase:
    """psycopg 3 under peewee. Its cursors bind on the client, as psycopg2's did, so every query
    and statement of the model layer keeps its meaning (parameters in utility statements such as
    ALTER ROLE … PASSWORD included); the fetch's hot path opens a server-binding cursor on the
    same connection for binary parameters (`storage.postgres_insert`)."""
    from psycopg import ClientCursor

    return PostgresqlDatabase(name, prefer_psycopg3=True, cursor_factory=ClientCursor, **options)


def make_database(url: str) -> Database:
    """Build (but do not open) the peewee database for a URL; raises DatabaseError on a bad URL."""
    parts = urlparse(url)
    scheme = parts.scheme.lower()
    path = sqlite_file(url)
    if path is not None:
        if not path:
            raise BadDatabaseUrl(f"No file in the database URL {url!r}")
        return _sqlite(path)
    if scheme in {"postgres", "postgresql"}:
        name = parts.path.lstrip("/")
        if not name:
            raise BadDatabaseUrl(f"No database name in {describe_url(url)!r}")
        options: dict[str, Any] = {}
        if parts.hostname:
            options["host"] = parts.hostname
        if parts.port:
            options["port"] = parts.port
        if parts.username:
            options["user"] = parts.username
        if parts.password:
            options["password"] = parts.password
        for item in filter(None, parts.query.split("&")):
            key, _, value = item.partition("=")
            options[key] = value
        return _postgres(name, options)
    raise BadDatabaseUrl(f"Unsupported database URL {describe_url(url)!r}")


def schema_version(db: Database) -> int:
    """0 for an empty database."""
    if not db.table_exists("schema_version"):
        return 0
    row = db.execute_sql("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database) -> int:
    """Bring the schema up to date in one transaction, migration by migration; returns the version.

    Two processes starting at once must not both migrate: SQLite takes the write lock up front
    (BEGIN IMMEDIATE), PostgreSQL an advisory lock.
    """
    migrations = all_migrations()
    known = migrations[-1].version if migrations else 0
    dialect = dialect_of(db)
    with write_transaction(db):
        if dialect.migration_lock_sql:
            db.execute_sql(dialect.migration_lock_sql)
        current = schema_version(db)
        if current > known:
            raise SchemaTooNew(
                f"This database is at schema version {current}, but this poptui knows only up to "
                f"{known}. It was used by a newer poptui: upgrade poptui; the database was not "
                "touched."
            )
        if current == 0 and not db.table_exists("schema_version"):
            db.execute_sql("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
            db.execute_sql("INSERT INTO schema_version (id, version) VALUES (1, 0)")
        for migration in [m for m in migrations if m.version > current]:
            try:
                migration.apply(db, dialect)
            except PeeweeException as error:
                if has_sqlstate(error, INSUFFICIENT_PRIVILEGE):  # a team database's member
                    raise SchemaNeedsOwner(
                        f"This database is at schema version {current}, and this poptui needs"
                        f" {known}: only the owner of its tables may upgrade it."
                    ) from error
                raise
            db.execute_sql(f"UPDATE schema_version SET version = {int(migration.version)}")
        return known


def open_database(url: str | None = None, *, run_migrations: bool = True) -> Database:
    """Open the database named by `url` (or the environment, or the default) and bind the models."""
    resolved = resolve_database_url(url)
    db = make_database(resolved)
    try:
        db.connect(reuse_if_open=True)
    except PeeweeException as error:
        raise _worded("Cannot open the database", resolved, error) from error
    database_proxy.initialize(db)
    if run_migrations:
        try:
            migrate(db)
        except (SchemaTooNew, SchemaNeedsOwner):
            db.close()
            raise
        except PeeweeException as error:
            db.close()
            raise _worded("Cannot prepare the database", resolved, error) from error
    return db


def _worded(doing: str, url: str, error: Exception) -> DatabaseError:
    """`error` in words, prefixed with what poptui was doing to which database."""
    worded = explain(error, url) or DatabaseError(str(error).strip())
    detail = worded.message.replace(f" ({describe_url(url)})", "", 1)
    failure = type(worded)(f"{doing} {describe_url(url)}: {detail}")
    failure.hint = worded.hint
    return failure
