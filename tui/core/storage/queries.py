"""Reading an account's fetched mail for the message browser: pages, search, delete-here, source.

The list order is newest first: `COALESCE(date, fetched_at) DESC, id DESC`, the expression the
`message_list_order` index of migration 4 is built on (over messages not deleted here). Pages
are keyset pages: "the next `limit` rows after this (key, id)", so every page costs the same
index range scan whether it is the first or the 2,000th; only `page_at` (a jump to an
arbitrary position, e.g. dragging the scrollbar) counts its way in, and it walks the index only.

Search runs over subject, sender, recipients and body text: FTS5 on SQLite, a `tsvector` on
PostgreSQL (both from migration 4). Bodies are not parsed at fetch time; `index_bodies` extracts
them in batches, meant for a background worker. Raw SQL, because the index is matched by the
exact text of its expression and predicate. Blocking: from a worker thread, wrap calls in
`database_proxy.connection_context()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import PostgresqlDatabase

from tui.core.errors import PoptuiError
from tui.core.mail.render import extract_body_text
from tui.core.storage.migrations.m0004_message_search import SORT_KEY
from tui.core.storage.models import database_proxy, utcnow

DEFAULT_PAGE = 100
SEARCH_LIMIT = 500
INDEX_BATCH = 100
MAX_INDEXED_BODY_CHARS = 100_000
"""Body text kept for search; PostgreSQL refuses a tsvector over 1 MB."""

_COLUMNS = f"id, {SORT_KEY}, from_addr, subject, size, has_attachments"
_WORDS = re.compile(r"[^\W_]+")


class MessageNotFound(PoptuiError, LookupError):
    """The message is gone (deleted by another session, or a stale id)."""


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the sort key exactly as the database returned it, and the id."""

    key: Any
    id: int


@dataclass(frozen=True)
class MessageRow:
    """One line of the message list. Strings are raw from the mail: sanitize before showing."""

    id: int
    key: Any
    """`COALESCE(date, fetched_at)` as stored (text on SQLite): part of the cursor."""
    from_addr: str
    subject: str
    size: int
    has_attachments: bool

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.key, self.id)

    @property
    def when(self) -> datetime | None:
        """The message date (or fetch time when it has none), naive UTC."""
        return _as_datetime(self.key)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------------------ SQL helpers


def _db() -> Any:
    return database_proxy.obj


def _is_postgres() -> bool:
    return isinstance(_db(), PostgresqlDatabase)


def _live() -> str:
    """The partial index's predicate, spelled exactly as in migration 4."""
    return "NOT deleted_here" if _is_postgres() else "deleted_here = 0"


_HIDDEN_DOMAINS: dict[int, tuple[str, ...]] = {}
_SAFE_DOMAIN = re.compile(r"^[a-z0-9.-]+$")


def hide_domains(account_id: int, domains: Sequence[str]) -> None:
    """Hide mail to or from `domains` when listing `account_id` (someone else's mailbox shared
    as "Public, except these domains"). On PostgreSQL row-level security hides it anyway; on
    SQLite this is the filter. One viewer per process, so a module-level table is enough."""
    if not domains:
        _HIDDEN_DOMAINS.pop(account_id, None)
        return
    for domain in domains:
        if not _SAFE_DOMAIN.match(domain):
            raise ValueError(f"not a domain: {domain!r}")
    _HIDDEN_DOMAINS[account_id] = tuple(domains)


def _hidden(account_id: int, prefix: str = "") -> str:
    # Domains are validated to [a-z0-9.-], so they can stand in the SQL text.
    if _is_postgres():
        return ""  # row-level security already hides them, for every query
    domains = _HIDDEN_DOMAINS.get(account_id, ())
    return "".join(f" AND {prefix}party_domains NOT LIKE '% {d} %'" for d in domains)


def _execute(sql: str, params: Sequence[Any] = ()) -> Any:
    db = _db()
    if db.param != "?":
        sql = sql.replace("?", db.param)
    return db.execute_sql(sql, tuple(params))


def _rows(sql: str, params: Sequence[Any]) -> list[MessageRow]:
    return [
        MessageRow(
            id=int(row[0]),
            key=row[1],
            from_addr=row[2] or "",
            subject=row[3] or "",
            size=int(row[4] or 0),
            has_attachments=bool(row[5]),
        )
        for row in _execute(sql, params).fetchall()
    ]


def _now_param() -> Any:
    """Now, as peewee writes a DateTimeField: a datetime for psycopg2, its str() for SQLite."""
    stamp = utcnow()
    return stamp if _is_postgres() else str(stamp)


def _base(account_id: int) -> str:
    return (
        f"SELECT {_COLUMNS} FROM message WHERE account_id = ? AND {_live()}"
        + _hidden(account_id)
    )


# `key <= k AND (key < k OR id < i)` rather than a row value `(key, id) < (k, i)`: SQLite uses
# only the former as an index range (measured: the row value scans the whole account).
_OLDER = f" AND {SORT_KEY} <= ? AND ({SORT_KEY} < ? OR id < ?)"
_NEWER = f" AND {SORT_KEY} >= ? AND ({SORT_KEY} > ? OR id > ?)"
_DESC = f" ORDER BY {SORT_KEY} DESC, id DESC LIMIT ?"
_ASC = f" ORDER BY {SORT_KEY} ASC, id ASC LIMIT ?"


