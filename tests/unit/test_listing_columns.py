"""A sane server's listing is kept in flat columns; they must read exactly as the dicts the
word-by-word parse makes, and a plan made from them must be the same plan."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tui.core.net.pop3.columns import SizeColumn, SizeWords, WordColumn, WordIndex
from tui.core.net.pop3.listing import parse_listing
from tui.core.sync.plan import KnownUidls, ServerListing, plan_sync

SIZES = b"".join(b"%d %d\r\n" % (n, 1000 + n) for n in range(1, 301))
UIDLS = b"".join(b"%d uid-%d~\r\n" % (n, n) for n in range(1, 301))


def _as_dicts(body: bytes) -> bytes:
    """The same listing, one line moved: taken line by line, into a dict."""
    lines = body.split(b"\r\n")[:-1]
    return b"\r\n".join([*lines[1:], lines[0]]) + b"\r\n"


def test_columns_read_as_the_dicts_of_the_line_by_line_parse() -> None:
    for body, uidl, kind in ((SIZES, False, SizeWords), (UIDLS, True, WordColumn)):
        flat = parse_listing(body, 300, uidl=uidl)
        slow = parse_listing(_as_dicts(body), 300, uidl=uidl)
        assert type(flat.entries) is kind and type(slow.entries) is dict
        assert flat == slow and dict(flat.entries) == slow.entries
        assert list(flat.entries) == list(range(1, 301))


@pytest.mark.parametrize("key", [0, 301, -1, "1", 1.0, True, None])
def test_a_number_not_listed_is_not_in_a_column(key: Any) -> None:
    uids = parse_listing(UIDLS, 300, uidl=True).entries
    sizes = parse_listing(SIZES, 300, uidl=False).entries
    assert isinstance(sizes, SizeWords)
    for column in (uids, sizes, sizes.column()):
        assert key not in column and column.get(key) is None
        with pytest.raises(KeyError):
            column[key]


def test_a_size_written_with_leading_zeros_is_kept_as_written() -> None:
    body = SIZES.replace(b"\r\n7 1007\r\n", b"\r\n7 01007\r\n")
    listing = parse_listing(body, 300, uidl=False)
    assert type(listing.entries) is dict and listing.entries[7] == "01007"


def test_more_lines_than_stat_counted_are_judged_line_by_line() -> None:
    listing = parse_listing(UIDLS, 299, uidl=True)
    assert type(listing.entries) is dict and listing.stray_lines == 1


def test_the_plan_from_columns_is_the_plan_from_dicts() -> None:
    account: Any = SimpleNamespace(max_message_bytes=1200, max_messages_per_fetch=150)
    known = KnownUidls({"uid-3~": (3, True), "uid-9~": (9, False)})
    known.sizes.update({"uid-3~": 1003, "uid-9~": 1009})
    plans = []
    for sizes, uidls in ((SIZES, UIDLS), (_as_dicts(SIZES), _as_dicts(UIDLS))):
        listing = ServerListing.parse(
            302, parse_listing(sizes, 302, uidl=False), parse_listing(uidls, 302, uidl=True)
        )
        assert listing.malformed == 2 and len(listing.listed) == 300
        assert "uid-300~" in listing.listed and "uid-301~" not in listing.listed
        plans.append(plan_sync(account, listing, KnownUidls(known)))
    flat, slow = plans
    assert isinstance(
        ServerListing.parse(
            300, parse_listing(SIZES, 300, uidl=False), parse_listing(UIDLS, 300, uidl=True)
        ).sizes,
        SizeColumn,
    )
    assert list(flat.to_fetch) == list(slow.to_fetch) and flat.to_fetch[0] == 1
    assert (flat.skipped_too_large, flat.left_for_next_time) == (100, 48)


BIG = 20_000
"""Lines enough for several 64 KB chunks."""


@pytest.mark.parametrize("uidl", [True, False], ids=["UIDL", "LIST"])
@pytest.mark.parametrize(
    "spoil",
    [b"19000 7\r\n18999 7\r\n", b"18999 7\r\n019000 7\r\n", b"18999 7\r\n18999 7\r\n"],
    ids=["swapped", "zero-padded number", "repeated"],
)
def test_a_fault_deep_in_a_long_listing_is_judged_line_by_line(uidl: bool, spoil: bytes) -> None:
    lines = [b"%d %d\r\n" % (n, n) for n in range(1, BIG + 1)]
    lines[18_998:19_000] = [spoil]
    body = b"".join(lines)
    listing = parse_listing(body, BIG, uidl=uidl)
    # A stray first line sends the same listing line by line, with the same outcome.
    slow = parse_listing(b"0 x\r\n" + body, BIG, uidl=uidl)
    assert type(listing.entries) is dict and listing.entries == slow.entries
    assert listing.malformed == slow.malformed and slow.stray_lines == 1
    assert len(listing.entries) >= BIG - 2 and listing.entries[BIG] == str(BIG)


def test_a_long_listing_read_in_chunks_keeps_every_word() -> None:
    body = b"".join(b"%d u%07d-%s\r\n" % (n, n, b"x" * (n % 60)) for n in range(1, BIG + 1))
    assert len(body) > 4 * 65536
    column = parse_listing(body, BIG, uidl=True).entries
    assert isinstance(column, WordColumn)
    expected = {n: f"u{n:07d}-{'x' * (n % 60)}" for n in range(1, BIG + 1)}
    assert dict(column.words()) == expected == dict(column)


def test_shared_uidls_are_counted_once_and_found() -> None:
    body = b"".join(b"%d shared-%d\r\n" % (n, n % 7) for n in range(1, 101))
    uids = parse_listing(body, 100, uidl=True)
    sizes = b"".join(b"%d 10\r\n" % n for n in range(1, 101))
    listing = ServerListing.parse(100, parse_listing(sizes, 100, uidl=False), uids)
    assert isinstance(listing.uidls, WordColumn) and len(listing.listed) == 7
    assert listing.duplicates() == {f"shared-{k}" for k in range(7)}
    index = WordIndex(uids.entries) if isinstance(uids.entries, WordColumn) else None
    assert index is not None and len(index) == 7
    assert sorted(index) == [f"shared-{k}" for k in range(7)]
    for word in ("shared-0", "shared-6"):
        assert word in index
    for stranger in ("shared-7", "shared-", "", "shared-0 ", "shäred-0", b"shared-0", 0, None):
        assert stranger not in index


def test_sizes_take_four_bytes_each_until_one_needs_more() -> None:
    small = parse_listing(SIZES, 300, uidl=False).entries
    assert isinstance(small, SizeWords) and small.sizes.itemsize == 4
    # A size past 2**32, late in a listing read in several chunks: every size kept exactly.
    huge = 123_456_789_012_345
    sizes = {n: 40_000 + n for n in range(1, BIG + 1)} | {BIG - 1: huge, BIG: 4_294_967_296}
    body = b"".join(b"%d %d\r\n" % item for item in sizes.items())
    assert len(body) > 2 * 65536
    entries = parse_listing(body, BIG, uidl=False).entries
    assert isinstance(entries, SizeWords) and entries.sizes.itemsize == 8
    assert dict(entries) == {n: str(size) for n, size in sizes.items()}
    assert dict(entries.column()) == sizes
    # Nine digits still fit; the largest 18-digit size the parser takes goes to 8 bytes.
    for size, width in ((999_999_999, 4), (10**18 - 1, 8)):
        column = parse_listing(b"1 %d\r\n" % size, 1, uidl=False).entries
        assert isinstance(column, SizeWords) and column.sizes.itemsize == width
        assert column[1] == str(size) and column.column()[1] == size


@pytest.mark.parametrize("shared", [False, True])
def test_a_released_index_leaves_the_listing_as_it_was(shared: bool) -> None:
    body = b"".join(b"%d u-%d\r\n" % (n, n % 7 if shared else n) for n in range(1, 101))
    sizes = parse_listing(b"".join(b"%d 10\r\n" % n for n in range(1, 101)), 100, uidl=False)
    for uids in (body, _as_dicts(body)):  # columns, and dicts line by line
        listing = ServerListing.parse(100, sizes, parse_listing(uids, 100, uidl=True))
        duplicates, listed = listing.duplicates(), set(listing.listed)
        listing.release_index()
        assert "listed" not in vars(listing)  # let go: what the fetch no longer holds
        expected = {f"u-{k}" for k in range(7)} if shared else set()
        assert listing.duplicates() == duplicates == expected
        assert "listed" not in vars(listing)  # counting needs no index back
        assert set(listing.listed) == listed and "u-3" in listing.listed
