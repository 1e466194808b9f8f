"""Message browser benchmark: 100,000 messages in SQLite, opened, jumped through and searched.

    .venv/bin/python bench/browser_bench.py            # 100,000 messages, 5 runs, writes the
                                                       # results to bench/BROWSER_RESULTS.md
    .venv/bin/python bench/browser_bench.py --quick    # 10,000 messages, 2 runs: a smoke run
    .venv/bin/python bench/browser_bench.py --db PATH  # reuse (or create) the database at PATH

What it does:

1. builds an SQLite database through the real migrations and fills one mailbox with N messages
   in one executemany transaction (deterministic: subjects, 2,000 senders, dates over five years
   with ties and some missing, body text as the body indexer would have stored it; the FTS5
   triggers index every row as the fetch would);
2. runs each measurement in a fresh child process (so memory and start-up are real), which
   imports poptui, opens the database and runs an app whose first screen is the message
   browser, headless (`App.run_test`, 120x40), and records:
   * startup to first frame: from the parent's spawn of the child to the list's first drawn row
     (imports, database open and migration check, app start, first paint);
   * first paint: from `run_test()` being entered to the list's first drawn row;
   * jump to end: from sending the `end` key to the oldest message's line being drawn (and
     the same for `home`);
   * search: from Enter in the search box to the first result line being drawn (thread
     worker included), for a common word; plus the bare `message_query.search` time of four
     kinds of query;
   * peak memory: the child's `ru_maxrss` after all of the above;
3. prints medians over the runs with the targets and PASS/FAIL, and writes BROWSER_RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OWNER = "bench"
TARGETS = {
    "first_paint_s": 0.5,
    "search_ui_s": 0.2,
    "peak_rss_mb": 200.0,
    "startup_s": 1.0,
}
SEARCHES = {
    "common word": "meeting",
    "rare word": "zanzibar",
    "sender prefix": "s1234@exam",
    "two words": "budget review",
}
VOCABULARY = (
    "meeting budget review invoice project update lunch travel report contract payment offer "
    "team weekly photo family notes draft schedule agenda minutes proposal feedback launch "
    "release customer support ticket order delivery receipt account password reminder event"
)
WORDS = VOCABULARY.split()


# ------------------------------------------------------------------------------ the data set


def build_database(path: Path, count: int) -> int:
    """Create (or reuse) the database; returns the account id of the filled mailbox."""
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account

    fresh = not path.exists()
    db = open_database(f"sqlite:///{path}")
    try:
        existing = Account.select().where(Account.owner == OWNER).first()
        if existing is not None and not fresh:
            have = db.execute_sql(
                "SELECT COUNT(*) FROM message WHERE account_id = ?", (existing.id,)
            ).fetchone()[0]
            if have == count:
                return int(existing.id)
            raise SystemExit(f"{path} holds {have} messages, not {count}: use another --db")
        account = Account.create(
            owner=OWNER,
            name="Bench",
            email="bench@example.com",
            incoming_host="pop.example.com",
            incoming_port=995,
            incoming_security="ssl",
            username="bench@example.com",
            delete_policy="leave",
            secret_key="bench-secret-key",
            is_active=True,
        )
        rng = random.Random(42)
        start = datetime(2021, 1, 1)
        rows = []
        for number in range(count):
            words = rng.sample(WORDS, 4)
            subject = f"{words[0].title()} {words[1]} {words[2]} #{number}"
            sender = number * 7919 % 2000
            date = start + timedelta(minutes=rng.randrange(5 * 365 * 24 * 60) // 10 * 10)
            body = " ".join(rng.choices(WORDS, k=rng.randrange(40, 90)))
            if number == count // 2:
                body += " zanzibar"
            rows.append(
                (
                    account.id,
                    f"uidl-{number:08d}",
                    rng.randrange(800, 200_000),
                    f"Sender {sender} <s{sender}@example.com>",
                    "bench@example.com",
                    subject,
                    None if number % 97 == 0 else str(date),
                    number % 9 == 0,
                    body,
                    1,
                    str(start + timedelta(days=1900, seconds=number)),
                    str(start + timedelta(days=1900, seconds=number)),
                )
            )
        began = time.perf_counter()
        with db.atomic():
            db.cursor().executemany(
                "INSERT INTO message (account_id, uidl, size, from_addr, to_addrs, subject, date,"
                " has_attachments, body_text, body_indexed, first_seen_at, fetched_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        db.execute_sql("ANALYZE")
        print(f"  inserted {count:,} messages in {time.perf_counter() - began:.1f} s")
        return int(account.id)
    finally:
        db.close()


# ------------------------------------------------------------------------------ the child


def child(url: str, account_id: int, spawned_at: float) -> dict[str, Any]:
    """One measured run; everything after the imports happens in this process."""
    imported_at = time.time()
    from textual.app import App
    from textual.widgets import Input

    from tui.core.storage import queries as message_query
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database
    from tui.core.storage.mailbox_view import MailboxView
    from tui.core.storage.models import database_proxy
    from tui.screens.message_browser import MessageBrowserScreen
    from tui.widgets.message_list import MessageList

    marks: dict[str, float] = {}
    drawn: list[tuple[float, str, int]] = []
    """(when, kind of rows, position) of every message line drawn."""
    original = MessageList.render_line

    def timed_render_line(self: MessageList, y: int) -> Any:
        strip = original(self, y)
        if y >= 1 and self.total > 0:
            now = time.perf_counter()
            if "first_paint" not in marks:
                marks["first_paint"] = now
                marks["first_paint_wall"] = time.time()
            drawn.append((now, type(self.source).__name__, round(self.scroll_y) + y - 1))
        return strip

    def first_drawn(since: float, kind: str, position: int | None = None) -> float:
        """Seconds from `since` to the first line of `kind` (at `position`) drawn after it."""
        times = [
            when
            for when, what, where in drawn
            if when >= since and what == kind and (position is None or where == position)
        ]
        if not times:
            raise SystemExit(f"no {kind} line at {position} was drawn")
        return min(times) - since

    MessageList.render_line = timed_render_line  # type: ignore[method-assign]

    class BenchApp(App[None]):
        def get_default_screen(self) -> MessageBrowserScreen:
            return MessageBrowserScreen(account_id, accounts=AccountStore(OWNER))

    db = open_database(url)
    result: dict[str, Any] = {"import_s": time.time() - imported_at}

    async def run() -> None:
        entered = time.perf_counter()
        app = BenchApp()
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.perf_counter() + 60
            while "first_paint" not in marks:
                if time.perf_counter() > deadline:
                    raise SystemExit("the message list never drew a row")
                await asyncio.sleep(0.001)
            result["first_paint_s"] = marks["first_paint"] - entered
            result["startup_s"] = marks["first_paint_wall"] - spawned_at
            screen = app.screen
            assert isinstance(screen, MessageBrowserScreen)
            widget = screen.message_list
            total = widget.total

            began = time.perf_counter()
            await pilot.press("end")
            await pilot.pause()
            result["end_s"] = first_drawn(began, "MailboxRows", total - 1)
            assert widget.cursor == total - 1, widget.cursor
            result["held_rows_at_end"] = widget.held_rows

            began = time.perf_counter()
            await pilot.press("home")
            await pilot.pause()
            result["home_s"] = first_drawn(began, "MailboxRows", 0)

            await pilot.press("slash")
            await pilot.pause()
            screen.query_one("#message-search", Input).value = SEARCHES["common word"]
            began = time.perf_counter()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            result["search_ui_s"] = first_drawn(began, "ResultRows")
            result["search_results"] = widget.total
            assert widget.total > 0

        core: dict[str, float] = {}
        hits: dict[str, int] = {}
        for label, text in SEARCHES.items():
            times = []
            for _ in range(5):
                began = time.perf_counter()
                found = message_query.search(MailboxView(account_id), text)
                times.append(time.perf_counter() - began)
            core[label] = statistics.median(times)
            hits[label] = len(found)
        result["search_core_s"] = core
        result["search_hits"] = hits
        result["total"] = total

    asyncio.run(run())
    db.close()
    database_proxy.initialize(None)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["vm_hwm_mb"] = _vm_hwm_mb()
    return result


def _vm_hwm_mb() -> float:
    """This address space's own peak RSS (VmHWM), a cross-check of ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ------------------------------------------------------------------------------ the parent


