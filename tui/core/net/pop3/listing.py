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
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tui.core.net.pop3.errors import UnlistedMessage

UIDL_MAX = 70
"""RFC 1939: a unique-id is 1 to 70 characters."""


class _Numbered:
    """Messages 1..n, all listed: the keys of a sane server's listing, never stored one by one."""

    __slots__ = ()

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, len(self) + 1))

    def __contains__(self, number: object) -> bool:
        return type(number) is int and 1 <= number <= len(self)


class SizeColumn(_Numbered, Mapping[int, int]):
    """Message number → listed size, one machine integer each (8 bytes, not three objects)."""

    __slots__ = ("sizes",)

    def __init__(self, sizes: array[int]) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, number: int) -> int:
        if number not in self:
            raise KeyError(number)
        return self.sizes[number - 1]


class SizeWords(_Numbered, Mapping[int, str]):
    """LIST's entries as `Listing` gives them (the size as written), over a `SizeColumn`'s
    array: only sizes without leading zeros are kept this way, so `str(size)` is the word."""

    __slots__ = ("sizes",)

    def __init__(self, sizes: array[int]) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, number: int) -> str:
        if number not in self:
            raise KeyError(number)
        return str(self.sizes[number - 1])

    def column(self) -> SizeColumn:
        """The same sizes as numbers, sharing the array."""
        return SizeColumn(self.sizes)


class WordColumn(_Numbered, Mapping[int, str]):
    """Message number → unique-id, all of them in one bytes blob with their end offsets;
    a str is made only for the message asked about."""

    __slots__ = ("blob", "ends")

    def __init__(self, blob: bytes, ends: array[int]) -> None:
        self.blob = blob
        self.ends = ends
        """ends[i] is where word i+1 ends in `blob` (ends[0] == 0)."""

    def __len__(self) -> int:
        return len(self.ends) - 1

    def __getitem__(self, number: int) -> str:
        if number not in self:
            raise KeyError(number)
        return self.blob[self.ends[number - 1] : self.ends[number]].decode("ascii")


class WordIndex:
    """The distinct words of a `WordColumn`, for `in` and `len` (`ServerListing.listed`):
    an open-addressing table of message numbers, 8 bytes a word or less, instead of a
    frozenset holding a str for every one of them."""

    __slots__ = ("blob", "distinct", "ends", "mask", "slots")

    def __init__(self, column: WordColumn) -> None:
        self.blob, self.ends = blob, ends = column.blob, column.ends
        size = 8
        while size < 2 * len(column):
            size *= 2  # at most half full: short probe runs
        self.mask = mask = size - 1
        self.slots = slots = array("I", bytes(4 * size))
        """0 for an empty slot, else the number of the first message listed with the word."""
        distinct = 0
        for number in range(1, len(column) + 1):
            word = blob[ends[number - 1] : ends[number]]
            slot = hash(word) & mask
            while seen := slots[slot]:
                if blob[ends[seen - 1] : ends[seen]] == word:
                    break
                slot = (slot + 1) & mask
            else:
                slots[slot] = number
                distinct += 1
        self.distinct = distinct

    def __len__(self) -> int:
        return self.distinct

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str) or not word.isascii():
            return False  # a listed word is ASCII
        key = word.encode("ascii")
        blob, ends, slots, mask = self.blob, self.ends, self.slots, self.mask
        slot = hash(key) & mask
        while seen := slots[slot]:
            if blob[ends[seen - 1] : ends[seen]] == key:
                return True
            slot = (slot + 1) & mask
        return False

    def __iter__(self) -> Iterator[str]:
        blob, ends = self.blob, self.ends
        return (blob[ends[n - 1] : ends[n]].decode("ascii") for n in self.slots if n)


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


_CANONICAL = {
    True: _WELL_FORMED[True].pattern,
    False: rb"([0-9]{1,9}) (0|[1-9][0-9]{0,17})",
}
"""A well-formed line as a sane server writes it: a size without leading zeros, so the
number kept (`SizeWords`) reads back as the very word."""

_ALL_WELL_FORMED = {
    uidl: re.compile(b"(?:" + pattern + rb"\r\n)*+") for uidl, pattern in _CANONICAL.items()
}
"""A whole listing whose every line is well-formed, checked in one C call."""

_LINE = {uidl: re.compile(pattern + rb"\r\n") for uidl, pattern in _CANONICAL.items()}


def _in_order(body: bytes, count: int | None, *, uidl: bool) -> Mapping[int, str] | None:
    """The entries of a listing whose lines are all well-formed and numbered 1, 2, 3, ... up
    to at most `count`: what every sane server sends, kept flat (`SizeWords`, `WordColumn`)
    because a 50,000-message mailbox as dicts of str holds tens of megabytes for the fetch.

    None for anything else, which `parse_listing` then judges line by line. For such a body
    the line-by-line parse gives exactly these entries (every line good, in range, no number
    twice), so taking this path changes no outcome, only the time.
    """
    if _ALL_WELL_FORMED[uidl].fullmatch(body) is None:
        return None
    if count is not None and body.count(b"\n") > count:
        return None
    # One line at a time into flat arrays: no list of every word, no object per message kept.
    sizes: array[int] = array("q")
    blob = bytearray()
    ends: array[int] = array("I", [0])
    for expected, line in enumerate(_LINE[uidl].finditer(body), 1):
        if line[1] != b"%d" % expected:
            return None  # out of order, repeated, or written with leading zeros: line by line
        if uidl:
            blob += line[2]
            ends.append(len(blob))
        else:
            sizes.append(int(line[2]))
    return WordColumn(bytes(blob), ends) if uidl else SizeWords(sizes)


def _valid_uid(word: bytes) -> bool:
    return 1 <= len(word) <= UIDL_MAX and all(0x21 <= b <= 0x7E for b in word)


def _valid_size(word: bytes) -> bool:
    return word.isdigit() and len(word) <= 18 and word.isascii()


def parse_listing(body: bytes, count: int | None, *, uidl: bool) -> Listing:
    """Parse a LIST (`uidl=False`) or UIDL body (un-dot-stuffed, CRLF line ends).

    `count` is the STAT message count; None accepts any positive number (no STAT was asked).
    """
    fast = _in_order(body, count, uidl=uidl)
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
