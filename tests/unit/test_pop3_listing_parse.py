"""LIST/UIDL parsing: the one-regex fast path for well-formed lines decides exactly as the
word-by-word rules do, on good lines and on hostile ones."""

from __future__ import annotations

import random

import pytest

from tui.core.net.pop3.listing import UIDL_MAX, Listing, parse_listing


def _reference(body: bytes, count: int | None, *, uidl: bool) -> Listing:
    """The rules of RFC 1939 §7 as poptui applies them, one word at a time."""
    listing = Listing()
    entries: dict[int, str] = {}
    listing.entries = entries
    for raw in body.split(b"\r\n"):
        if not raw:
            continue
        number_word, space, rest = raw.partition(b" ")
        ok_number = number_word.isdigit() and number_word.isascii() and len(number_word) <= 9
        number = int(number_word) if ok_number else 0
        if number < 1 or (count is not None and number > count):
            listing.stray_lines += 1
            continue
        if number in listing.malformed:
            continue
        if uidl:
            good = 1 <= len(rest) <= UIDL_MAX and all(0x21 <= b <= 0x7E for b in rest)
        else:
            good = rest.isdigit() and len(rest) <= 18
        if not space or not good or number in entries:
            entries.pop(number, None)
            listing.malformed.add(number)
            continue
        entries[number] = rest.decode("ascii")
    return listing


HOSTILE_WORDS = [
    b"",
    b" ",
    b"\t",
    b"0",
    b"00",
    b"007",
    b"1",
    b"9" * 9,
    b"9" * 10,
    b"+1",
    b"-1",
    b"1.0",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\xd9\xa3",
    b"a" * UIDL_MAX,
    b"a" * (UIDL_MAX + 1),
    b"~!",
    b"x y",
    b"1 ",
    b" 1",
    b"12345678901234567",
    b"9" * 18,
    b"9" * 19,
    b"\x00",
    b"uid\x1b[31m",
]


def _lines(rng: random.Random, count: int) -> list[bytes]:
    lines = []
    for _ in range(count):
        kind = rng.random()
        number = str(rng.randint(0, 40)).encode()
        if kind < 0.5:
            lines.append(number + b" " + rng.choice([b"abc", b"17", b"000", b"Z" * 70]))
        else:
            parts = [rng.choice([*HOSTILE_WORDS, number]) for _ in range(rng.randint(1, 3))]
            lines.append(rng.choice([b" ", b"  ", b"\t"]).join(parts))
    return lines


@pytest.mark.parametrize("uidl", [True, False], ids=["UIDL", "LIST"])
@pytest.mark.parametrize("seed", range(40))
def test_fast_path_decides_as_the_word_rules(uidl: bool, seed: int) -> None:
    rng = random.Random(seed)
    body = b"\r\n".join(_lines(rng, 60)) + b"\r\n"
    for count in (None, 5, 30):
        assert parse_listing(body, count, uidl=uidl) == _reference(body, count, uidl=uidl)


def test_a_large_listing_is_read_whole() -> None:
    body = b"".join(b"%d %08X%08X\r\n" % (n, n, 7) for n in range(1, 5001))
    listing = parse_listing(body, 5000, uidl=True)
    assert len(listing.entries) == 5000 and not listing.malformed and not listing.stray_lines
    assert listing.entries[4321] == "000010E100000007"


def _in_order_lines(rng: random.Random, count: int) -> list[bytes]:
    """A sane server's listing 1..count, with now and then one line spoiled: the whole-body
    path must either take it exactly as the word rules do or hand it over to them."""
    lines = [b"%d %s" % (n, rng.choice([b"abc", b"17", b"Z" * 70])) for n in range(1, count + 1)]
    for _ in range(rng.randint(0, 2)):
        index = rng.randrange(len(lines))
        spoil = rng.choice(["swap", "repeat", "zero-pad", "hostile", "drop", "stray", "bare-lf"])
        number = lines[index].split(b" ", 1)[0]
        if spoil == "swap" and index + 1 < len(lines):
            lines[index], lines[index + 1] = lines[index + 1], lines[index]
        elif spoil == "repeat":
            lines.insert(index, lines[index])
        elif spoil == "zero-pad":
            lines[index] = b"0" + lines[index]
        elif spoil == "hostile":
            lines[index] = number + b" " + rng.choice(HOSTILE_WORDS)
        elif spoil == "drop":
            del lines[index]
        elif spoil == "stray":
            lines.append(b"%d x" % (count + rng.randint(1, 3)))
        else:
            lines[index] += b"\nx 1"
    return lines


@pytest.mark.parametrize("uidl", [True, False], ids=["UIDL", "LIST"])
@pytest.mark.parametrize("seed", range(60))
def test_whole_listing_path_decides_as_the_word_rules(uidl: bool, seed: int) -> None:
    rng = random.Random(seed)
    lines = _in_order_lines(rng, rng.randint(1, 40))
    body = b"\r\n".join(lines) + b"\r\n"
    for count in (None, len(lines) - 1, len(lines), len(lines) + 3):
        assert parse_listing(body, count, uidl=uidl) == _reference(body, count, uidl=uidl)


def test_an_empty_listing_is_empty() -> None:
    assert parse_listing(b"", 0, uidl=True) == Listing()
    assert parse_listing(b"", None, uidl=False) == Listing()
