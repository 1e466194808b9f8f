"""How much of a POP3 server's reply poptui is willing to read, and why.

A server (or anyone on the path before STLS) decides how many bytes it sends; poptui decides
how many it reads. Every cap follows from what the server already said (STAT's count, LIST's
sizes) and is bounded by a global ceiling, so `poptui fetch` stays well under 100 MB of memory
whatever arrives. Caps are checked per received chunk, never per byte.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tui.core.net.pop3.errors import TooManyMessages

PRE_TLS_LINE = 1024
"""Greeting, CAPA lines and the STLS reply: RFC 1939 allows 512 octets; read no more than this."""
CAPA_LINES = 256
CAPA_BYTES = 32 * 1024
STATUS_LINE = 64 * 1024
"""Any other status line (USER/PASS/AUTH, STAT, RETR's +OK...)."""
MAX_MESSAGE_BYTES = 15 * 1024 * 1024
"""The global ceiling for one message (RETR) or header block (TOP). A listed size above it is
absurd: it is not used as a budget, and such a message is skipped as too large. Storing a
message costs about three times its size at the peak (receive buffer, bytes, parse and
database write) on top of ~52 MB for the program, so 15 MiB keeps a fetch under 100 MB."""
MAX_LISTING_ENTRIES = 100_000
"""Messages one session accepts in STAT/LIST/UIDL: the engine keeps a few hundred bytes per
entry, so a million-entry listing would cost more memory than the whole fetch may use."""
LISTING_LINE = 128
"""Bytes per LIST/UIDL line: a number, a space, a 70-character unique-id and CRLF fit easily."""
SLACK = 1024
"""Added to every budget for a server that counts line ends differently."""


@dataclass(frozen=True)
class Budget:
    """What one multi-line reply may hold."""

    what: str
    """What the reply is, in the user's words ("the UIDL listing", "message 3")."""
    max_bytes: int
    max_lines: int | None = None
    skip_up_to: int | None = None
    """For a message: past `max_bytes`, read on and discard (memory stays flat) until the end
    marker, up to this many bytes in all; the message is then skipped and the session goes on.
    None: past `max_bytes` the session ends."""


def listing_budget(what: str, count: int, host: str = "the server") -> Budget:
    """A LIST or UIDL reply after STAT said `count` messages.

    Malformed or repeated lines make only their own message unfetchable (`parse_listing`), so
    some lines beyond STAT's count are tolerated; many more is a flood, not a listing. Past
    `MAX_LISTING_ENTRIES` nothing is listed at all (TooManyMessages, the session in step).
    """
    if count > MAX_LISTING_ENTRIES:
        err = TooManyMessages(
            f"{host} has {count:,} messages in this mailbox; poptui reads at most "
            f"{MAX_LISTING_ENTRIES:,} in one session, so nothing was fetched or deleted. "
            "Delete or move old mail on the server (e.g. in its webmail), then fetch again."
        )
        err.in_sync = True
        raise err
    lines = 2 * count + 64
    return Budget(what, lines * LISTING_LINE, lines)


def trusted_size(listed: int | None, stat_total: int | None) -> int | None:
    """A listed size usable as a budget, or None when it is absurd or unknown."""
    if listed is None or listed < 0 or listed > MAX_MESSAGE_BYTES:
        return None
    if stat_total is not None and listed > stat_total:
        return None
    return listed


def message_budget(what: str, listed: int | None, stat_total: int | None) -> Budget:
    """RETR or TOP of one message: twice its trusted listed size (servers that count LF line
    ends send more), never above the global ceiling."""
    size = trusted_size(listed, stat_total)
    if size is None:
        return Budget(what, MAX_MESSAGE_BYTES)
    return Budget(
        f"{what}, far larger than the {size:,} bytes announced",
        min(MAX_MESSAGE_BYTES, 2 * size + SLACK),
    )


def skippable(budget: Budget) -> Budget:
    """`budget` for a RETR whose overflow is read through and discarded up to the ceiling, so
    one message far longer than announced is skipped without ending the session."""
    if budget.max_bytes >= MAX_MESSAGE_BYTES:
        return budget
    return dataclasses.replace(budget, skip_up_to=MAX_MESSAGE_BYTES)


CAPA_BUDGET = Budget("the capability list (CAPA)", CAPA_BYTES, CAPA_LINES)
