"""How fast poptui fetches, side by side with the practical limit and its peers (issue #11).

    .venv/bin/python bench/fetch_speed.py --quick      # 500 messages, a minute or two
    .venv/bin/python bench/fetch_speed.py              # 5,000 messages, 3 rounds, + 20,000
    .venv/bin/python bench/fetch_speed.py --rss-messages 50000   # also peak memory at 50,000

Starts its own Dovecot (tests/servers/dovecot.py) holding a realistic corpus (bench/corpus.py),
then times, in interleaved rounds (every tool once per round, the order rotated each round, so
outside load hits all alike; medians of the rounds):

* a full fetch, plain and TLS, leaving the mail on the server, each run into an empty store:
  the practical limit (bench/pipelined_limit.py: pipelined raw socket, a file per message on
  tmpfs), fetchmail into a BSMTP file (its cheapest delivery) and through procmail into a
  Maildir (a typical one), getmail6 into a Maildir, a bare poplib loop, and poptui (SQLite);
* "nothing new": each tool again on the store its last full fetch left;
* `poptui --version` against `python -c pass`;
* poptui at `--linearity` times the mailbox (20,000 messages by default), for linearity;
* poptui into a team PostgreSQL database (row-level security on) against SQLite;
* popa3d (an old server: no CAPA, so no pipelining) with 200 messages: poptui, fetchmail
  and the poplib loop;
* peak memory of every run: the whole process tree's, the sum of PSS over the tool and every
  process it forks (bench/tree_memory.py), with the sum of RSS and wait4()'s ru_maxrss (the
  largest single process) beside it; with `--rss-messages` also poptui's on a large mailbox.

Prints a table with ratios and the issue's targets, and writes bench/RESULTS_SPEED.md.
Needs root (Dovecot, popa3d's private namespace), fetchmail, getmail6, procmail, PostgreSQL
and popa3d's .deb (scripts/install-test-deps.sh installs them all).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import poplib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import corpus  # noqa: E402
import speed_report  # noqa: E402
import speed_tools as st  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402

USER, PASSWORD = "bench", "bench-pass-1"
OPTIONAL_PEERS = ("procmail", "getmail", "poplib")


@dataclass
class Results:
    """Measurements by (section, tool, mode); failed runs are kept apart, never in medians."""

    runs: dict[tuple[str, str, str], list[st.Measured]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stored_as: dict[str, str] = field(default_factory=dict)

    def add(self, section: str, tool: str, mode: str, measured: st.Measured) -> None:
        self.runs.setdefault((section, tool, mode), []).append(measured)

    def wall(self, section: str, tool: str, mode: str) -> float:
        runs = self.runs.get((section, tool, mode), [])
        return statistics.median(m.wall for m in runs) if runs else float("nan")

    def memory(self, section: str, tool: str, mode: str, of: str = "peak_mb") -> float:
        """The largest of the runs' `of`: peak_mb (whole process tree, PSS: the headline),
        anon_mb (its anonymous part), rss_sum_mb (sum of RSS over the tree) or maxrss_mb
        (wait4's largest single process)."""
        runs = self.runs.get((section, tool, mode), [])
        return max(float(getattr(m, of)) for m in runs) if runs else float("nan")

    def count(self, section: str, tool: str, mode: str) -> int:
        return len(self.runs.get((section, tool, mode), []))


def rotated(items: Sequence[st.Tool], by: int) -> list[st.Tool]:
    by %= max(1, len(items))
    return [*items[by:], *items[:by]]


def run_one(
    tool: st.Tool,
    target: st.Target,
    scratch: Path,
    results: Results,
    section: str,
    *,
    again_in: Path | None = None,
) -> Path:
    """One run of `tool` (a full fetch, or with `again_in` a second one there); checked."""
    workdir = again_in or Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    if again_in is None:
        argv, env = tool.prepare(target, workdir)
    else:
        argv, env = tool.nothing_new(target, workdir)
    tool.settle()
    os.sync()  # no dirty pages from the previous run written back during this one
    measured = st.run_measured(argv, env, workdir)
    results.stored_as[tool.name] = tool.stored_as
    label = f"{section}: {tool.name} ({target.mode})"
    if again_in is not None:
        if measured.rc in tool.nothing_new_rcs:
            results.add(section, tool.name, target.mode, measured)
        else:
            results.failures.append(f"{label}: exit {measured.rc}: {tail(measured)}")
        return workdir
    count, size = tool.count(target, workdir, measured.out)
    exact = not tool.exact_bytes or size == target.wire_bytes
    if measured.rc == 0 and count == target.count and exact:
        results.add(section, tool.name, target.mode, measured)
    else:
        results.failures.append(
            f"{label}: exit {measured.rc}, stored {count}/{target.count} messages, {size:,} "
            f"bytes (expected {target.wire_bytes:,}{'' if tool.exact_bytes else ' or so'}): "
            f"{tail(measured)}"
        )
    print(f"  {label}: {measured.wall:.2f} s, {memory_line(measured)}", flush=True)
    return workdir


def memory_line(measured: st.Measured) -> str:
    return (
        f"{measured.peak_mb:.1f} MB PSS (tree; anonymous {measured.anon_mb:.1f}, RSS sum "
        f"{measured.rss_sum_mb:.1f}, ru_maxrss {measured.maxrss_mb:.1f})"
    )


def tail(measured: st.Measured) -> str:
    lines = (measured.err + measured.out).strip().splitlines()
    return lines[-1][:200] if lines else ""


# ------------------------------------------------------------------ corpus and servers


def fill_maildir(server: DovecotServer, user: str, count: int, spec: corpus.CorpusSpec) -> int:
    """The first `count` corpus messages straight into the user's Maildir; bytes as served."""
    server.add_user(user, PASSWORD)
    maildir = server.maildir(user)
    owner = maildir.stat()
    base = int(time.time()) - count
    wire = 0
    for index in range(count):
        raw = corpus.message(index, spec)
        name = f"{base + index}.M{index:06d}P1Q{index:08d}.bench"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.rename(maildir / "new" / name)
        wire += len(raw) + raw.count(b"\n")
    return wire


def warm_up(host: str, port: int, user: str, password: str, full: bool) -> None:
    """Index the mailbox and fill the page cache, untimed."""
    poplib._MAXLINE = 1 << 20  # type: ignore[attr-defined]
    client = poplib.POP3(host, port, timeout=300)
    client.user(user)
    client.pass_(password)
    count, _ = client.stat()
    client.uidl()
    if full:
        for number in range(1, count + 1):
            client.retr(number)
    client.quit()


def dovecot_target(
    server: DovecotServer, user: str, mode: str, count: int, wire: int, label: str = ""
) -> st.Target:
    """`mode` plain or tls; `label` names the target in the results (default: the mode)."""
    tls = mode == "tls"
    return st.Target(
        label or mode,
        server.host,
        server.tls_port if tls else server.plain_port,
        user,
        PASSWORD,
        server.cert_path if tls else None,
        server.cert_fingerprint if tls else "",
        count,
        wire,
    )


# ------------------------------------------------------------------ sections


def full_and_nothing_new(
    tools: list[st.Tool],
    targets: list[st.Target],
    args: argparse.Namespace,
    scratch: Path,
    results: Results,
) -> None:
    last: dict[tuple[str, str], Path] = {}
    for round_ in range(args.repeat):
        print(f"full fetch, round {round_ + 1}/{args.repeat}", flush=True)
        for target in targets:
            for tool in rotated(tools, round_):
                workdir = run_one(tool, target, scratch, results, "full")
                old = last.pop((tool.name, target.mode), None)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
                last[(tool.name, target.mode)] = workdir
    print("nothing new", flush=True)
    for round_ in range(args.nothing_new):
        for target in targets:
            for tool in rotated(tools, round_):
                previous = last.get((tool.name, target.mode))
                if previous is not None:
                    run_one(tool, target, scratch, results, "again", again_in=previous)


def startup(args: argparse.Namespace, scratch: Path, results: Results) -> None:
    poptui = st.ROOT / ".venv" / "bin" / "poptui"
    version = [str(poptui)] if poptui.exists() else [*st.POPTUI]
    commands = {
        "python -c pass": [st.PYTHON, "-c", "pass"],
        "poptui --version": [*version, "--version"],
    }
    for _round in range(max(5, args.nothing_new)):
        for name, argv in commands.items():
            measured = st.run_measured(argv, st.clean_env(scratch), scratch)
            results.add("startup", name, "-", measured)


def paired_rounds(
    section: str,
    pairs: list[tuple[st.Tool, st.Target]],
    rounds: int,
    scratch: Path,
    results: Results,
) -> None:
    """Interleaved rounds of (tool, target) pairs, each run from an empty store."""
    for round_ in range(rounds):
        print(f"{section}, round {round_ + 1}/{rounds}", flush=True)
        order = pairs[round_ % len(pairs) :] + pairs[: round_ % len(pairs)]
        for tool, target in order:
            workdir = run_one(tool, target, scratch, results, section)
            shutil.rmtree(workdir, ignore_errors=True)


def postgres_section(
    target: st.Target, args: argparse.Namespace, scratch: Path, results: Results
) -> None:
    from postgres_poptui import LimitIntoPostgres, PostgresPoptui, SqliteBesidePostgres

    with PostgresPoptui(scratch) as pg_poptui:
        sqlite = SqliteBesidePostgres(scratch, pg_poptui)
        limit = LimitIntoPostgres(pg_poptui)  # what any client reaches into this server
        pairs: list[tuple[st.Tool, st.Target]] = [(sqlite, target), (pg_poptui, target)]
        pairs.append((limit, target))
        paired_rounds("postgres", pairs, args.repeat, scratch, results)


def popa3d_section(args: argparse.Namespace, scratch: Path, results: Results) -> None:
    from tests.servers.popa3d import Popa3dServer, served_form

    spec = corpus.CorpusSpec(seed=args.seed)
    messages = [corpus.message(i, spec) for i in range(args.popa3d_messages)]
    with Popa3dServer() as server:
        server.set_messages(messages)
        warm_up(server.host, server.port, server.user, server.password, full=True)
        target = st.Target(
            "plain",
            server.host,
            server.port,
            server.user,
            server.password,
            None,
            "",
            len(messages),
            sum(len(served_form(m)) for m in messages),
        )
        tools: list[st.Tool] = [st.Poptui(scratch), st.Fetchmail("bsmtp"), st.PoplibLoop()]
        paired_rounds("popa3d", [(t, target) for t in tools], args.repeat, scratch, results)


def versions(source: Path) -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except OSError:
            return "?"
        return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]

    commit = first_line(["git", "-C", str(source), "log", "-1", "--format=%h %s"])
    if first_line(["git", "-C", str(source), "status", "--porcelain", "tui"]) != "?":
        commit += " + uncommitted changes in tui/"
    return {
        "poptui": f"{first_line([*st.POPTUI, '--version']).split()[-1]} (commit {commit})",
        "Python": platform.python_version(),
        "fetchmail": re.sub(r".*release ([0-9.]+).*", r"\1", first_line(["fetchmail", "-V"])),
        "getmail6": first_line(["getmail", "--version"]),
        "Dovecot": first_line(["dovecot", "--version"]),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}",
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--nothing-new", type=int, default=5, help="rounds of 'nothing new'")
    parser.add_argument("--quick", action="store_true", help="500 messages, 1 round, no 20k")
    parser.add_argument("--modes", default="plain,tls")
    parser.add_argument("--linearity", type=int, default=4, help="mailbox factor; 0: skip")
    parser.add_argument("--rss-messages", type=int, default=0, help="e.g. 50000; 0: skip")
    parser.add_argument("--popa3d-messages", type=int, default=200, help="0: skip popa3d")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--without",
        default="",
        help="peers left out of the full fetches, e.g. procmail,getmail (minutes each at 5,000 "
        "messages on a loaded machine); the limit, fetchmail's BSMTP file and poptui always run",
    )
    parser.add_argument("--seed", type=int, default=corpus.CorpusSpec.seed)
    parser.add_argument(
        "--source",
        type=Path,
        default=st.ROOT,
        help="a checkout whose tui/ is measured (default: this one)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS_SPEED.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeat, args.nothing_new, args.linearity = 500, 1, 3, 0
    args.modes = [m for m in args.modes.split(",") if m]
    args.without = {w for w in args.without.split(",") if w}
    unknown = args.without - set(OPTIONAL_PEERS)
    if unknown:
        parser.error(f"--without: unknown {', '.join(sorted(unknown))}; one of {OPTIONAL_PEERS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = st.scratch_as_root(
        "poptui-speed-", "Dovecot switches users, popa3d needs a mount namespace"
    )
    started = dt.datetime.now(dt.UTC)
    tool_versions = versions(args.source)  # the commit measured, before anything can move it
    results = Results()
    spec = corpus.CorpusSpec(seed=args.seed)
    st.snapshot(scratch, args.source)
    loads = [os.getloadavg()[0]]
    try:
        with DovecotServer() as dovecot:
            print(f"corpus: {args.messages} messages into Dovecot", flush=True)
            wire = fill_maildir(dovecot, USER, args.messages, spec)
            warm_up(dovecot.host, dovecot.plain_port, USER, PASSWORD, full=True)
            targets = [dovecot_target(dovecot, USER, m, args.messages, wire) for m in args.modes]
            plain = dovecot_target(dovecot, USER, "plain", args.messages, wire)
            peers: dict[str, st.Tool] = {
                "procmail": st.Fetchmail("procmail"),
                "getmail": st.Getmail(),
                "poplib": st.PoplibLoop(),
            }
            tools: list[st.Tool] = [
                st.Limit(),
                st.Fetchmail("bsmtp"),
                *(tool for name, tool in peers.items() if name not in args.without),
                st.Poptui(scratch),
            ]
            full_and_nothing_new(tools, targets, args, scratch, results)
            loads.append(os.getloadavg()[0])
            startup(args, scratch, results)
            if args.linearity > 1:
                big_n = args.messages * args.linearity
                print(f"linearity: {big_n} messages into Dovecot", flush=True)
                big_wire = fill_maildir(dovecot, "big", big_n, spec)
                warm_up(dovecot.host, dovecot.plain_port, "big", PASSWORD, full=False)
                big = dovecot_target(dovecot, "big", "plain", big_n, big_wire, str(big_n))
                small = dovecot_target(
                    dovecot, USER, "plain", args.messages, wire, str(args.messages)
                )
                poptui = st.Poptui(scratch)
                pairs: list[tuple[st.Tool, st.Target]] = [(poptui, small), (poptui, big)]
                paired_rounds("linearity", pairs, args.repeat, scratch, results)
                shutil.rmtree(dovecot.maildir("big"), ignore_errors=True)
            if args.rss_messages:
                print(f"peak memory: {args.rss_messages} messages into Dovecot", flush=True)
                huge_wire = fill_maildir(dovecot, "huge", args.rss_messages, spec)
                warm_up(dovecot.host, dovecot.plain_port, "huge", PASSWORD, full=False)
                huge = dovecot_target(
                    dovecot, "huge", "plain", args.rss_messages, huge_wire, str(args.rss_messages)
                )
                paired_rounds("rss", [(st.Poptui(scratch), huge)], 1, scratch, results)
                shutil.rmtree(dovecot.maildir("huge"), ignore_errors=True)
            if not args.no_postgres:
                postgres_section(plain, args, scratch, results)
            loads.append(os.getloadavg()[0])
        if args.popa3d_messages:
            popa3d_section(args, scratch, results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    loads.append(os.getloadavg()[0])
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    report, checks = speed_report.build(
        results, args, wire, tool_versions, started, elapsed, loads, [t.name for t in tools]
    )
    print("\n" + report)
    if not args.no_write:
        args.out.write_text(speed_report.HEADER + report)
        print(f"written: {args.out}")
    return 0 if all(ok for _name, ok, _detail in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
