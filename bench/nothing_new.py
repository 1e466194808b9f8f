"""`poptui fetch` with nothing new, against fetchmail, getmail6 and a poplib loop (and optionally
an older poptui), quickly.

    .venv/bin/python bench/nothing_new.py                       # 5,000 messages, 9 rounds
    .venv/bin/python bench/nothing_new.py --baseline main       # also poptui as of `main`
    .venv/bin/python bench/nothing_new.py --peers fetchmail     # fetchmail only (quicker)
    .venv/bin/python bench/nothing_new.py --profile out.prof    # + one cProfile'd run (plain)
    .venv/bin/python bench/nothing_new.py --markdown bench/RESULTS_NOTHING_NEW.md
    .venv/bin/python bench/nothing_new.py --new 10 --peers fetchmail   # a cron run with mail

Issue #11's target: nothing new at 5,000 messages takes at most 2x fetchmail. One Dovecot
(tests/servers/dovecot.py) holds the corpus; every tool fetches it all once (untimed), then
the "nothing new" runs go in interleaved rounds, the order rotated each round, so outside load
hits all alike. Prints medians (wall and CPU time) and ratios to fetchmail; the machine may be
shared: trust ratios, and CPU time more than wall time.

With `--new N`, each round first delivers N more corpus messages, so every run is a cron run
that finds mail (N new on top of the mailbox): the quick check's listing shows them and the
engine fetches them. Only the tools that fetch then take part (fetchmail, getmail6, poptui).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import corpus  # noqa: E402
import fetch_speed as fs  # noqa: E402
import speed_tools as st  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402


class SourcePoptui(st.Poptui):
    """poptui imported from a given copy of tui/ (another commit's, for before/after)."""

    def __init__(self, scratch: Path, label: str, source: Path) -> None:
        super().__init__(scratch, label)
        self.source = source

    def env_for(self, workdir: Path) -> dict[str, str]:
        env = super().env_for(workdir)
        env["PYTHONPATH"] = str(self.source)
        return env


class ScriptPoptui(st.Poptui):
    """The same poptui started as users start it: the `poptui` script pip writes (`pip install
    .`), which imports `re` and then `tui.__main__`, instead of `python -m tui` (runpy)."""

    def __init__(self, scratch: Path) -> None:
        super().__init__(scratch, "poptui, the installed script")

    def nothing_new(self, target: st.Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        script = str(Path(st.PYTHON).with_name("poptui"))
        return [script, "fetch", "--account", "Bench"], self.env_for(workdir)


class Floor(st.Poptui):
    """bench/nothing_new_floor.py on a copy of poptui's store (the full fetch is poptui's):
    the least a Python "nothing new" run does, to show how far poptui is from it."""

    def __init__(self, scratch: Path) -> None:
        super().__init__(scratch, "python floor (sqlite3 + socket)")

    def nothing_new(self, target: st.Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [st.PYTHON, str(BENCH / "nothing_new_floor.py"), target.host, str(target.port)]
        argv += [target.user, target.password, str(workdir / "poptui.db")]
        if target.cafile:
            argv += ["--pin", target.fingerprint]
        return argv, st.clean_env(workdir)


class Results(fs.Results):
    def runs_of(self, tool: str, mode: str) -> tuple[float, float]:
        """Median wall and CPU seconds of a tool's "nothing new" runs."""
        runs = self.runs.get(("again", tool, mode), [])
        if not runs:
            return float("nan"), float("nan")
        return statistics.median(m.wall for m in runs), statistics.median(m.cpu for m in runs)

    def paired(self, tool: str, base: str, mode: str) -> float:
        """The median, over rounds, of the tool's wall time over `base`'s in the same round:
        steadier than a ratio of medians while other work comes and goes on the machine."""
        runs = self.runs.get(("again", tool, mode), [])
        bases = self.runs.get(("again", base, mode), [])
        if not runs or len(runs) != len(bases):
            return float("nan")  # a failed run: rounds no longer pair up
        return statistics.median(a.wall / b.wall for a, b in zip(runs, bases, strict=True))


def markdown(
    args: argparse.Namespace,
    tools: list[st.Tool],
    modes: list[str],
    results: Results,
    started: float,
    load: list[float],
) -> str:
    """The results as bench/RESULTS_NOTHING_NEW.md: what ran, where, and the figures."""
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = fs.versions(st.ROOT)
    title = '# "Nothing new": poptui against fetchmail, getmail6, a poplib loop and a Python floor'
    if args.new:
        title = f"# A cron run that finds {args.new} new messages: poptui against fetchmail"
    lines = [
        title,
        "",
        "Written by `bench/nothing_new.py` (its docstring says how). The machine has 2 cores and "
        "was shared with other work while this ran: read the ratios (taken in the same "
        "interleaved rounds), and CPU time (user + system, children included) more than wall "
        "time.",
        "",
        f"Run {when}, {(time.time() - started) / 60:.1f} min: `bench/nothing_new.py "
        f"--messages {args.messages} --rounds {args.rounds} --peers {args.peers}"
        f"{f' --baseline {args.baseline}' if args.baseline else ''}"
        f"{f' --new {args.new}' if args.new else ''}"
        f"{f' --delay {args.delay:g}' if args.delay else ''}`",
        "",
        f"- Machine: {info['machine']}; load average (1 min) at the start, before the rounds, "
        f"after them: {', '.join(f'{x:.1f}' for x in load)}",
        f"- Versions: poptui {info['poptui']}, Python {info['Python']}, fetchmail "
        f"{info['fetchmail']}, getmail6 {info['getmail6']}, Dovecot {info['Dovecot']}",
        f"- Corpus: {args.messages:,} messages (bench/corpus.py) in a private Dovecot on "
        "127.0.0.1, each tool's store left by its own full fetch; TLS with a self-signed "
        "certificate that every tool verifies or pins."
        + (
            f" Every tool reaches the server through bench/latency_proxy.py, which adds "
            f"{args.delay * 1000:g} ms each way ({2 * args.delay * 1000:g} ms of round trip)."
            if args.delay
            else ""
        ),
        f"- Method: median of {args.rounds} interleaved rounds, the order rotated each round; "
        "wall time from spawn to exit.",
        "",
        "The paired ratio is the median over rounds of each round's own ratio to fetchmail.",
        "",
        "| tool | "
        + " | ".join(
            f"{m} ms | {m} vs fetchmail | {m} paired vs fetchmail | {m} CPU ms" for m in modes
        )
        + " |",
        "|---|" + "---|---|---|---|" * len(modes),
    ]
    for tool in tools:
        cells = []
        for mode in modes:
            base_wall, _ = results.runs_of(tools[0].name, mode)
            wall, cpu = results.runs_of(tool.name, mode)
            paired = results.paired(tool.name, tools[0].name, mode)
            cells += [f"{wall * 1000:.0f}", f"{wall / base_wall:.2f}x", f"{paired:.2f}x"]
            cells.append(f"{cpu * 1000:.0f}")
        lines.append(f"| {tool.name} | " + " | ".join(cells) + " |")
    if results.failures:
        lines += ["", "Failed runs (not in the medians):", ""]
        lines += [f"- {failure}" for failure in results.failures]
    return "\n".join(lines) + "\n"


def distant(target: st.Target, delay: float, proxies: list[subprocess.Popen[str]]) -> st.Target:
    """`target` behind a latency proxy adding `delay` seconds each way (started here, and
    added to `proxies` for the caller to stop)."""
    proxy = subprocess.Popen(
        [st.PYTHON, str(BENCH / "latency_proxy.py"), target.host, str(target.port), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    proxies.append(proxy)
    assert proxy.stdout is not None
    return dataclasses.replace(target, port=int(proxy.stdout.readline()))


def export_tree(ref: str, into: Path) -> Path:
    """tui/ as of git `ref`, unpacked under `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(st.ROOT), "archive", ref, "tui"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--modes", default="plain,tls")
    parser.add_argument("--baseline", help="a git ref: also time poptui as of that commit")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one plain run here")
    parser.add_argument(
        "--peers",
        default="fetchmail,getmail,poplib,floor,script",
        help="besides fetchmail: getmail, poplib, floor, script (poptui's installed script)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the results here (Markdown)")
    parser.add_argument(
        "--new", type=int, default=0, help="deliver this many new messages before each round"
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="seconds added each way between every tool and the server (bench/latency_proxy.py, "
        "a process of its own per mode): a distant server",
    )
    args = parser.parse_args(argv)
    scratch = st.scratch_as_root("poptui-nothing-new-")
    started, load = time.time(), [os.getloadavg()[0]]
    st.snapshot(scratch)
    results = Results()
    proxies: list[subprocess.Popen[str]] = []
    try:
        with DovecotServer() as dovecot:
            wire = fs.fill_maildir(dovecot, fs.USER, args.messages, corpus.CorpusSpec())
            fs.warm_up(dovecot.host, dovecot.plain_port, fs.USER, fs.PASSWORD, full=True)
            modes = [m for m in args.modes.split(",") if m]
            targets = [fs.dovecot_target(dovecot, fs.USER, m, args.messages, wire) for m in modes]
            if args.delay:
                targets = [distant(target, args.delay, proxies) for target in targets]
            tools: list[st.Tool] = [st.Fetchmail("bsmtp"), st.Poptui(scratch)]
            peers = set(args.peers.split(","))
            if "script" in peers and Path(st.PYTHON).with_name("poptui").exists():
                tools.append(ScriptPoptui(scratch))
            if "getmail" in peers:
                tools.append(st.Getmail())
            if "poplib" in peers and not args.new:  # its second run only lists
                tools.append(st.PoplibLoop())
            if "floor" in peers and not args.new:
                tools.append(Floor(scratch))
            if args.baseline:
                old = export_tree(args.baseline, scratch / "baseline")
                tools.append(SourcePoptui(scratch, f"poptui@{args.baseline}", old))
            stores = {}
            for target in targets:
                for tool in tools:
                    stores[tool.name, target.mode] = fs.run_one(
                        tool, target, scratch, results, "full"
                    )
            load.append(os.getloadavg()[0])
            for round_ in range(args.rounds):
                if args.new:
                    deliver_new(dovecot, args.messages + round_ * args.new, args.new)
                for target in targets:
                    for tool in fs.rotated(tools, round_):
                        fs.run_one(
                            tool,
                            target,
                            scratch,
                            results,
                            "again",
                            again_in=stores[tool.name, target.mode],
                        )
            load.append(os.getloadavg()[0])
            if args.profile:
                profile(tools[1], targets[0], stores[tools[1].name, targets[0].mode], args)
    finally:
        for proxy in proxies:
            proxy.kill()
            proxy.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    for failure in results.failures:
        print("FAILED:", failure)
    modes = [m for m in args.modes.split(",") if m]
    what = f"{args.new} new" if args.new else "nothing new"
    away = f", {2 * args.delay * 1000:.0f} ms of round trip" if args.delay else ""
    print(f"\n{what}, {args.messages:,} messages{away}, median of {args.rounds} rounds")
    for mode in modes:
        base = results.runs_of(tools[0].name, mode)
        for tool in tools:
            wall, cpu = results.runs_of(tool.name, mode)
            paired = results.paired(tool.name, tools[0].name, mode)
            print(
                f"  {mode:5} {tool.name:24} {wall * 1000:7.1f} ms  {wall / base[0]:5.2f}x fetchmail"
                f" (paired {paired:.2f}x)   cpu {cpu * 1000:4.0f} ms"
            )
    if args.markdown:
        args.markdown.write_text(markdown(args, tools, modes, results, started, load))
        print(f"written: {args.markdown}")
    return 1 if results.failures else 0


def deliver_new(dovecot: DovecotServer, first: int, count: int) -> None:
    """Corpus messages `first`.. into the mailbox, as new mail arriving between two runs."""
    maildir = dovecot.maildir(fs.USER)
    owner = maildir.stat()
    for index in range(first, first + count):
        name = f"{int(time.time())}.M{index:06d}P2Q{index:08d}.bench"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(corpus.message(index))
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.rename(maildir / "new" / name)


_PROFILED = """
import cProfile, os, sys
out, module, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = module
os._exit = sys.exit  # the run ends with os._exit once committed: the profile is written first
cProfile.run(f"import runpy; runpy.run_module({module!r}, run_name='__main__')", out)
"""
"""`python -m cProfile -m MODULE` for a run that may end with os._exit (poptui fetch does)."""


def profile(tool: st.Tool, target: st.Target, store: Path, args: argparse.Namespace) -> None:
    argv, env = tool.nothing_new(target, store)
    python, module, *rest = argv
    assert module == "-m"
    command = [python, "-c", _PROFILED, str(args.profile.resolve()), *rest]
    done = subprocess.run(command, env=env, cwd=store, check=False, capture_output=True)
    if not args.profile.exists():
        raise SystemExit(f"no profile written:\n{done.stderr.decode(errors='replace')}")
    print(f"profile written: {args.profile}")


if __name__ == "__main__":
    sys.exit(main())
