"""How poptui's full fetch scales with the mailbox: time and peak memory at 5,000, 20,000 and
50,000 messages (issue #11: time linear, peak memory flat and under 60 MB), plain or TLS.

    .venv/bin/python bench/fetch_scaling.py                       # 5,000 / 20,000 / 50,000
    .venv/bin/python bench/fetch_scaling.py --sizes 5000,20000 --rounds 5
    .venv/bin/python bench/fetch_scaling.py --source main=/work/main   # A/B against a checkout

Starts its own Dovecot holding the same realistic corpus as bench/fetch_speed.py (the first N
messages of bench/corpus.py), one mailbox per size, then runs `poptui fetch` (SQLite; plain,
or each mode of `--modes plain,tls`) into an empty store in interleaved rounds: every (source,
size, mode) once per round, the order rotated each round, so outside load hits all alike.
Each run is checked to have stored every message byte for byte. Prints per size the median
wall time, the median CPU time (user + system: what the fetch itself costs, far less disturbed
by a shared machine than the wall time), the median and the largest peak memory of the whole
process tree (the sum of PSS over poptui and any process it forks, bench/tree_memory.py; the
largest anonymous part, sum of RSS and wait4()'s ru_maxrss, the largest single process, beside
it), and both
times as a ratio of the smallest size's, against the linear ratio. Each checkout measured is
snapshotted first (its tui/), so editing it meanwhile changes no figure. Needs root (Dovecot
switches users).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import corpus  # noqa: E402
import fetch_speed as fs  # noqa: E402
import speed_tools as st  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,20000,50000", help="mailbox sizes, smallest first")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="LABEL=CHECKOUT",
        help="a checkout to measure (repeatable); default: this one, as 'poptui'",
    )
    parser.add_argument("--modes", default="plain", help="plain,tls: each size in each mode")
    parser.add_argument("--seed", type=int, default=corpus.CorpusSpec.seed)
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    args.modes = [m for m in args.modes.split(",") if m]
    sources = [s.split("=", 1) for s in args.source] or [["poptui", str(st.ROOT)]]
    args.sources = [(label, Path(path)) for label, path in sources]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = st.scratch_as_root("poptui-scaling-")
    runs: dict[tuple[str, int, str], list[st.Measured]] = {}
    failures: list[str] = []
    loads = [os.getloadavg()[0]]
    try:
        tools = {label: st.SnapshotPoptui(scratch, label, path) for label, path in args.sources}
        with DovecotServer() as dovecot:
            targets = {}
            spec = corpus.CorpusSpec(seed=args.seed)
            for n in args.sizes:
                print(f"corpus: {n:,} messages into Dovecot", flush=True)
                user = f"box{n}"
                wire = fs.fill_maildir(dovecot, user, n, spec)
                fs.warm_up(dovecot.host, dovecot.plain_port, user, fs.PASSWORD, full=True)
                for mode in args.modes:
                    targets[n, mode] = fs.dovecot_target(dovecot, user, mode, n, wire, str(n))
            pairs = [(t, n, m) for n in args.sizes for m in args.modes for t in tools.values()]
            for round_ in range(args.rounds):
                shift = round_ % len(pairs)
                for tool, n, mode in pairs[shift:] + pairs[:shift]:
                    target = targets[n, mode]
                    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
                    argv_, env = tool.prepare(target, workdir)
                    os.sync()  # no dirty pages from the previous run written back during this one
                    measured = st.run_measured(argv_, env, workdir)
                    count, size = tool.count(target, workdir, measured.out)
                    label = f"{tool.name} at {n:,} ({mode})"
                    if measured.rc == 0 and count == n and size == target.wire_bytes:
                        runs.setdefault((tool.name, n, mode), []).append(measured)
                    else:
                        failures.append(f"{label}: exit {measured.rc}, stored {count}/{n}")
                    print(
                        f"  round {round_ + 1}: {label}: {measured.wall:.2f} s, cpu "
                        f"{measured.cpu:.2f} s, {fs.memory_line(measured)}, load "
                        f"{os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
                    shutil.rmtree(workdir, ignore_errors=True)
        loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(args, runs, loads))
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


def report(
    args: argparse.Namespace,
    runs: dict[tuple[str, int, str], list[st.Measured]],
    loads: list[float],
) -> str:
    smallest = args.sizes[0]
    lines = [
        f"Medians of {args.rounds} interleaved round(s); load average (1 min) at the start and "
        f"the end: {', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPUs.",
        "",
        "| poptui | mode | messages | wall s | CPU s | peak memory MB, tree PSS (median) "
        "| peak memory MB, tree PSS (max) | anonymous PSS / RSS sum / ru_maxrss MB (max) "
        "| wall ratio | CPU ratio | linear |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (label, _path), mode in itertools.product(args.sources, args.modes):
        base = runs.get((label, smallest, mode), [])
        base_wall = statistics.median(m.wall for m in base) if base else float("nan")
        base_cpu = statistics.median(m.cpu for m in base) if base else float("nan")
        for n in args.sizes:
            measured = runs.get((label, n, mode), [])
            if not measured:
                lines.append(f"| {label} | {mode} | {n:,} | n/a | n/a | n/a | n/a | n/a | | | |")
                continue
            wall = statistics.median(m.wall for m in measured)
            cpu = statistics.median(m.cpu for m in measured)
            peak = statistics.median(m.peak_mb for m in measured)
            top = max(m.peak_mb for m in measured)
            anon = max(m.anon_mb for m in measured)
            rss = max(m.rss_sum_mb for m in measured)
            maxrss = max(m.maxrss_mb for m in measured)
            lines.append(
                f"| {label} | {mode} | {n:,} | {wall:.2f} | {cpu:.2f} | {peak:.1f} | {top:.1f} "
                f"| {anon:.1f} / {rss:.1f} / {maxrss:.1f} "
                f"| {wall / base_wall:.2f}x | {cpu / base_cpu:.2f}x | {n / smallest:.1f}x |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