# ------------------------------------------------------------------------------ the list


def count(account_id: int) -> int:
    """Messages in the list (not deleted here)."""
    row = _execute(
        f"SELECT COUNT(*) FROM message WHERE account_id = ? AND {_live()}"
        + _hidden(account_id),
        (account_id,),
    ).fetchone()
    return int(row[0])


def page_after(
    account_id: int, cursor: Cursor | None, limit: int = DEFAULT_PAGE
) -> list[MessageRow]:
    """Up to `limit` messages after `cursor` in list order (older); the newest page for None."""
    if cursor is None:
        return _rows(_base(account_id) + _DESC, (account_id, limit))
    params = (account_id, cursor.key, cursor.key, cursor.id, limit)
    return _rows(_base(account_id) + _OLDER + _DESC, params)


def page_before(
    account_id: int, cursor: Cursor | None, limit: int = DEFAULT_PAGE
) -> list[MessageRow]:
    """Up to `limit` messages before `cursor` (newer), in list order; the last page for None."""
    if cursor is None:
        rows = _rows(_base(account_id) + _ASC, (account_id, limit))
    else:
        params = (account_id, cursor.key, cursor.key, cursor.id, limit)
        rows = _rows(_base(account_id) + _NEWER + _ASC, params)
    rows.reverse()
    return rows


