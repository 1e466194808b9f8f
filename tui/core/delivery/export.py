"""Exporting a mailbox's stored mail to a Maildir or an mbox file, in constant memory.

The messages are walked oldest first in keyset pages of metadata (`tui.core.storage.queries`,
the same view and order as the message browser), and their raw bytes are read and written one
message at a time: memory stays flat whatever the mailbox's size. The bytes are the
ones fetched from the server, untouched; mbox gets mboxrd escaping (a reader removes it). A
Maildir export names each file after its content, so exporting again adds only what is new.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tui.core.errors import PoptuiError
from tui.core.storage.dialect import dialect_of
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.models import database_proxy, utcnow
from tui.core.storage.source_files import read_source

PAGE = 500
"""Metadata rows per keyset page."""


class ExportFormat(StrEnum):
    MAILDIR = "maildir"
    MBOX = "mbox"


class ExportError(PoptuiError):
    """An export that cannot start or had to stop; what was written so far stays written."""


@dataclass
class ExportResult:
    written: int = 0
    already_there: int = 0
    """Maildir only: messages found from an earlier export of the same mail."""
    total: int | None = None


Progress = Callable[[int, int | None], None]
"""Called with (messages done, total if known) after each message."""


def _ids(view: MailboxView, since: datetime | None, search: str | None) -> Iterator[int]:
    """Message ids of the view, oldest first (by date, else fetch time), from `since` on."""
    from tui.core.storage import queries

    if search:
        # The search engine answers newest first, ids only are kept (a few bytes each).
        found = [
            row.id
            for row in queries.search(view, search, limit=sys.maxsize)
            if since is None or (row.when is not None and row.when >= since)
        ]
        yield from reversed(found)
        return
    cursor = None
    while True:
        page = queries.page_before(view, cursor, PAGE)  # newest first within the page
        if not page:
            return
        for row in reversed(page):
            if since is None or (row.when is not None and row.when >= since):
                yield row.id
        cursor = page[0].cursor
        if len(page) < PAGE:
            return


def _sources(ids: Iterator[int]) -> Iterator[tuple[int, bytes, Any]]:
    """(id, raw bytes, fetched at) per id, one message in memory at a time (one can be 25 MB)."""
    db = database_proxy.obj
    sql = dialect_of(db).bind("SELECT fetched_at FROM message WHERE id = ?")
    for mid in ids:
        row = db.execute_sql(sql, (mid,)).fetchone()
        raw = read_source(db, mid) if row is not None else None
        if raw is not None:  # else deleted meanwhile
            yield mid, raw, row[0]


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return utcnow()


def export_name(raw: bytes, when: datetime) -> str:
    """A Maildir file name from the message's content: the same message, the same name."""
    from tui.core.delivery.maildir import unique_name

    seconds = int(when.replace(tzinfo=UTC).timestamp())
    return unique_name(seconds, "x" + hashlib.sha256(raw).hexdigest()[:32])


def export_mail(
    view: MailboxView,
    fmt: ExportFormat,
    path: str,
    *,
    since: datetime | None = None,
    search: str | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> ExportResult:
    """Write the view's messages (from `since`, matching `search`) to a Maildir or mbox."""
    from tui.core.delivery.errors import DeliveryError

    result = ExportResult(total=total)
    report = progress or (lambda _done, _total: None)
    sources = _sources(_ids(view, since, search))
    try:
        if fmt is ExportFormat.MAILDIR:
            from tui.core.delivery.maildir import Maildir

            folder = Maildir(path, label=f"Maildir {path}")
            for _mid, raw, fetched in sources:
                if folder.deliver(
                    raw, export_name(raw, _when(fetched)), look_in_cur=True, sync=False
                ):
                    result.written += 1
                else:
                    result.already_there += 1
                report(result.written + result.already_there, total)
            folder.sync()
        else:
            from tui.core.delivery.mbox import Mbox

            with Mbox(path, label=f"mbox {path}").locked() as mbox:
                for _mid, raw, fetched in sources:
                    mbox.append(raw, _when(fetched), sync=False)
                    result.written += 1
                    report(result.written, total)
                mbox.sync()
    except DeliveryError as error:
        done = f" after {result.written:,} messages" if result.written else ""
        raise ExportError(
            error.message.replace("Could not deliver to", "Could not export to", 1) + done,
            hint=error.hint or "",
        ) from error
    return result
