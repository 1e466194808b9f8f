"""Reading an account's fetched mail for the message browser: pages, search, delete-here, source.

The list order is newest first: `COALESCE(date, fetched_at) DESC, id DESC`, the expression the
`message_list_order` index of migration 4 is built on (over messages not deleted here). Pages
are keyset pages: "the next `limit` rows after this (key, id)", so every page costs the same
index range scan whether it is the first or the 2,000th; only `page_at` (a jump to an
arbitrary position, e.g. dragging the scrollbar) counts its way in, and it walks the index only.

Every list query takes a `MailboxView`: which mailbox, and what of it the person looking may
see (`SharingService.view_of` decides). Search runs over subject, sender, recipients and body
text: FTS5 on SQLite, a `tsvector` on PostgreSQL (both from migration 4); the SQL spellings that
differ come from the `Dialect`. Bodies are not parsed at fetch time; `index_bodies` extracts
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

from tui.core.errors import PoptuiError
from tui.core.mail.render import extract_body_text
from tui.core.mail.summary import UNREADABLE
from tui.core.storage.dialect import Dialect, dialect_of, write_transaction
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.migrations.m0004_message_search import SORT_KEY
from tui.core.storage.models import database_proxy, utcnow
from tui.core.storage.source_files import SourceFileError, read_source

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


def _dialect() -> Dialect:
    return dialect_of(_db())


def _execute(sql: str, params: Sequence[Any] = ()) -> Any:
    return _db().execute_sql(_dialect().bind(sql), tuple(params))


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


def _scope(view: MailboxView, alias: str = "") -> tuple[str, list[Any]]:
    """The WHERE terms, and their parameters, for the messages `view` shows: its account's, not
    deleted here, none to or from a hidden domain or its subdomains (messages store each domain
    with its parents), and, when any domain is hidden, none whose addresses could not be read
    (fail closed).

    "Not deleted here" is spelled as the list index's predicate, so the index is used. On a team
    PostgreSQL database row-level security hides the same domains again, for any SQL.
    """
    sql = f"{alias}account_id = ? AND {_dialect().is_false(alias + 'deleted_here')}"
    hidden = [*view.hidden_domains, UNREADABLE] if view.hidden_domains else []
    sql += f" AND {alias}party_domains NOT LIKE ?" * len(hidden)
    return sql, [view.account_id, *(f"% {domain} %" for domain in hidden)]


def _select(view: MailboxView) -> tuple[str, list[Any]]:
    where, params = _scope(view)
    return f"SELECT {_COLUMNS} FROM message WHERE {where}", params


# `key <= k AND (key < k OR id < i)` rather than a row value `(key, id) < (k, i)`: SQLite uses
# only the former as an index range (measured: the row value scans the whole account).
_OLDER = f" AND {SORT_KEY} <= ? AND ({SORT_KEY} < ? OR id < ?)"
_NEWER = f" AND {SORT_KEY} >= ? AND ({SORT_KEY} > ? OR id > ?)"
_DESC = f" ORDER BY {SORT_KEY} DESC, id DESC LIMIT ?"
_ASC = f" ORDER BY {SORT_KEY} ASC, id ASC LIMIT ?"


def _around(cursor: Cursor) -> tuple[Any, Any, int]:
    return (cursor.key, cursor.key, cursor.id)


# ------------------------------------------------------------------------------ the list


def count(view: MailboxView) -> int:
    """Messages in the list (not deleted here, not hidden from this view)."""
    where, params = _scope(view)
    row = _execute(f"SELECT COUNT(*) FROM message WHERE {where}", params).fetchone()
    return int(row[0])


def page_after(
    view: MailboxView, cursor: Cursor | None, limit: int = DEFAULT_PAGE
) -> list[MessageRow]:
    """Up to `limit` messages after `cursor` in list order (older); the newest page for None."""
    sql, params = _select(view)
    if cursor is None:
        return _rows(sql + _DESC, (*params, limit))
    return _rows(sql + _OLDER + _DESC, (*params, *_around(cursor), limit))


def page_before(
    view: MailboxView, cursor: Cursor | None, limit: int = DEFAULT_PAGE
) -> list[MessageRow]:
    """Up to `limit` messages before `cursor` (newer), in list order; the last page for None."""
    sql, params = _select(view)
    if cursor is None:
        rows = _rows(sql + _ASC, (*params, limit))
    else:
        rows = _rows(sql + _NEWER + _ASC, (*params, *_around(cursor), limit))
    rows.reverse()
    return rows


def first_page(view: MailboxView, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    return page_after(view, None, limit)


def last_page(view: MailboxView, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    """The oldest `limit` messages, in list order: "jump to end"."""
    return page_before(view, None, limit)


def page_at(view: MailboxView, offset: int, limit: int = DEFAULT_PAGE) -> list[MessageRow]:
    """Up to `limit` messages from position `offset` (0 = newest).

    For jumps only (dragging the scrollbar): finding the first row walks `offset` index entries
    (covering, a few ms per 100,000); moving on from there is keyset paging again.
    """
    if offset <= 0:
        return page_after(view, None, limit)
    where, params = _scope(view)
    anchor = _execute(
        f"SELECT id, {SORT_KEY} FROM message WHERE {where}"
        f" ORDER BY {SORT_KEY} DESC, id DESC LIMIT 1 OFFSET ?",
        (*params, offset),
    ).fetchone()
    if anchor is None:
        return last_page(view, limit)
    # "older than (key, id + 1)" includes the anchor itself
    return page_after(view, Cursor(anchor[1], int(anchor[0]) + 1), limit)


def position(view: MailboxView, cursor: Cursor) -> int:
    """How many messages come before `cursor` in the list: its 0-based position."""
    where, params = _scope(view)
    row = _execute(
        f"SELECT COUNT(*) FROM message WHERE {where}" + _NEWER, (*params, *_around(cursor))
    ).fetchone()
    return int(row[0])


# ------------------------------------------------------------------------------ search


def search_words(text: str) -> list[str]:
    """The words of a query as both search engines split them: letters and digits only.

    `ana@example.com` is the words ana, example, com, searched as a phrase; punctuation,
    quotes and operators never reach FTS5 or `to_tsquery`, so no input is a syntax error.
    """
    return [word.lower() for word in _WORDS.findall(text)]


def search(view: MailboxView, text: str, limit: int = SEARCH_LIMIT) -> list[MessageRow]:
    """Messages whose subject, sender, recipients or body contain every term, newest first.

    Each whitespace-separated term is a phrase of its words, the last one a prefix: "invoi"
    finds "invoice", "ana@exam" finds ana@example.com. Bodies are searched once
    `index_bodies` has extracted them. A message enters the full-text index only then (the
    fetch does not index: migration 8 on SQLite, 17 on PostgreSQL); until then it is found by
    its headers with a scan of the pending rows, so search never misses a stored message.
    """
    dialect = _dialect()
    if dialect.full_text == "fts5" and not _db().table_exists("message_fts"):
        return _like_search(view, text, limit)
    query = dialect.match_query([search_words(term) for term in text.split()])
    if not query:
        return []
    where, params = _scope(view, "m.")
    found = _rows(
        f"SELECT m.id, {SORT_KEY}, m.from_addr, m.subject, m.size, m.has_attachments"
        f" FROM {dialect.search_from} WHERE {dialect.search_match_sql} AND {where}"
        f" ORDER BY {SORT_KEY} DESC, m.id DESC LIMIT ?",
        (query, *params, limit),
    )
    if not pending_bodies(view.account_id):
        return found
    pending = _like_search(view, text, limit, pending_only=True)
    merged = sorted(
        {row.id: row for row in [*found, *pending]}.values(),
        key=lambda row: (str(row.key), row.id),
        reverse=True,
    )
    return merged[:limit]


def _like_search(
    view: MailboxView, text: str, limit: int, *, pending_only: bool = False
) -> list[MessageRow]:
    """Search by scanning: on an SQLite built without FTS5 (the same answers, slower), and for
    the messages not yet in the full-text index (`pending_only`: their headers)."""
    words = search_words(text)
    if not words:
        return []
    sql, params = _select(view)
    if pending_only:
        sql += f" AND {_dialect().is_false('body_indexed')}"
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
    dialect = _dialect()
    pending = dialect.is_false("body_indexed")
    if account_id is None:
        row = _execute(f"SELECT COUNT(*) FROM message WHERE {pending}").fetchone()
    else:
        # Unindexed "account_id" keeps SQLite on the small partial index of pending rows; left
        # alone it walked the account's whole list index (230 ms for 100,000 messages).
        column = dialect.unindexed("account_id")
        row = _execute(
            f"SELECT COUNT(*) FROM message WHERE {pending} AND {column} = ?", (account_id,)
        ).fetchone()
    return int(row[0])


def index_bodies(batch: int = INDEX_BATCH) -> int:
    """Extract the body text of up to `batch` not-yet-indexed messages, newest first.

    Returns how many were done; 0 means every body is indexed. Sources are read and parsed
    outside the write transaction, so a fetch running meanwhile waits only for the UPDATEs.
    """
    dialect = _dialect()
    ids = [
        int(row[0])
        for row in _execute(
            f"SELECT id FROM message WHERE {dialect.is_false('body_indexed')}"
            " ORDER BY id DESC LIMIT ?",
            (batch,),
        ).fetchall()
    ]
    if not ids:
        return 0
    updates = []
    for message_id in ids:  # one source in memory at a time: a message can be 25 MB
        try:
            raw = read_source(_db(), message_id)
        except SourceFileError:
            raw = None  # unreadable now: indexed without its body, shown as damaged when opened
        body = extract_body_text(raw, MAX_INDEXED_BODY_CHARS) if raw else ""
        updates.append((body, message_id))
    with write_transaction(_db()):
        for body, message_id in updates:
            _execute(
                f"UPDATE message SET body_text = ?, body_indexed = {dialect.true} WHERE id = ?",
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
    dialect = _dialect()
    now = dialect.timestamp_param(utcnow())
    changed = 0
    with write_transaction(_db()):
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            cursor = _execute(
                f"UPDATE message SET deleted_here = {dialect.true}, deleted_here_at = ?"
                f" WHERE {dialect.is_false('deleted_here')} AND id IN ({marks})",
                (now, *chunk),
            )
            changed += int(cursor.rowcount)
    return changed


def load_source(message_id: int) -> bytes:
    """The raw RFC 5322 bytes of a message; raises `MessageNotFound`."""
    raw = read_source(_db(), message_id)
    if raw is None:
        raise MessageNotFound(f"Message {message_id} is no longer stored.")
    return raw
