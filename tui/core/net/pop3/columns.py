"""A sane server's LIST and UIDL listings kept flat: one machine integer per size, one string
holding every unique-id. A 50,000-message mailbox as dicts of str is tens of megabytes held
for the whole fetch (issue #11); as columns it is about a megabyte, and parsing it makes no
object per message that outlives its chunk.

Only a listing numbered 1, 2, 3, ... with every line well-formed is kept this way
(`in_order`); anything else goes line by line into dicts (`listing.parse_listing`).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Mapping
from itertools import accumulate, islice

_CANONICAL = {
    True: rb"([0-9]{1,9}) ([\x21-\x7e]{1,70})",
    False: rb"([0-9]{1,9}) (0|[1-9][0-9]{0,17})",
}
"""A well-formed line as a sane server writes it: for LIST, a size without leading zeros, so
the number kept reads back as the very word (`SizeWords`)."""

_ALL_CANONICAL = {
    uidl: re.compile(b"(?:" + pattern + rb"\r\n)*+") for uidl, pattern in _CANONICAL.items()
}
"""A whole listing whose every line is canonical, checked in one C call."""

_NUMBERS = re.compile(rb"([0-9]+) [^\r]*+\r\n")
_WORDS = re.compile(rb" ([^\r]++)\r\n")
"""In a body `_ALL_CANONICAL` matched, each line's number and second word, in order."""

_CHUNK = 1 << 16
"""Bytes parsed per step: what the words of one step cost in objects, at most."""


class _Numbered:
    """Messages 1..n, all listed: keys never stored one by one."""

    __slots__ = ()

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, len(self) + 1))

    def __contains__(self, number: object) -> bool:
        return type(number) is int and 0 < number <= len(self)


class _SizeArray(_Numbered):
    """Messages 1..n's sizes in one machine array, shared by the two views below."""

    __slots__ = ("sizes",)

    def __init__(self, sizes: array[int]) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __contains__(self, number: object) -> bool:
        return type(number) is int and 0 < number <= len(self.sizes)

    def _size(self, number: int) -> int:
        if type(number) is not int or not 0 < number <= len(self.sizes):
            raise KeyError(number)
        return self.sizes[number - 1]


class SizeColumn(_SizeArray, Mapping[int, int]):
    """Message number → listed size, 8 bytes each instead of three objects."""

    __slots__ = ()

    def __getitem__(self, number: int) -> int:
        return self._size(number)

    def get(self, number: int, default: int | None = None) -> int | None:  # type: ignore[override]
        sizes = self.sizes  # asked once per listed message while a fetch is planned: inline
        if type(number) is int and 0 < number <= len(sizes):
            return sizes[number - 1]
        return default


class SizeWords(_SizeArray, Mapping[int, str]):
    """LIST's entries as `Listing` gives them (the size as written) over a size array:
    only sizes written without leading zeros are kept this way, so `str(size)` is the word."""

    __slots__ = ()

    def __getitem__(self, number: int) -> str:
        return str(self._size(number))

    def column(self) -> SizeColumn:
        """The same sizes as numbers, sharing the array."""
        return SizeColumn(self.sizes)


class WordColumn(_Numbered, Mapping[int, str]):
    """Message number → unique-id, every one in one ASCII string (one byte a character) with
    their end offsets: a str of its own is made only for the message asked about."""

    __slots__ = ("ends", "text")

    def __init__(self, text: str, ends: array[int]) -> None:
        self.text = text
        self.ends = ends
        """ends[i] is where word i+1 ends in `text` (ends[0] == 0)."""

    def __len__(self) -> int:
        return len(self.ends) - 1

    def __getitem__(self, number: int) -> str:
        if type(number) is not int or not 0 < number < len(self.ends):
            raise KeyError(number)
        return self.text[self.ends[number - 1] : self.ends[number]]

    def words(self) -> Iterator[tuple[int, str]]:
        """(number, word) in order, faster than `items()` (no lookup per message)."""
        text, ends = self.text, self.ends
        for number in range(1, len(ends)):
            yield number, text[ends[number - 1] : ends[number]]


class WordIndex:
    """The distinct words of a `WordColumn`, for `in` and `len` (`ServerListing.listed`):
    an open-addressing table of message numbers, 8 bytes a word or less, instead of a
    frozenset holding a str for every one of them."""

    __slots__ = ("distinct", "ends", "mask", "slots", "text")

    def __init__(self, column: WordColumn) -> None:
        self.text, self.ends = text, ends = column.text, column.ends
        size = 8
        while size < 2 * len(column):
            size *= 2  # at most half full: short probe runs
        self.mask = mask = size - 1
        self.slots = slots = array("I", [0]) * size
        """0 for an empty slot, else the number of the first message listed with the word."""
        distinct = 0
        for number in range(1, len(ends)):
            word = text[ends[number - 1] : ends[number]]
            slot = hash(word) & mask
            while seen := slots[slot]:
                if text[ends[seen - 1] : ends[seen]] == word:
                    break
                slot = (slot + 1) & mask
            else:
                slots[slot] = number
                distinct += 1
        self.distinct = distinct

    def __len__(self) -> int:
        return self.distinct

    def __contains__(self, word: object) -> bool:
        return bool(self.find(word))

    def find(self, word: object) -> int:
        """The number of the first message listed with `word`; 0 when none is."""
        if type(word) is not str:
            return 0
        text, ends, slots, mask = self.text, self.ends, self.slots, self.mask
        slot = hash(word) & mask
        while seen := slots[slot]:
            if text[ends[seen - 1] : ends[seen]] == word:
                return seen
            slot = (slot + 1) & mask
        return 0

    def __iter__(self) -> Iterator[str]:
        text, ends = self.text, self.ends
        return (text[ends[n - 1] : ends[n]] for n in self.slots if n)


def in_order(body: bytes, count: int | None, *, uidl: bool) -> Mapping[int, str] | None:
    """The entries of a listing whose lines are all well-formed and numbered 1, 2, 3, ... up
    to at most `count`: what every sane server sends, as a `WordColumn` (UIDL) or `SizeWords`
    (LIST), parsed a chunk at a time in C calls.

    None for anything else, which `parse_listing` then judges line by line. For such a body
    the line-by-line parse gives exactly these entries (every line good, in range, no number
    twice), so taking this path changes no outcome, only the time and the memory.
    """
    if _ALL_CANONICAL[uidl].fullmatch(body) is None:
        return None
    if count is not None and body.count(b"\n") > count:
        return None
    sizes: array[int] = array("I")
    """4 bytes a size while every size has at most 9 digits (under 2**32), else 8."""
    parts: list[str] = []
    ends: array[int] = array("I", [0])
    start = 0
    while start < len(body):
        stop = body.find(b"\n", start + _CHUNK) + 1 or len(body)
        numbers = _NUMBERS.findall(body, start, stop)
        first = len(ends) - 1 if uidl else len(sizes)
        expected = range(first + 1, first + len(numbers) + 1)
        if numbers != list(map(b"%d".__mod__, expected)):
            return None  # out of order, repeated, or written with leading zeros: line by line
        del numbers
        words = _WORDS.findall(body, start, stop)
        if uidl:
            ends.extend(islice(accumulate(map(len, words), initial=ends[-1]), 1, None))
            parts.append(b"".join(words).decode("ascii"))
        else:
            if sizes.typecode == "I" and max(map(len, words), default=0) > 9:
                sizes = array("q", sizes)
            sizes.extend(map(int, words))
        start = stop
    return WordColumn("".join(parts), ends) if uidl else SizeWords(sizes)
