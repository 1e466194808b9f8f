"""`poptui export` of 1,000 and 10,000 stored messages: time and peak memory (issue #13.2).

    .venv/bin/python bench/export_bench.py              # 1,000 and 10,000 messages, 3 rounds
    .venv/bin/python bench/export_bench.py --rounds 1   # quicker

The corpus is bench/corpus.py's (2-8 KB text mail, some HTML, 0.5 % with a 0.5-1 MB
attachment), stored straight into a SQLite database as poptui stores fetched mail. Each round
runs, as separate processes and alternately first (A B, then B A):

* `poptui export Box --mbox FILE` / `--maildir DIR`, and
* the peer: a Python `mailbox` copy of the same rows (`mailbox.mbox(...).add(raw)` under its
  lock, or `mailbox.Maildir(...).add(raw)`), reading the database with a plain sqlite3 cursor.

It prints the median wall time and the median peak RSS (GNU time's %M) of each, the
poptui/peer ratios, and poptui's 10,000/1,000 peak-RSS ratio: flat memory means close to 1.
Note: poptui fsyncs every Maildir file (the Maildir rule) and the mbox once at the end; the
`mailbox` module fsyncs nothing. The machine may be shared: trust the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import CorpusSpec, messages

POPTUI = [sys.executable, "-m", "tui"]
SPEC = CorpusSpec(attach_share=0.005, attach_min_mb=0.5, attach_max_mb=1.0)

PEER = r"""
import mailbox, sqlite3, sys
db_path, kind, out = sys.argv[1:4]
db = sqlite3.connect(db_path)
rows = db.execute(
    "SELECT s.raw FROM message_source s JOIN message m ON m.id = s.message_id ORDER BY m.id"
)
if kind == "mbox":
    box = mailbox.mbox(out)
    box.lock()
else:
    box = mailbox.Maildir(out)
for (raw,) in rows:
    box.add(bytes(raw))
box.flush()
if kind == "mbox":
    box.unlock()
box.close()
"""


def build(db_path: Path, count: int) -> int:
    """A poptui database with `count` corpus messages in the mailbox "Box"; their bytes."""
    from tui.core.mail.parse import summarize
    from tui.core.settings import AccountSettings
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Message, MessageSource, database_proxy, utcnow

    open_database(f"sqlite:///{db_path}")
    account = AccountStore().create(
        AccountSettings(name="Box", email="box@example.com", incoming_host="pop.example.com")
    )
    total = 0
    with database_proxy.atomic():
        for index, raw in enumerate(messages(count, SPEC)):
            total += len(raw)
            s = summarize(raw)
            mid = Message.insert(
                account=account,
                uidl=f"u{index}",
                size=len(raw),
                from_addr=s.from_addr,
                to_addrs=s.to_addrs,
                subject=s.subject,
                date=s.date,
                message_id=s.message_id,
                party_domains=s.party_domains,
                fetched_at=utcnow(),
            ).execute()
            MessageSource.insert(message=mid, raw=raw).execute()
    database_proxy.close()
    return total


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process, by GNU time: `wait4` here would count
    the memory of this (forked) process before the child's exec too."""
    report = Path(tempfile.mkstemp(prefix="poptui-bench-time-")[1])
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%M", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr.decode()}")
    peak_kb = int(report.read_text().split()[-1])
    report.unlink()
    return seconds, peak_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="poptui-export-bench-"))
    results: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
    try:
        for count in args.sizes:
            db_path = work / f"bench-{count}.db"
            size = build(db_path, count)
            print(f"{count:,} messages, {size / 1e6:.0f} MB stored", flush=True)
            env = dict(
                os.environ,
                POPTUI_DATABASE=f"sqlite:///{db_path}",
                XDG_DATA_HOME=str(work / "data"),
                XDG_STATE_HOME=str(work / "state"),
            )
            for kind in ("mbox", "maildir"):
                for round_ in range(args.rounds):
                    tools = ["poptui", "mailbox"] if round_ % 2 == 0 else ["mailbox", "poptui"]
                    for tool in tools:
                        out = work / f"out-{tool}-{kind}"
                        shutil.rmtree(out, ignore_errors=True)
                        out.unlink(missing_ok=True)
                        if tool == "poptui":
                            argv = [*POPTUI, "export", "Box", f"--{kind}", str(out)]
                        else:
                            argv = [sys.executable, "-c", PEER, str(db_path), kind, str(out)]
                        results.setdefault((count, kind, tool), []).append(timed(argv, env))
                        shutil.rmtree(out, ignore_errors=True)
                        out.unlink(missing_ok=True)
            db_path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmedians of {args.rounds} rounds (A B / B A interleaved)")
    print(
        f"{'messages':>9} {'format':>8} {'poptui s':>9} {'peer s':>8} {'ratio':>6}"
        f" {'poptui MB':>10} {'peer MB':>8}"
    )
    for count in args.sizes:
        for kind in ("mbox", "maildir"):
            ours = results[(count, kind, "poptui")]
            peer = results[(count, kind, "mailbox")]
            t_ours = statistics.median(s for s, _ in ours)
            t_peer = statistics.median(s for s, _ in peer)
            m_ours = statistics.median(m for _, m in ours)
            m_peer = statistics.median(m for _, m in peer)
            print(
                f"{count:>9,} {kind:>8} {t_ours:>9.2f} {t_peer:>8.2f} {t_ours / t_peer:>6.2f}"
                f" {m_ours:>10.1f} {m_peer:>8.1f}"
            )
    if len(args.sizes) >= 2:
        small, large = min(args.sizes), max(args.sizes)
        for kind in ("mbox", "maildir"):
            a = statistics.median(m for _, m in results[(small, kind, "poptui")])
            b = statistics.median(m for _, m in results[(large, kind, "poptui")])
            print(f"poptui {kind} peak RSS {large:,}/{small:,} messages: {b / a:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
