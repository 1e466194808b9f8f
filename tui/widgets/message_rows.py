"""The rows a `MessageList` draws, by position: a mailbox through a window of keyset pages, or a
search's results held whole. No Textual here: these are plain objects over the message queries.

`MailboxRows` keeps at most `MAX_PAGES` pages of rows: moving on by keyset pages
(`tui.core.storage.queries.page_after`/`page_before`), jumping (home, end, the scrollbar) by
loading the page there. Each page is one indexed query (~1 ms on SQLite for 100,000 messages),
run on the UI thread because it is cheaper than a worker round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tui.core.storage import queries as message_query
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.queries import MessageRow

PAGE_SIZE = 100
MAX_PAGES = 4
"""Rows held at once: at most PAGE_SIZE * MAX_PAGES, whatever the mailbox size."""


class RowSource(Protocol):
    """Rows of the list by position; `get` may load from the database."""

    @property
    def total(self) -> int: ...

    @property
    def held(self) -> int:
        """Rows currently kept in memory."""
        ...

    @property
    def empty_text(self) -> str: ...

    def get(self, index: int) -> MessageRow | None: ...

    def reload(self) -> None: ...


class MailboxRows:
    """One account's list, a window of at most `max_pages` pages loaded around what is shown."""

    empty_text = "No messages in this mailbox yet."

    def __init__(
        self, view: MailboxView, *, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> None:
        self.view = view
        self.page_size = page_size
        self.max_rows = page_size * max(2, max_pages)
        self._total = 0
        self._start = 0
        self._rows: list[MessageRow] = []
        self.queries = 0
        """Pages loaded so far (tests and the benchmark read it)."""

    @property
    def total(self) -> int:
        return self._total

    @property
    def held(self) -> int:
        return len(self._rows)

    def reload(self) -> None:
        """Count again and forget the loaded rows (after a fetch, a delete, a switch)."""
        self._total = message_query.count(self.view)
        self._start = 0
        self._rows = []

    def get(self, index: int) -> MessageRow | None:
        if not 0 <= index < self._total:
            return None
        if not self._start <= index < self._start + len(self._rows):
            self._load(index)
        offset = index - self._start
        return self._rows[offset] if 0 <= offset < len(self._rows) else None

    def _load(self, index: int) -> None:
        page = self.page_size
        end = self._start + len(self._rows)
        self.queries += 1
        if self._rows and end <= index < end + page:
            more = message_query.page_after(self.view, self._rows[-1].cursor, page)
            self._rows.extend(more)
            if len(more) < page:  # rows went away meanwhile: the list ends here
                self._total = self._start + len(self._rows)
            excess = len(self._rows) - self.max_rows
            if excess > 0:
                del self._rows[:excess]
                self._start += excess
        elif self._rows and self._start - page <= index < self._start:
            more = message_query.page_before(self.view, self._rows[0].cursor, page)
            reached_top = len(more) < page
            # Mail that arrived since the count would sit above position 0: leave it out
            # until the next reload rather than shift every position under the cursor.
            arrived = max(0, len(more) - self._start)
            more = more[arrived:]
            self._start = 0 if reached_top else self._start - len(more)
            self._rows[:0] = more
            del self._rows[self.max_rows :]
        elif index >= self._total - page:
            self._rows = message_query.last_page(self.view, page)
            self._start = max(0, self._total - len(self._rows))
        elif index < page:
            self._rows = message_query.first_page(self.view, page)
            self._start = 0
        else:
            first = max(0, index - page // 2)
            self._rows = message_query.page_at(self.view, first, page)
            self._start = first


class ResultRows:
    """Search results: a short list held whole (search returns at most a few hundred)."""

    def __init__(self, rows: Sequence[MessageRow], empty_text: str = "Nothing found.") -> None:
        self._rows = list(rows)
        self.empty_text = empty_text

    @property
    def total(self) -> int:
        return len(self._rows)

    @property
    def held(self) -> int:
        return len(self._rows)

    def get(self, index: int) -> MessageRow | None:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def reload(self) -> None:
        pass

    def discard(self, message_ids: set[int]) -> None:
        self._rows = [row for row in self._rows if row.id not in message_ids]


class EmptyRows:
    """Nothing to show (no mailbox chosen)."""

    def __init__(self, empty_text: str) -> None:
        self.empty_text = empty_text

    total = 0
    held = 0

    def get(self, index: int) -> MessageRow | None:
        return None

    def reload(self) -> None:
        pass
