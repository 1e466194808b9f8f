"""Message numbers kept as ascending runs: what a session fetches, without an object each.

A first fetch of a 50,000-message mailbox asks for 1..50,000, and a later one for the few at
the end: one run either way. As a list that is a Python int and a pointer per message (1.8 MB
at 50,000) held for the whole fetch, plus a copy wherever it is handed on (issue #11); as runs
it is a few machine integers, however large the mailbox.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import overload


class MessageNumbers(Sequence[int]):
    """Ascending message numbers (each at most once) as runs `starts[i]`..`stops[i]` - 1.

    Built by `append` in ascending order; a number not above the last raises ValueError (the
    plan never lists a message twice, and the client asks for messages in order).
    """

    __slots__ = ("_before", "_length", "_starts", "_stops")

    def __init__(self, numbers: Iterable[int] = ()) -> None:
        self._starts: array[int] = array("q")
        self._stops: array[int] = array("q")
        self._before: array[int] = array("q")
        """How many numbers come before run i: `__getitem__` bisects it."""
        self._length = 0
        for number in numbers:
            self.append(number)

    def append(self, number: int) -> None:
        stops = self._stops
        if stops and number == stops[-1]:
            stops[-1] = number + 1
        elif stops and number < stops[-1]:
            raise ValueError(f"message {number} is not above {stops[-1] - 1}")
        else:
            self._starts.append(number)
            stops.append(number + 1)
            self._before.append(self._length)
        self._length += 1

    @property
    def runs(self) -> int:
        """How many runs: what this costs in memory (three machine integers a run)."""
        return len(self._starts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[int]:
        return chain.from_iterable(map(range, self._starts, self._stops))

    def __contains__(self, number: object) -> bool:
        if type(number) is not int:
            return False
        run = bisect_right(self._starts, number) - 1
        return run >= 0 and number < self._stops[run]

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> MessageNumbers: ...

    def __getitem__(self, index: int | slice) -> int | MessageNumbers:
        if isinstance(index, slice):
            return self._slice(index)
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError("message number index out of range")
        run = bisect_right(self._before, position) - 1
        return self._starts[run] + position - self._before[run]

    def _slice(self, index: slice) -> MessageNumbers:
        start, stop, step = index.indices(self._length)
        if step != 1:
            raise ValueError("message numbers are sliced without a step")
        part = MessageNumbers()
        if start >= stop:
            return part
        first = bisect_right(self._before, start) - 1
        last = bisect_right(self._before, stop - 1) - 1
        for run in range(first, last + 1):
            low, before = self._starts[run], self._before[run]
            high = min(self._stops[run], low + stop - before)
            low += max(0, start - before)
            part._starts.append(low)
            part._stops.append(high)
            part._before.append(part._length)
            part._length += high - low
        return part

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MessageNumbers):
            return (self._starts, self._stops) == (other._starts, other._stops)
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == self._length and all(
                a == b for a, b in zip(self, other, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{a}" if b == a + 1 else f"{a}-{b - 1}"
            for a, b in zip(self._starts[:8], self._stops[:8], strict=True)
        )
        more = ", ..." if self.runs > 8 else ""
        return f"MessageNumbers([{shown}{more}])"
