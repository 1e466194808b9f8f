"""Database failures in words: every sqlite3 / psycopg2 / peewee error a person can meet, mapped in
this one place to a `DatabaseError` that says what happened and what to do.

The command line prints the result as one line (no traceback unless `--debug`); `poptui doctor`
shows the same words. Nothing here imports a driver: errors are recognised by their SQLite error
name, PostgreSQL SQLSTATE code or message, so the headless fast path stays light.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

from tui.core.errors import PoptuiError


class DatabaseError(PoptuiError):
    """A database problem worded for the user."""

    hint = "Check --database / POPTUI_DATABASE (run `poptui doctor`)."

    def in_words(self) -> str:
        """One line: what happened, then what to do."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class SchemaTooNew(DatabaseError):
    """The database was upgraded by a newer poptui; touching it could damage it."""

    hint = "Upgrade poptui; the database was not touched."


class SchemaNeedsOwner(DatabaseError):
    """A team database's schema is older than this poptui, and only its owner may upgrade it."""

    hint = (
        "Ask the database's administrator to run `poptui admin setup-postgres --database URL`"
        " as a PostgreSQL superuser; the database was not changed."
    )


class BadDatabaseUrl(DatabaseError):
    """`--database` / `POPTUI_DATABASE` cannot be understood."""

    hint = "Use sqlite:///PATH/TO/FILE.db or postgresql://USER@HOST/NAME."


class DiskFull(DatabaseError):
    hint = (
        "Free some space on that disk (or move the database), then run the command again; "
        "mail not yet stored is still on the server."
    )


class ReadOnlyDatabase(DatabaseError):
    hint = (
        "Make the file and its folder writable by you (the -wal and -shm files beside it too), "
        "or point --database at a writable copy."
    )


class CannotOpenDatabase(DatabaseError):
    hint = "Check that the path exists and that you may read and write the file and its folder."


class CorruptDatabase(DatabaseError):
    hint = (
        "Keep a copy of the file, then try `sqlite3 FILE .recover | sqlite3 NEW.db` and point "
        "--database at NEW.db; poptui does not write to a damaged file."
    )


class NotADatabase(DatabaseError):
    hint = "--database / POPTUI_DATABASE points at some other file: give the poptui database."


class DatabaseBusy(DatabaseError):
    hint = "Another program holds the database for too long; close it, then try again."


class DatabaseUnreachable(DatabaseError):
    hint = (
        "Check the network and the PostgreSQL server, then run the command again; mail not yet "
        "stored is still on the server."
    )


class ValueTooLong(DatabaseError):
    hint = "Shorten the name or text you entered; nothing was saved."


class DatabaseIOError(DatabaseError):
    hint = "The disk or file system reported an error: check it (dmesg), then try again."


# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_KINDS: dict[int, tuple[type[DatabaseError], str]] = {
    5: (DatabaseBusy, "The database stayed locked by another program"),
    6: (DatabaseBusy, "The database stayed locked by another program"),
    8: (ReadOnlyDatabase, "The database is read-only"),
    10: (DatabaseIOError, "The disk reported an input/output error on the database"),
    11: (CorruptDatabase, "The database file is damaged (corrupt)"),
    13: (DiskFull, "The disk holding the database is full"),
    14: (CannotOpenDatabase, "Cannot open the database file"),
    23: (CannotOpenDatabase, "No permission to use the database file"),
    26: (NotADatabase, "The file is not a poptui database (not SQLite at all)"),
}
# The same, by message, for a Python without `sqlite_errorcode` and for peewee-only paths.
_SQLITE_MESSAGES: list[tuple[str, int]] = [
    ("database or disk is full", 13),
    ("readonly database", 8),
    ("read-only", 8),
    ("malformed", 11),
    ("file is not a database", 26),
    ("file is encrypted or is not a database", 26),
    ("unable to open database", 14),
    ("disk i/o error", 10),
    ("database is locked", 5),
    ("database table is locked", 6),
]
# PostgreSQL SQLSTATE codes (class 08: connection exception; 57P0x: server shutting down).
_PG_CODES: dict[str, tuple[type[DatabaseError], str]] = {
    "22001": (ValueTooLong, "A value is too long for the database"),
    "53100": (DiskFull, "The PostgreSQL server's disk is full"),
    "25006": (ReadOnlyDatabase, "The PostgreSQL database is read-only"),
    "57P01": (DatabaseUnreachable, "The PostgreSQL server ended the connection"),
    "57P02": (DatabaseUnreachable, "The PostgreSQL server ended the connection"),
    "57P03": (DatabaseUnreachable, "The PostgreSQL server is not accepting connections"),
}
_PG_LOST = (
    "server closed the connection",
    "connection already closed",
    "the connection is closed",
    "the connection is lost",
    "terminating connection",
    "connection to server",
    "could not connect",
    "ssl connection has been closed",
    "no connection to the server",
    "could not receive data",
    "could not send data",
    "connection refused",
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, the driver error peewee wrapped (its first argument), and their causes."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(arg for arg in item.args[:1] if isinstance(arg, BaseException))
        todo.extend(e for e in (item.__cause__, item.__context__) if e is not None)


def has_sqlstate(error: BaseException, code: str) -> bool:
    """Whether a PostgreSQL error with SQLSTATE `code` is in `error`'s chain (psycopg 2 or 3,
    however peewee wrapped it)."""
    return any(
        code in (getattr(item, "pgcode", None), getattr(item, "sqlstate", None))
        for item in _chain(error)
    )


def _is_driver_error(error: BaseException) -> bool:
    module = type(error).__module__
    drivers = {"peewee", "psycopg2", "psycopg"}
    return isinstance(error, sqlite3.Error) or module.split(".")[0] in drivers


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].strip() if text else type(error).__name__


