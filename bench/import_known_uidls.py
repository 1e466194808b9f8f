"""What `poptui import`'s already-fetched table costs the "nothing new" fetch: `known_uidls`
(run once per fetch) for a mailbox of N stored messages, without (A) and with (B) N imported
UIDLs beside them, in interleaved rounds A B A B on one SQLite file.

    .venv/bin/python bench/import_known_uidls.py            # N = 5,000, 21 rounds
    .venv/bin/python bench/import_known_uidls.py --n 50000

Prints the median of each and the ratio B/A. The machine may be shared: read the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tui.core.settings import AccountSettings
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, ImportedUidl, Message, database_proxy
from tui.core.sync.plan import known_uidls


def fill(n: int) -> tuple[Account, Account]:
    store = AccountStore("bench")
    plain = store.create(AccountSettings(name="A", incoming_host="h", username="a"))
    imported = store.create(AccountSettings(name="B", incoming_host="h", username="b"))
    with database_proxy.atomic():
        for account in (plain, imported):
            rows = [{"account": account.id, "uidl": f"S{i}", "size": 100} for i in range(n)]
            for start in range(0, n, 500):
                Message.insert_many(rows[start : start + 500]).execute()
        rows = [{"account": imported.id, "uidl": f"I{i}", "source": "bench"} for i in range(n)]
        for start in range(0, n, 500):
            ImportedUidl.insert_many(rows[start : start + 500]).execute()
    return plain, imported


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        open_database(f"sqlite:///{Path(directory) / 'bench.db'}")
        plain, imported = fill(args.n)
        times: dict[str, list[float]] = {"A": [], "B": []}
        for _ in range(args.rounds):
            for label, account in (("A", plain), ("B", imported)):
                start = time.perf_counter()
                known = known_uidls(account)
                times[label].append(time.perf_counter() - start)
                assert len(known) == args.n * (2 if label == "B" else 1)
        a, b = statistics.median(times["A"]), statistics.median(times["B"])
        print(f"known_uidls, {args.n} stored messages, median of {args.rounds} rounds (A B A B):")
        print(f"  A without imported UIDLs:      {a * 1000:8.2f} ms")
        print(f"  B with {args.n} imported UIDLs: {b * 1000:8.2f} ms")
        print(f"  ratio B/A: {b / a:.2f}")


if __name__ == "__main__":
    main()
