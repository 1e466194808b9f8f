"""poptui trees side by side with the practical limit: the A/B rounds behind RESULTS_SPEED.md.

    .venv/bin/python bench/speed_ab.py --tree main=/work/main --tree branch=. --rounds 5
    .venv/bin/python bench/speed_ab.py --serve     # a loaded Dovecot to profile against

Starts its own Dovecot with the corpus of bench/fetch_speed.py, then runs, in interleaved
rounds (the order rotated each round), the limit client and poptui from each `--tree` (a copy
of its tui/ taken at the start), each fetch into an empty SQLite store, plain and TLS. Prints
the medians of wall time, the range of CPU seconds and of peak memory (whole process tree,
PSS), and each tree against the limit. Every run is checked byte for byte like in
fetch_speed.py. `--serve` instead sets up a poptui store template per mode, prints how to run
a fetch against it and waits (Ctrl-C or SIGTERM ends it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import corpus  # noqa: E402
import fetch_speed as fs  # noqa: E402
import speed_report  # noqa: E402
import speed_tools as st  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402


def summary(results: fs.Results, names: list[str], modes: list[str], limit: str) -> str:
    lines = [
        "| mode | tool | wall s (median) | vs limit | CPU s (range) "
        "| peak memory MB, tree PSS (range) |",
        "|---|---|---|---|---|---|",
    ]
    for mode in modes:
        for name in names:
            runs = results.runs.get(("full", name, mode), [])
            if not runs:
                continue
            wall = statistics.median(m.wall for m in runs)
            cpu = [m.cpu for m in runs]
            rss = [m.peak_mb for m in runs]
            lines.append(
                f"| {mode} | {name} | {wall:.2f} | "
                f"{speed_report.ratio(wall, results.wall('full', limit, mode))} | "
                f"{min(cpu):.2f}-{max(cpu):.2f} | {min(rss):.1f}-{max(rss):.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="plain,tls")
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH (repeatable)")
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    trees = [(n, Path(p).resolve()) for n, _, p in (t.partition("=") for t in args.tree)]
    if not trees:
        trees = [("poptui", st.ROOT)]
    scratch = Path(tempfile.mkdtemp(prefix="poptui-ab-"))
    scratch.chmod(0o755)
    results = fs.Results()
    loads = [os.getloadavg()[0]]
    try:
        with DovecotServer() as dovecot:
            wire = fs.fill_maildir(dovecot, fs.USER, args.messages, corpus.CorpusSpec())
            fs.warm_up(dovecot.host, dovecot.plain_port, fs.USER, fs.PASSWORD, full=True)
            targets = [fs.dovecot_target(dovecot, fs.USER, m, args.messages, wire) for m in modes]
            tools: list[st.Tool] = [st.Limit()]
            tools += [st.SnapshotPoptui(scratch, name, path) for name, path in trees]
            if args.serve:
                return serve(tools[1], targets, scratch)
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}/{args.rounds}", flush=True)
                for target in targets:
                    for tool in fs.rotated(tools, round_):
                        workdir = fs.run_one(tool, target, scratch, results, "full")
                        shutil.rmtree(workdir, ignore_errors=True)
            loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\n{args.messages:,} messages, {wire / 1e6:.1f} MB, {args.rounds} rounds, load "
        + ", ".join(f"{x:.1f}" for x in loads)
    )
    print(summary(results, [t.name for t in tools], modes, tools[0].name))
    for failure in results.failures:
        print("FAILED:", failure)
    return 1 if results.failures else 0


def serve(tool: st.Tool, targets: list[st.Target], scratch: Path) -> int:
    """Print how to fetch from each target, then wait for Ctrl-C or SIGTERM (a background job
    ignores SIGINT); either way Dovecot and the scratch directory are cleaned up."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    for target in targets:
        workdir = Path(tempfile.mkdtemp(prefix=f"serve-{target.mode}-", dir=scratch))
        argv, env = tool.prepare(target, workdir)
        print(f"# {target.mode}: copy {workdir} (keep the empty store) and run:")
        print(" ".join(f"{k}={v}" for k, v in env.items()), " ".join(argv), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
