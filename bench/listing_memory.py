"""Peak and retained Python memory (tracemalloc) of parsing and planning a synthetic listing.

Parses a LIST and a UIDL reply of N messages as `Pop3Client.listings()` does, builds the
session's `ServerListing` and plans a first fetch (nothing stored), as `engine.sync` does.
Prints peak bytes during the work, bytes still held by what the fetch keeps once planned, and
bytes it holds while the messages come in (the listing's index let go, as the engine does), then the
median time of the same work for a first fetch and for "nothing new" (every UIDL known, each
looked up as `_mark_gone` does). Run it against another checkout with PYTHONPATH to compare.

    .venv/bin/python bench/listing_memory.py [N ...]
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from types import SimpleNamespace
from typing import Any

from tui.core.net.pop3.listing import parse_listing
from tui.core.sync.plan import KnownUidls, ServerListing, plan_sync


def bodies(n: int) -> tuple[bytes, bytes]:
    sizes = b"".join(b"%d %d\r\n" % (i, 40_000 + i % 9_000) for i in range(1, n + 1))
    uidls = b"".join(b"%d %08X%08X\r\n" % (i, i * 7919, i) for i in range(1, n + 1))
    return sizes, uidls


def measure(n: int) -> tuple[int, int, int]:
    list_body, uidl_body = bodies(n)
    account: Any = SimpleNamespace(max_message_bytes=0, max_messages_per_fetch=0)
    tracemalloc.start()
    sizes = parse_listing(list_body, n, uidl=False)
    uids = parse_listing(uidl_body, n, uidl=True)
    listing = ServerListing.parse(n, sizes, uids)
    del uids  # the engine keeps `sizes` (the client's LIST, for check_listed) and the plan
    plan = plan_sync(account, listing, KnownUidls())
    assert len(plan.to_fetch) == n
    _ = [listing.uidls[number] for number in plan.to_fetch[:1]]
    kept, peak = tracemalloc.get_traced_memory()
    getattr(listing, "release_index", lambda: None)()  # a checkout from before it: kept
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del sizes, listing, plan
    return peak, kept, held


def seconds(n: int, *, nothing_new: bool) -> float:
    list_body, uidl_body = bodies(n)
    account: Any = SimpleNamespace(max_message_bytes=0, max_messages_per_fetch=0)
    known = KnownUidls()
    if nothing_new:  # every UIDL stored, read into columns as `known_uidls` reads the table
        listed = ServerListing.parse(
            n, parse_listing(list_body, n, uidl=False), parse_listing(uidl_body, n, uidl=True)
        )
        rows = ((number, uidl, False, listed.sizes[number]) for number, uidl in listed.pairs())
        known = KnownUidls.from_rows(rows)
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        sizes = parse_listing(list_body, n, uidl=False)
        listing = ServerListing.parse(n, sizes, parse_listing(uidl_body, n, uidl=True))
        plan = plan_sync(account, listing, known)
        gone = [key for key in known if key not in listing.listed]
        runs.append(time.perf_counter() - start)
        assert len(plan.to_fetch) == (0 if nothing_new else n) and not gone
    return statistics.median(runs)


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [5_000, 50_000]:
        peak, kept, held = measure(n)
        first, none_new = seconds(n, nothing_new=False), seconds(n, nothing_new=True)
        print(
            f"{n:>7,} messages: peak {peak / 1e6:6.2f} MB, kept {kept / 1e6:6.2f} MB, "
            f"through RETR {held / 1e6:6.2f} MB; "
            f"first fetch {first * 1e3:6.1f} ms, nothing new {none_new * 1e3:6.1f} ms"
        )


if __name__ == "__main__":
    main()
