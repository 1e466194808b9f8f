"""Two poptui SQLite stores of the same fetch, table by table: a storing change must store the same.

    .venv/bin/python bench/speed_ab.py --serve          # prints how to run one fetch by hand
    # run that fetch twice from copies of the empty store, once with PYTHONPATH=/work/main
    # and once with this tree, then:
    .venv/bin/python bench/compare_stores.py A/poptui.db B/poptui.db

Every column of every table is compared, rows in key order, except the clock's own (when the
fetch ran, when a row was made) and the account's random secret key; the search index is left
out (it is built later, from the rows compared here). Exit status 1 on any difference.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing

CLOCK = {
    "first_seen_at", "fetched_at", "created_at", "updated_at", "last_fetch_at", "started_at",
    "finished_at", "seen_at", "secret_key",
}  # fmt: skip


def compare(left: sqlite3.Connection, right: sqlite3.Connection) -> list[str]:
    """One line per table; a line starting with "DIFFERENT" for each table that differs."""
    lines = []
    tables = [
        row[0]
        for row in left.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'message_fts%' ORDER BY name"
        )
    ]
    for table in tables:
        columns = [r[1] for r in left.execute(f"PRAGMA table_info({table})") if r[1] not in CLOCK]
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1"
        a, b = left.execute(query).fetchall(), right.execute(query).fetchall()
        verdict = "identical" if a == b else "DIFFERENT"
        lines.append(f"{verdict}: {table}, {len(a)} vs {len(b)} rows, {len(columns)} columns")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    with closing(sqlite3.connect(argv[0])) as left, closing(sqlite3.connect(argv[1])) as right:
        lines = compare(left, right)
    print("\n".join(lines))
    return 1 if any(line.startswith("DIFFERENT") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
