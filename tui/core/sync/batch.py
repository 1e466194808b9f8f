"""Storing fetched mail: batches of messages in durable transactions, before any DELE.

Messages are committed on bytes and on time (and at a count cap), so a slow server never holds
mail that arrived whole uncommitted for long: a kill (or a power cut) then loses at most the
last couple of seconds of transfer, which the next fetch downloads again (nothing unstored is
ever deleted). In the receive loop (`holding`) 2 MB batches are written into one open
transaction committed every 16 MB, so memory stays at a batch while the fsyncs are fewer.
Per message only the header block is read (`mail.headers`), usually ahead on the reading
thread (`offer`), and the batch goes to the database in a few prepared statements
(`storage.insert`), the bytes of a SQLite database file's messages into segment files beside it,
made durable just before the commit (`storage.source_files`); bodies and the search index come
later (`storage.queries.index_bodies`).

`BatchWriter.flush` is the fetch's one post-commit point: what it returns (key → stored id of
the messages just made durable) is all that exists of this session's mail in the database.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tui.core.storage.dialect import dialect_of, write_transaction
from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.models import Account, Message, UidlAlias, database_proxy, utcnow
from tui.core.storage.source_files import SourceFiles

if TYPE_CHECKING:
    from tui.core.mail.summary import MessageSummary
    from tui.core.storage.postgres_insert import PostgresWriter

BATCH_MESSAGES = 1000
BATCH_BYTES = 2 * 1024 * 1024
"""A batch is committed (one durable transaction, one fsync) when either limit is reached:
bytes bound the memory a batch holds and what a kill can cost; the count only caps the rows.
2 MB: the same fetch time as 4 MB, and the memory goes to the conveyor instead
(`receive.CONVEYOR_BYTES`)."""
HELD_COMMIT_BYTES = 16 * 1024 * 1024
"""Inside `holding` (the receive loop) each 2 MB batch is written into one open transaction
and only every this many bytes committed: a commit is an fsync, and 123 of them were a tenth
of a 246 MB fetch; the rows already written wait in SQLite's pages, not in Python."""
BATCH_SECONDS = 2.0
"""...or when its oldest message has waited this long: checked as each message arrives, and
by whoever waits for the next one (`due` says how long it may wait before calling `flush`)."""


