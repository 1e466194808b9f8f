"""A fetch's plan and its RETR loop hold message numbers as runs, not an object per message:
the peak memory of a first fetch of 50,000 messages must not grow with the mailbox (issue #11).

Measured in bytes with tracemalloc, never in time. The bounds are a small fraction of what a
list of numbers costs (about 36 bytes a message: 1.8 MB at 50,000), so going back to one fails.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.servers.fake_pop3 import FakePop3Server
from tui.core.net.pop3 import Pop3Client
from tui.core.net.pop3.listing import parse_listing
from tui.core.net.pop3.numbers import MessageNumbers
from tui.core.settings import Security
from tui.core.sync.plan import KnownUidls, ServerListing, plan_sync

N = 50_000
PER_MESSAGE = 36
"""What a list of N message numbers costs a message: a pointer and an int."""
NEW_ACCOUNT: Any = SimpleNamespace(max_message_bytes=0, max_messages_per_fetch=0)


def listing_of(n: int, sizes: Callable[[int], int] = lambda i: 40_000 + i % 9_000) -> ServerListing:
    list_body = b"".join(b"%d %d\r\n" % (i, sizes(i)) for i in range(1, n + 1))
    uidl_body = b"".join(b"%d %08Xu%08Xv\r\n" % (i, i * 7919, i) for i in range(1, n + 1))
    listing = ServerListing.parse(
        n, parse_listing(list_body, n, uidl=False), parse_listing(uidl_body, n, uidl=True)
    )
    assert len(listing.listed) == n  # the listing's own index, built before measuring
    return listing


def traced(work: Callable[[], Any], *, only: str = "") -> tuple[Any, int, int]:
    """(result, bytes still held by it, peak bytes while it ran) of `work`, as tracemalloc
    sees them; with `only`, counting just allocations made in files matching that pattern."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = work()
        now, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    if only:
        keep = [tracemalloc.Filter(True, only)]
        kept = sum(s.size_diff for s in after.filter_traces(keep).compare_to(
            before.filter_traces(keep), "filename"
        ))  # fmt: skip
        return result, kept, peak - base
    return result, now - base, peak - base


def test_planning_a_first_fetch_of_50000_messages_holds_a_few_runs() -> None:
    listing = listing_of(N)
    plan, kept, peak = traced(lambda: plan_sync(NEW_ACCOUNT, listing, KnownUidls()))
    assert len(plan.to_fetch) == N and plan.to_fetch[0] == 1 and plan.to_fetch[-1] == N
    assert isinstance(plan.to_fetch, MessageNumbers) and plan.to_fetch.runs == 1
    assert kept < 4_096, f"the plan holds {kept:,} bytes for {N:,} messages"
    assert peak < N * PER_MESSAGE // 10, f"planning peaked at {peak:,} bytes"