def _where(url: str | None) -> str:
    if not url:
        return ""
    from tui.core.storage.db import describe_url  # db imports this module

    return f" ({describe_url(url)})"


FULL_BELOW = 64 * 1024
"""Free bytes under which an I/O error on a SQLite file is read as "disk full": SQLite reports a
full disk as an I/O error when it cannot grow its shared-memory (-shm) file."""


def _sqlite_disk_full(url: str | None) -> bool:
    from tui.core.storage.db import sqlite_file  # db imports this module

    path = sqlite_file(url) if url else None
    if not path or path == ":memory:":
        return False
    try:
        info = os.statvfs(os.path.dirname(os.path.abspath(os.path.expanduser(path))))
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < FULL_BELOW


def explain(error: BaseException, url: str | None = None) -> DatabaseError | None:
    """The worded `DatabaseError` for a database driver error, or None when `error` is not one.

    An error that is already a `DatabaseError` is returned as it is. `url` (the database's)
    names the database in the message and lets an I/O error on a full disk say so.
    """
    if isinstance(error, DatabaseError):
        return error
    worded = _explain(error, url)
    if isinstance(worded, DatabaseIOError) and _sqlite_disk_full(url):
        return DiskFull(worded.message.replace(_SQLITE_KINDS[10][1], _SQLITE_KINDS[13][1], 1))
    return worded


def _explain(error: BaseException, url: str | None) -> DatabaseError | None:
    chain = list(_chain(error))
    if not any(_is_driver_error(item) for item in chain):
        return None
    where = _where(url)
    for item in chain:
        code = getattr(item, "sqlite_errorcode", None)
        if (
            isinstance(item, sqlite3.Error)
            and isinstance(code, int)
            and code & 0xFF in _SQLITE_KINDS
        ):
            kind, text = _SQLITE_KINDS[code & 0xFF]
            return kind(f"{text}{where}: {_first_line(item)}")
        pgcode = getattr(item, "pgcode", None) or getattr(item, "sqlstate", None)  # psycopg2, 3
        if isinstance(pgcode, str) and pgcode in _PG_CODES:
            kind, text = _PG_CODES[pgcode]
            return kind(f"{text}{where}: {_first_line(item)}")
        if isinstance(pgcode, str) and pgcode.startswith("08"):
            return DatabaseUnreachable(
                f"No connection to the PostgreSQL server{where}: {_first_line(item)}"
            )
    message = " ".join(_first_line(item) for item in chain).lower()
    for needle, code in _SQLITE_MESSAGES:
        if needle in message:
            kind, text = _SQLITE_KINDS[code]
            return kind(f"{text}{where}: {_first_line(chain[-1])}")
    if "value too long" in message:
        return ValueTooLong(
            f"A value is too long for the database{where}: {_first_line(chain[-1])}"
        )
    if any(needle in message for needle in _PG_LOST):
        return DatabaseUnreachable(
            f"No connection to the PostgreSQL server{where}: {_first_line(chain[-1])}"
        )
    return DatabaseError(f"The database failed{where}: {_first_line(chain[-1])}")