class BatchWriter:
    """Collects retrieved messages and stores each batch in one durable transaction."""

    def __init__(
        self,
        account: Account,
        *,
        dedupe_message_id: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.dedupe_message_id = dedupe_message_id
        """Store a message whose Message-ID is already here as an alias, not a copy (Gmail's
        `recent:` mode serves the last 30 days again under new UIDLs)."""
        self.pending: list[tuple[str, bytes, MessageSummary | None]] = []
        self.pending_bytes = 0
        self.stored = 0
        self.duplicates = 0
        self.commits = 0
        self._clock = clock
        self._oldest = 0.0
        """When the oldest pending message arrived."""
        self._offered: tuple[bytes, MessageSummary] | None = None
        self._held = False
        self._open: Any = None
        """The write transaction holding written, uncommitted batches (only while `_held`)."""
        self._written: dict[str, int] = {}
        self._written_bytes = 0
        self._written_count = 0
        self._written_aliases = 0
        self._files = SourceFiles.for_database(database_proxy.obj)
        """Where a SQLite database file's messages are appended (None: into their rows)."""
        self.on_postgres = dialect_of(database_proxy.obj).name == "postgres"
        self._postgres: PostgresWriter | None = None
        """On PostgreSQL, once there is mail to store: the open transaction's statements, sent
        and not yet waited for."""

    def offer(self, raw: bytes, summary: MessageSummary) -> None:
        """The summary of `raw`, made ahead on another thread: the next `add` of these very
        bytes (the same object) uses it instead of parsing them again in `flush`."""
        self._offered = (raw, summary)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Within: batches are written into one open transaction, committed every
        `HELD_COMMIT_BYTES` (or `BATCH_SECONDS`, `BATCH_MESSAGES`, or `flush`). On the way out,
        however it is left, what was written is committed: whole messages only, and nothing
        is deleted on the server before the caller's own `flush`. Left normally, the pending
        messages are committed too."""
        self._held = True
        try:
            yield
        except BaseException:
            self._held = False
            self._commit()
            raise
        self._held = False
        self.flush()

    def due(self) -> float | None:
        """Seconds until the uncommitted messages must be committed; None when there are none."""
        if not self.pending and self._open is None:
            return None
        return max(0.0, BATCH_SECONDS - (self._clock() - self._oldest))

    def add(self, uidl: str, raw: bytes) -> None:
        now = self._clock()
        if not self.pending and self._open is None:
            self._oldest = now
        offered, self._offered = self._offered, None
        summary = offered[1] if offered is not None and offered[0] is raw else None
        self.pending.append((uidl, raw, summary))
        self.pending_bytes += len(raw)
        commit_bytes = HELD_COMMIT_BYTES if self._held else BATCH_BYTES
        if (
            len(self.pending) + self._written_count >= BATCH_MESSAGES
            or self.pending_bytes + self._written_bytes >= commit_bytes
            or now - self._oldest >= BATCH_SECONDS
        ):
            self.flush()
        elif self.pending_bytes >= BATCH_BYTES:
            self._write()

    def flush(self) -> dict[str, int]:
        """Commit the uncommitted messages; key → stored id of those stored.

        Returns only once the commit is durable: the one place after which this session's
        messages exist (and may be handed on, or deleted on the server after `guard`).
        """
        self._write()
        return self._commit()

    def _commit(self) -> dict[str, int]:
        tx, self._open = self._open, None
        if tx is None:
            return {}
        written, aliases = self._written, self._written_aliases
        self._forget_written()
        try:
            if self._files is not None:
                self._files.sync()  # the bytes durable before the rows that point at them
            if self._postgres is not None:
                self._postgres.finish()  # every statement sent has run (or its error raises)
        except BaseException:
            tx.__exit__(*sys.exc_info())  # ROLLBACK
            raise
        tx.__exit__(None, None, None)  # COMMIT (a failed one is rolled back and raises)
        self.stored += len(written)
        self.duplicates += aliases
        self.commits += 1
        return written

    def _forget_written(self) -> None:
        self._written = {}
        self._written_bytes = self._written_count = self._written_aliases = 0

    def _write(self) -> None:
        """Write the pending messages into the open write transaction (begun here if none)."""
        if not self.pending:
            return
        from tui.core.mail.summary import read_here  # on new mail only (the mail package)

        now = utcnow()
        batch: list[NewMessage] = []
        aliases: list[tuple[str, int | str]] = []
        for key, raw, summary in self.pending:
            s = summary if summary is not None else read_here(raw)
            batch.append(
                NewMessage(
                    key, raw, s.from_addr, s.to_addrs, s.subject, s.date, s.message_id,
                    s.has_attachments, s.party_domains,
                )
            )  # fmt: skip
        db = database_proxy.obj
        if self.on_postgres and self._postgres is None:
            from tui.core.storage.postgres_insert import PostgresWriter

            self._postgres = PostgresWriter()
        if self._open is None:
            self._open = write_transaction(db)
            self._open.__enter__()
        try:
            if self.dedupe_message_id:
                batch, aliases = self._split_known(batch)
            stored = insert_messages(db, self.account.id, batch, now, self._files, self._postgres)
            for key, target in aliases:
                UidlAlias.insert(
                    account=self.account,
                    uidl=key,
                    message=stored[target] if isinstance(target, str) else target,
                    seen_at=now,
                ).on_conflict_ignore().execute()
        except BaseException:
            tx, self._open = self._open, None
            self._forget_written()
            if self._files is not None:
                self._files.abandon()  # what was appended is referred to by nothing
            if self._postgres is not None:
                self._postgres.abandon()
            tx.__exit__(*sys.exc_info())  # ROLLBACK
            raise
        self._written.update(stored)
        self._written_aliases += len(aliases)
        self._written_count += len(self.pending)
        self._written_bytes += self.pending_bytes
        self.pending.clear()
        self.pending_bytes = 0

    def _split_known(
        self, batch: list[NewMessage]
    ) -> tuple[list[NewMessage], list[tuple[str, int | str]]]:
        """Messages whose Message-ID is stored already (or earlier in this batch) become
        aliases of that copy (its stored id, or the key of the batch's first copy); the rest
        are new."""
        wanted = sorted({m.message_id for m in batch if m.message_id})
        known: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            rows: Any = (
                Message.select(Message.message_id, Message.id)
                .where(
                    (Message.account == self.account)
                    & Message.message_id.in_(wanted[start : start + 500])
                )
                .tuples()
            )
            for message_id, pk in rows:
                known.setdefault(message_id, pk)
        fresh: list[NewMessage] = []
        aliases: list[tuple[str, int | str]] = []
        first: dict[str, str] = {}
        for message in batch:
            if message.message_id in known:
                aliases.append((message.key, known[message.message_id]))
            elif message.message_id in first:
                aliases.append((message.key, first[message.message_id]))
            else:
                if message.message_id:
                    first[message.message_id] = message.key
                fresh.append(message)
        return fresh, aliases
