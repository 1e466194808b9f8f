"""The words around the mailbox table: the active-mailbox line above it, the detail pane below.

Pure functions from rows to `Content` (names, addresses and errors are untrusted, so they are
cleaned and never parsed as markup); the home screen only puts the result on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from textual.content import Content

from tui.core.text import clean
from tui.widgets.mailbox_table import (
    ACTIVE_MARKER,
    MailboxRow,
    MailboxState,
    describe_age,
    state_text,
)


def active_summary(rows: Sequence[MailboxRow]) -> Content:
    """Which mailbox is the one fetched, or how to choose one (empty without mailboxes)."""
    active = next((row for row in rows if row.is_active), None)
    if not rows:
        return Content("")
    if active is None:
        return Content("No active mailbox: highlight one and press s to fetch from it.").stylize(
            "$text-warning"
        )
    return Content.assemble(
        (f"{ACTIVE_MARKER}: ", "bold"),
        (clean(active.name), "bold"),
        f" <{clean(active.email)}> — the mailbox that is fetched",
    )


def mailbox_detail(row: MailboxRow, now: datetime) -> Content:
    """Everything about the highlighted mailbox the narrow table has no column for."""
    name = Content.styled(clean(row.name), "bold")
    header = Content.assemble(
        name,
        (f"  {ACTIVE_MARKER}", "bold $success") if row.is_active else "",
        f"  {clean(row.email)}",
    )
    server = Content.assemble(
        ("Server  ", "dim"),
        f"{clean(row.server)} ({row.security})",
        ("  ·  ", "dim"),
        row.delete_policy,
    )
    fetched = describe_age(row.last_fetch_at, now)
    if row.fetched_by_service:
        fetched = f"by the service {fetched}"
    last = Content.assemble(
        ("Fetched ", "dim"),
        fetched,
        "  ",
        Content.from_rich_text(state_text(row, with_reason=True)),
    )
    mail = Content.assemble(
        ("Mail    ", "dim"),
        f"{row.message_count:,} message{'s' if row.message_count != 1 else ''} here",
        f", {row.last_fetch_new} new in the last fetch" if row.last_fetch_at else "",
    )
    lines = [header, server, last, mail]
    if row.state is MailboxState.DISABLED:
        lines.append(
            Content(
                "Not fetched until signed in again: p, then Ctrl+G (Sign in again), or "
                "poptui account signin."
                if row.signs_in
                else "Not fetched until fixed: a new password (p) or settings that pass "
                "Test & save (e) enable it again."
            ).stylize("$text-warning")
        )
    return Content("\n").join(lines)