def first_page(account_id: int, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    return page_after(account_id, None, limit)


def last_page(account_id: int, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    """The oldest `limit` messages, in list order: "jump to end"."""
    return page_before(account_id, None, limit)


def page_at(account_id: int, offset: int, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    """Up to `limit` messages from position `offset` (0 = newest).

    For jumps only (dragging the scrollbar): finding the first row walks `offset` index entries
    (covering, a few ms per 100,000); moving on from there is keyset paging again.
    """
    if offset <= 0:
        return page_after(account_id, None, limit)
    anchor = _execute(
        f"SELECT id, {SORT_KEY} FROM message WHERE account_id = ? AND {_live()}"
        + _hidden(account_id)
        + f" ORDER BY {SORT_KEY} DESC, id DESC LIMIT 1 OFFSET ?",
        (account_id, offset),
    ).fetchone()
    if anchor is None:
        return last_page(account_id, limit)
    first = Cursor(anchor[1], int(anchor[0]))
    params = (account_id, first.key, first.key, first.id + 1, limit)
    # "older than (key, id + 1)" includes the anchor itself
    return _rows(_base(account_id) + _OLDER + _DESC, params)


def position(account_id: int, cursor: Cursor) -> int:
    """How many messages come before `cursor` in the list: its 0-based position."""
    row = _execute(
        f"SELECT COUNT(*) FROM message WHERE account_id = ? AND {_live()}"
        + _hidden(account_id)
        + _NEWER,
        (account_id, cursor.key, cursor.key, cursor.id),
    ).fetchone()
    return int(row[0])


def get_row(message_id: int) -> MessageRow | None:
    rows = _rows(f"SELECT {_COLUMNS} FROM message WHERE id = ?", (message_id,))
    return rows[0] if rows else None


# ------------------------------------------------------------------------------ search


def search_words(text: str) -> list[str]:
    """The words of a query as both search engines split them: letters and digits only.

    `ana@example.com` is the words ana, example, com, searched as a phrase; punctuation,
    quotes and operators never reach FTS5 or `to_tsquery`, so no input is a syntax error.
    """
    return [word.lower() for word in _WORDS.findall(text)]


def _fts_query(text: str) -> str:
    # Each whitespace-separated term is a phrase of its words, the last one a prefix:
    # "invoi" finds "invoice", "ana@exam" finds ana@example.com. Terms are ANDed.
    phrases = []
    for term in text.split():
        words = search_words(term)
        if words:
            phrases.append('"' + " ".join(words) + '"*')
    return " ".join(phrases)


def _tsquery(text: str) -> str:
    phrases = []
    for term in text.split():
        words = search_words(term)
        if words:
            quoted = [f"'{word}'" for word in words]
            quoted[-1] += ":*"
            phrases.append("(" + " <-> ".join(quoted) + ")")
    return " & ".join(phrases)


def _has_fts_table() -> bool:
    return bool(_db().table_exists("message_fts"))


def search(account_id: int, text: str, limit: int = SEARCH_LIMIT) -> list[MessageRow]:
    """Messages whose subject, sender, recipients or body contain every term, newest first.

    Bodies are searched once `index_bodies` has extracted them.
    """
    if _is_postgres():
        query = _tsquery(text)
        if not query:
            return []
        return _rows(
            _base(account_id) + " AND search_vector @@ to_tsquery('simple', ?)" + _DESC,
            (account_id, query, limit),
        )
    if not _has_fts_table():
        return _like_search(account_id, text, limit)
    query = _fts_query(text)
    if not query:
        return []
    # CROSS JOIN pins the join order: matches first, then their rows. Left to itself SQLite
    # walked the whole list index probing FTS per row (minutes on 100,000 messages).
    return _rows(
        f"SELECT m.id, {SORT_KEY}, m.from_addr, m.subject, m.size, m.has_attachments"
        " FROM message_fts CROSS JOIN message AS m ON m.id = message_fts.rowid"
        f" WHERE message_fts MATCH ? AND m.account_id = ? AND m.{_live()}"
        + _hidden(account_id, "m.")
        + f" ORDER BY {SORT_KEY} DESC, m.id DESC LIMIT ?",
        (query, account_id, limit),
    )


def _like_search(account_id: int, text: str, limit: int) -> list[MessageRow]:
    """Search without FTS5 (an SQLite built without it): a scan, but the same answers."""
    words = search_words(text)
    if not words:
        return []
    sql = _base(account_id)
    params: list[Any] = [account_id]
    for word in words:
        sql += (
            " AND (lower(subject) LIKE ? OR lower(from_addr) LIKE ?"
            " OR lower(to_addrs) LIKE ? OR lower(body_text) LIKE ?)"
        )
        params += [f"%{word}%"] * 4
    return _rows(sql + _DESC, [*params, limit])


# ------------------------------------------------------------------------------ body index


def pending_bodies(account_id: int | None = None) -> int:
    """Messages whose body text is not extracted yet (search covers only their headers)."""
    pending = "NOT body_indexed" if _is_postgres() else "body_indexed = 0"
    if account_id is None:
        row = _execute(f"SELECT COUNT(*) FROM message WHERE {pending}").fetchone()
    else:
        # "+account_id" keeps SQLite on the small partial index of pending rows; left alone it
        # walked the account's whole list index (230 ms for 100,000 messages).
        column = "account_id" if _is_postgres() else "+account_id"
        row = _execute(
            f"SELECT COUNT(*) FROM message WHERE {pending} AND {column} = ?", (account_id,)
        ).fetchone()
    return int(row[0])


def _write_transaction() -> Any:
    db = _db()
    if isinstance(db, PostgresqlDatabase):
        return db.atomic()
    return db.atomic("IMMEDIATE")


def index_bodies(batch: int = INDEX_BATCH) -> int:
    """Extract the body text of up to `batch` not-yet-indexed messages, newest first.

    Returns how many were done; 0 means every body is indexed. Sources are read and parsed
    outside the write transaction, so a fetch running meanwhile waits only for the UPDATEs.
    """
    pending = "NOT body_indexed" if _is_postgres() else "body_indexed = 0"
    ids = [
        int(row[0])
        for row in _execute(
            f"SELECT id FROM message WHERE {pending} ORDER BY id DESC LIMIT ?", (batch,)
        ).fetchall()
    ]
    if not ids:
        return 0
    done = "TRUE" if _is_postgres() else "1"
    updates = []
    for message_id in ids:  # one source in memory at a time: a message can be 25 MB
        row = _execute(
            "SELECT raw FROM message_source WHERE message_id = ?", (message_id,)
        ).fetchone()
        body = extract_body_text(bytes(row[0]), MAX_INDEXED_BODY_CHARS) if row else ""
        updates.append((body, message_id))
    with _write_transaction():
        for body, message_id in updates:
            _execute(
                f"UPDATE message SET body_text = ?, body_indexed = {done} WHERE id = ?",
                (body.replace("\x00", ""), message_id),
            )
    return len(updates)


def index_all_bodies(
    should_stop: Callable[[], bool] = lambda: False, batch: int = INDEX_BATCH
) -> int:
    """Run `index_bodies` until every body is indexed or `should_stop()`; returns the total.

    For the app's background worker: `index_all_bodies(lambda: worker.is_cancelled)`.
    """
    total = 0
    while not should_stop():
        done = index_bodies(batch)
        if not done:
            break
        total += done
    return total


# ------------------------------------------------------------------------------ changes


def mark_deleted_here(message_ids: Iterable[int]) -> int:
    """Hide messages from the list ("deleted here"); returns how many changed.

    The raw source is kept; with the account's delete setting "when deleted here" the next
    fetch sends DELE for them.
    """
    ids = sorted({int(message_id) for message_id in message_ids})
    if not ids:
        return 0
    true = "TRUE" if _is_postgres() else "1"
    changed = 0
    with _write_transaction():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            cursor = _execute(
                f"UPDATE message SET deleted_here = {true}, deleted_here_at = ?"
                f" WHERE {_live()} AND id IN ({marks})",
                (_now_param(), *chunk),
            )
            changed += int(cursor.rowcount)
    return changed


def load_source(message_id: int) -> bytes:
    """The raw RFC 5322 bytes of a message; raises `MessageNotFound`."""
    row = _execute(
        "SELECT raw FROM message_source WHERE message_id = ?", (message_id,)
    ).fetchone()
    if row is None:
        raise MessageNotFound(f"Message {message_id} is no longer stored.")
    return bytes(row[0])
