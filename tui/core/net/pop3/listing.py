"""Strict parsing of LIST and UIDL listings (RFC 1939 §7), line by line.

A server's listing decides what poptui fetches and, worse, what it deletes, so a line is taken
only when it is exactly right: a message number in 1..STAT count, one space, then one size
(digits) or one unique-id (1 to 70 characters 0x21 to 0x7E), and nothing else. A line that is not
makes *that* message unusable for the session; it does not desynchronise the whole session,
because the multi-line reply itself ended cleanly. A number listed twice is unusable too: the
server contradicted itself about it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tui.core.net.pop3.columns import in_order
from tui.core.net.pop3.errors import UnlistedMessage

UIDL_MAX = 70
"""RFC 1939: a unique-id is 1 to 70 characters."""


@dataclass
class Listing:
    """One LIST or UIDL reply, split into what can be trusted and what cannot."""

    entries: Mapping[int, str] = field(default_factory=dict)
    """Message number → the second word (a size for LIST, a unique-id for UIDL), well-formed."""
    malformed: set[int] = field(default_factory=set)
    """Numbers in range whose line was malformed or repeated: not fetched, not deleted."""
    stray_lines: int = 0
    """Lines that named no message in range at all (bad or out-of-range number)."""


@dataclass
class Listings:
    """What a session learns before it decides anything: STAT, LIST and UIDL."""

    count: int
    """STAT's message count: the cap of both listings."""
    octets: int
    sizes: Listing
    """LIST: message number → size."""
    uids: Listing | None
    """UIDL: message number → unique-id; None when the server refused UIDL."""


_WELL_FORMED = {
    True: re.compile(rb"([0-9]{1,9}) ([\x21-\x7e]{1,70})"),
    False: re.compile(rb"([0-9]{1,9}) ([0-9]{1,18})"),
}
"""A UIDL (True) or LIST (False) line that is right as a whole, matched in one C call: the
common case, 5,000 of them on every "nothing new" fetch of a 5,000-message mailbox. A line
that does not match is judged word by word below, with the same outcome for a good line."""


def _valid_uid(word: bytes) -> bool:
    return 1 <= len(word) <= UIDL_MAX and all(0x21 <= b <= 0x7E for b in word)


def _valid_size(word: bytes) -> bool:
    return word.isdigit() and len(word) <= 18 and word.isascii()


def parse_listing(body: bytes, count: int | None, *, uidl: bool) -> Listing:
    """Parse a LIST (`uidl=False`) or UIDL body (un-dot-stuffed, CRLF line ends).

    `count` is the STAT message count; None accepts any positive number (no STAT was asked).
    """
    fast = in_order(body, count, uidl=uidl)
    if fast is not None:
        return Listing(entries=fast)
    listing = Listing()
    entries: dict[int, str] = {}
    listing.entries = entries
    valid = _valid_uid if uidl else _valid_size
    well_formed = _WELL_FORMED[uidl].fullmatch
    for raw in body.split(b"\r\n"):
        if not raw:
            continue
        match = well_formed(raw)
        if match is not None:
            number, rest, good = int(match[1]), match[2], True
        else:
            number_word, space, rest = raw.partition(b" ")
            number = (
                int(number_word)
                if number_word.isdigit() and number_word.isascii() and len(number_word) <= 9
                else 0
            )
            good = bool(space) and valid(rest)
        if number < 1 or (count is not None and number > count):
            listing.stray_lines += 1
            continue
        if number in listing.malformed:
            continue
        if not good or number in entries:
            entries.pop(number, None)
            listing.malformed.add(number)
            continue
        entries[number] = rest.decode("ascii")
    return listing


def check_listed(
    host: str, number: int, listed: Mapping[int, str] | None, stat: tuple[int, int] | None
) -> None:
    """A message is only asked for when LIST (or at least STAT) names it."""
    if listed is None:  # before LIST: STAT's count, when it was asked
        in_range = stat is None or 1 <= number <= stat[0]
        named = in_range
    else:
        named = number in listed
    if not named:
        err = UnlistedMessage(
            f"{host} did not list message {number}, so poptui did not ask for it.",
            number=number,
        )
        err.in_sync = True
        raise err
