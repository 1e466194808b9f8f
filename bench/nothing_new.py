"""`poptui fetch` with nothing new, against fetchmail (and optionally an older poptui), quickly.

    .venv/bin/python bench/nothing_new.py                       # 5,000 messages, 9 rounds
    .venv/bin/python bench/nothing_new.py --baseline main       # also poptui as of `main`
    .venv/bin/python bench/nothing_new.py --profile out.prof    # + one cProfile'd run (plain)

Issue #11's target: nothing new at 5,000 messages takes at most 2x fetchmail. One Dovecot
(tests/servers/dovecot.py) holds the corpus; every tool fetches it all once (untimed), then
the "nothing new" runs go in interleaved rounds, the order rotated each round, so outside load
hits all alike. Prints medians and ratios to fetchmail; the machine may be shared: trust ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
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
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: Dovecot switches users")
    scratch = Path(tempfile.mkdtemp(prefix="poptui-nothing-new-"))
    scratch.chmod(0o755)
    st.snapshot(scratch)
    results = fs.Results()
    try:
        with DovecotServer() as dovecot:
            wire = fs.fill_maildir(dovecot, fs.USER, args.messages, corpus.CorpusSpec())
            fs.warm_up(dovecot.host, dovecot.plain_port, fs.USER, fs.PASSWORD, full=True)
            modes = [m for m in args.modes.split(",") if m]
            targets = [fs.dovecot_target(dovecot, fs.USER, m, args.messages, wire) for m in modes]
            tools: list[st.Tool] = [st.Fetchmail("bsmtp"), st.Poptui(scratch)]
            if args.baseline:
                old = export_tree(args.baseline, scratch / "baseline")
                tools.append(SourcePoptui(scratch, f"poptui@{args.baseline}", old))
            stores = {}
            for target in targets:
                for tool in tools:
                    stores[tool.name, target.mode] = fs.run_one(
                        tool, target, scratch, results, "full"
                    )
            for round_ in range(args.rounds):
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
            if args.profile:
                profile(tools[1], targets[0], stores[tools[1].name, targets[0].mode], args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for failure in results.failures:
        print("FAILED:", failure)
    print(f"\nnothing new, {args.messages:,} messages, median of {args.rounds} rounds")
    for mode in [m for m in args.modes.split(",") if m]:
        base = results.wall("again", tools[0].name, mode)
        for tool in tools:
            wall = results.wall("again", tool.name, mode)
            print(f"  {mode:5} {tool.name:24} {wall * 1000:7.1f} ms  {wall / base:5.2f}x fetchmail")
    return 1 if results.failures else 0


def profile(tool: st.Tool, target: st.Target, store: Path, args: argparse.Namespace) -> None:
    argv, env = tool.nothing_new(target, store)
    python, module, *rest = argv
    assert module == "-m"
    command = [python, "-m", "cProfile", "-o", str(args.profile.resolve()), "-m", *rest]
    subprocess.run(command, env=env, cwd=store, check=False, capture_output=True)
    print(f"profile written: {args.profile}")


if __name__ == "__main__":
    sys.exit(main())
