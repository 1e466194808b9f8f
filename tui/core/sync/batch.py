"""Storing fetched mail: each batch of messages in one durable transaction, before any DELE.

A batch is committed on count, on bytes and on time, so a slow server never holds mail that
arrived whole uncommitted for long: a kill (or a power cut) then loses at most the last couple
of seconds of transfer, which the next fetch downloads again (nothing unstored is ever deleted).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tui.core.storage.models import (
    Account,
    Message,
    MessageSource,
    UidlAlias,
    database_proxy,
    utcnow,
)

BATCH_MESSAGES = 100
BATCH_BYTES = 16 * 1024 * 1024
"""A batch is committed (one durable transaction) when either limit is reached."""
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
        self.pending: list[tuple[str, bytes]] = []
        self.pending_bytes = 0
        self.stored = 0
        self.duplicates = 0
        self.commits = 0
        self._clock = clock
        self._oldest = 0.0
        """When the oldest pending message arrived."""

    def due(self) -> float | None:
        """Seconds until the pending messages must be committed; None when nothing is pending."""
        if not self.pending:
            return None
        return max(0.0, BATCH_SECONDS - (self._clock() - self._oldest))

    def add(self, uidl: str, raw: bytes) -> None:
        now = self._clock()
        if not self.pending:
            self._oldest = now
        self.pending.append((uidl, raw))
        self.pending_bytes += len(raw)
        if (
            len(self.pending) >= BATCH_MESSAGES
            or self.pending_bytes >= BATCH_BYTES
            or now - self._oldest >= BATCH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        from tui.core.mail.parse import summarize  # the email package: only when mail arrives

        now = utcnow()
        with database_proxy.atomic():
            for uidl, raw in self.pending:
                summary = summarize(raw)
                if self.dedupe_message_id and summary.message_id:
                    existing = (
                        Message.select(Message.id)
                        .where(
                            (Message.account == self.account)
                            & (Message.message_id == summary.message_id)
                        )
                        .first()
                    )
                    if existing is not None:
                        UidlAlias.insert(
                            account=self.account, uidl=uidl, message=existing.id, seen_at=now
                        ).on_conflict_ignore().execute()
                        self.duplicates += 1
                        continue
                # No ON CONFLICT here: the lock and the known-UIDL filter make a conflict a bug,
                # and failing the batch (no DELE follows) is the safe answer to a bug.
                message_id = Message.insert(
                    account=self.account,
                    uidl=uidl,
                    size=len(raw),
                    from_addr=summary.from_addr,
                    to_addrs=summary.to_addrs,
                    subject=summary.subject,
                    date=summary.date,
                    message_id=summary.message_id,
                    has_attachments=summary.has_attachments,
                    party_domains=summary.party_domains,
                    first_seen_at=now,
                    fetched_at=now,
                ).execute()
                MessageSource.insert(message=message_id, raw=raw).execute()
                self.stored += 1
        self.pending.clear()
        self.pending_bytes = 0
        self.commits += 1