def run_child(url: str, account_id: int) -> dict[str, Any]:
    spawned = time.time()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", url, str(account_id), repr(spawned)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if completed.returncode != 0:
        raise SystemExit(f"child failed:\n{completed.stdout}\n{completed.stderr}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def verdict(name: str, value: float) -> str:
    return "PASS" if value < TARGETS[name] else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10,000 messages, 2 runs")
    parser.add_argument("--db", type=Path, help="database file to create or reuse")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(build_database(Path(args.build[0]), int(args.build[1])))
        return 0
    if args.child:
        url, account_id, spawned = args.child
        print(json.dumps(child(url, int(account_id), float(spawned))))
        return 0
    if args.quick:
        args.messages, args.runs = 10_000, 2

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="poptui-browser-bench-") as scratch:
        path = args.db or Path(scratch) / "bench.db"
        print(f"Building {args.messages:,} messages in {path} …")
        # In a child, so this process stays small: Linux counts the parent's RSS at fork into
        # the ru_maxrss of every child it starts afterwards.
        built = subprocess.run(
            [sys.executable, __file__, "--build", str(path), str(args.messages)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if built.returncode != 0:
            raise SystemExit(f"building the database failed:\n{built.stdout}\n{built.stderr}")
        *notes, account = built.stdout.strip().splitlines()
        print("\n".join(notes))
        account_id = int(account)
        size_mb = path.stat().st_size / 1e6
        url = f"sqlite:///{path}"
        runs = []
        for number in range(args.runs):
            result = run_child(url, account_id)
            runs.append(result)
            print(
                f"  run {number + 1}: startup {result['startup_s']:.3f} s, first paint "
                f"{result['first_paint_s']:.3f} s, end {result['end_s']:.3f} s, search "
                f"{result['search_ui_s']:.3f} s, peak {result['peak_rss_mb']:.0f} MB"
            )

    def median(key: str) -> float:
        return statistics.median(float(run[key]) for run in runs)

    core = {
        label: statistics.median(run["search_core_s"][label] for run in runs) for label in SEARCHES
    }
    hits = runs[0]["search_hits"]
    figures = {
        "startup_s": median("startup_s"),
        "first_paint_s": median("first_paint_s"),
        "search_ui_s": median("search_ui_s"),
        "peak_rss_mb": median("peak_rss_mb"),
    }
    lines = [
        f"Message browser, {args.messages:,} messages in SQLite ({size_mb:.0f} MB), "
        f"medians of {args.runs} runs",
        "",
        "| Measure | Median | Target | Result |",
        "|---|---:|---:|---|",
        f"| Startup to first frame (spawn → list drawn) | {figures['startup_s']:.3f} s "
        f"| < {TARGETS['startup_s']} s | {verdict('startup_s', figures['startup_s'])} |",
        f"| First paint of the list (run_test → list drawn) | {figures['first_paint_s']:.3f} s "
        f"| < {TARGETS['first_paint_s']} s "
        f"| {verdict('first_paint_s', figures['first_paint_s'])} |",
        f'| Search "{SEARCHES["common word"]}" (Enter → first result drawn) '
        f"| {figures['search_ui_s']:.3f} s | < {TARGETS['search_ui_s']} s "
        f"| {verdict('search_ui_s', figures['search_ui_s'])} |",
        f"| Peak memory (ru_maxrss) | {figures['peak_rss_mb']:.0f} MB "
        f"| < {TARGETS['peak_rss_mb']:.0f} MB "
        f"| {verdict('peak_rss_mb', figures['peak_rss_mb'])} |",
        f"| Peak memory cross-check (VmHWM) | {median('vm_hwm_mb'):.0f} MB | — | — |",
        f"| Jump to end (`end` → oldest line drawn) | {median('end_s'):.3f} s | — | — |",
        f"| Jump to start (`home` → newest line drawn) | {median('home_s'):.3f} s | — | — |",
        f"| Imports (textual + poptui) | {median('import_s'):.3f} s | — | — |",
        "",
        "Rows held by the list after jumping to the end: "
        f"{runs[0]['held_rows_at_end']} (of {runs[0]['total']:,}).",
        "",
        "| Query (message_query.search, newest 500) | Hits | Median |",
        "|---|---:|---:|",
        *(
            f"| {label}: `{text}` | {hits[label]:,} | {core[label] * 1000:.1f} ms |"
            for label, text in SEARCHES.items()
        ),
    ]
    report = "\n".join(lines)
    print()
    print(report)
    failed = [name for name, value in figures.items() if verdict(name, value) == "FAIL"]
    if not args.no_write and not args.quick:
        machine = (
            f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, Textual {_textual_version()}"
        )
        (ROOT / "bench" / "BROWSER_RESULTS.md").write_text(
            "# Message browser benchmark\n\n"
            "Produced by `.venv/bin/python bench/browser_bench.py` (see its docstring for what is "
            "measured and how).\n\n"
            f"Machine: {machine}.  \nRun: {datetime.now():%Y-%m-%d %H:%M}, load average "
            f"{load_before:.2f} before and {os.getloadavg()[0]:.2f} after (the figures include "
            "whatever else the machine was doing).\n\n"
            f"{report}\n\n"
            "Per run (seconds, MB):\n\n"
            "| Run | Startup | First paint | End | Search (UI) | Peak RSS |\n"
            "|---:|---:|---:|---:|---:|---:|\n"
            + "".join(
                f"| {n + 1} | {r['startup_s']:.3f} | {r['first_paint_s']:.3f} | "
                f"{r['end_s']:.3f} | {r['search_ui_s']:.3f} | {r['peak_rss_mb']:.0f} |\n"
                for n, r in enumerate(runs)
            ),
            encoding="utf-8",
        )
        print("\nWritten to bench/BROWSER_RESULTS.md")
    return 1 if failed else 0


def _textual_version() -> str:
    from importlib.metadata import version

    return version("textual")


if __name__ == "__main__":
    sys.exit(main())