def test_skipped_and_capped_messages_leave_runs_not_lists() -> None:
    # Every tenth message is too large, and the account fetches at most 30,000 at a time.
    listing = listing_of(N, sizes=lambda i: 10_000_000 if i % 10 == 0 else 1_000)
    account: Any = SimpleNamespace(max_message_bytes=1_000_000, max_messages_per_fetch=30_000)
    plan, kept, _peak = traced(lambda: plan_sync(account, listing, KnownUidls()))
    assert (plan.skipped_too_large, plan.left_for_next_time) == (N // 10, N - N // 10 - 30_000)
    numbers = list(plan.to_fetch)
    assert len(numbers) == 30_000 and all(n % 10 for n in numbers) and numbers == sorted(numbers)
    assert kept < plan.to_fetch.runs * 3 * 8 * 2 + 4_096  # three machine integers a run


@pytest.mark.parametrize(
    ("numbers", "cut"),
    [(range(1, 11), slice(3, None)), ([1, 2, 3, 7, 9, 10, 11, 20], slice(2, 6)), ([], slice(0))],
)
def test_message_numbers_read_as_the_list(numbers: Any, cut: slice) -> None:
    runs, plain = MessageNumbers(numbers), list(numbers)
    assert runs == plain and list(runs) == plain and len(runs) == len(plain)
    assert list(runs[cut]) == plain[cut] and runs[cut] == plain[cut]
    assert [runs[i] for i in range(-len(plain), len(plain))] == plain[-len(plain) :] + plain
    stranger: object = "1"
    assert all(n in runs for n in plain) and 0 not in runs and stranger not in runs
    with pytest.raises(IndexError):
        runs[len(plain)]


def test_message_numbers_refuse_a_number_out_of_order() -> None:
    runs = MessageNumbers([4, 5])
    for wrong in (5, 3):
        with pytest.raises(ValueError, match="not above 5"):
            runs.append(wrong)


@pytest.fixture
def big_mailbox() -> Iterator[FakePop3Server]:
    message = b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n"
    with FakePop3Server([message] * N, users={"alice": "pw"}) as server:
        yield server


def test_retrieving_50000_messages_copies_no_number_per_message(
    big_mailbox: FakePop3Server,
) -> None:
    client = Pop3Client.connect(big_mailbox.host, big_mailbox.port, Security.NONE, timeout=30)
    with client:
        client.login("alice", "pw")
        client.listings()
        numbers = MessageNumbers(range(1, N + 1))

        def start() -> tuple[Iterator[tuple[int, bytes]], list[int]]:
            retrieved = client.retrieve(numbers)
            return retrieved, [number for number, _raw in (next(retrieved), next(retrieved))]

        (retrieved, first), kept, _peak = traced(start, only="*/tui/*")
        assert first == [1, 2]
        assert kept < N * PER_MESSAGE // 20, f"retrieve holds {kept:,} bytes for {N:,} messages"
        retrieved.close()  # reads the RETRs still in flight: the session stays usable
        assert client.usable
        client.quit()
    retrs = [c for c in big_mailbox.last.commands if c.startswith("RETR")]
    assert retrs[:3] == ["RETR 1", "RETR 2", "RETR 3"] and len(retrs) < 100


def stored_rows(n: int) -> list[tuple[int, str, bool, int]]:
    """(id, uidl, deleted on server, size) as the message table gives them."""
    return [(i + 7, f"{i * 7919:08X}u{i:08X}v", i % 3 == 0, 40_000 + i) for i in range(1, n + 1)]


def test_the_stored_uidls_of_50000_messages_cost_bytes_not_objects_each() -> None:
    rows = stored_rows(N)
    known, kept, _peak = traced(lambda: KnownUidls.from_rows(iter(rows)))
    # A dict of tuples and a dict of sizes: about 150 bytes a message besides the UIDL itself.
    assert kept < N * 64, f"{N:,} stored UIDLs hold {kept:,} bytes"
    assert len(known) == N and len(known.sizes) == N
    first, last = rows[0], rows[-1]
    assert known[first[1]] == (first[0], not first[2]) and known[last[1]] == (last[0], not last[2])
    assert known.sizes[last[1]] == last[3] and known.sizes.get("absent") is None
    assert "absent" not in known and known.get(first[1] + "x") is None
    assert dict(known.items()) == {uidl: (mid, not gone) for mid, uidl, gone, _ in rows}


def test_stored_uidls_take_aliases_and_updates_beside_the_rows() -> None:
    known = KnownUidls.from_rows(iter(stored_rows(3)))
    uidl = stored_rows(3)[1][1]
    assert known.setdefault(uidl, (99, False)) == (9, True)  # a stored row wins
    assert known.setdefault("alias", (5, True)) == (5, True) and known["alias"] == (5, True)
    known[uidl] = (9, False)
    known.sizes.update({uidl: 1, "alias": 2})
    assert known[uidl] == (9, False) and known.sizes[uidl] == 1 and known.sizes["alias"] == 2
    assert len(known) == 4 and sorted(known) == sorted([r[1] for r in stored_rows(3)] + ["alias"])
