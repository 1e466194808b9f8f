"""Many distant mailboxes: `poptui fetch --all` one at a time, all at once, and fetchmail.

    .venv/bin/python bench/concurrent_bench.py              # 8 mailboxes x 500 messages, 3 rounds
    .venv/bin/python bench/concurrent_bench.py --quick      # 8 x 100, 1 round: a smoke run

What it does:

1. a private Dovecot (tests/servers/dovecot.py) with 8 users, each holding 500 different
   messages of the deterministic corpus (bench/corpus.py, 2-8 KB text and HTML; no large
   attachments unless --attach-share), warmed up untimed;
2. each mailbox behind its own latency proxy (bench/latency_proxy.py, a process of its own)
   adding 25 ms each way,
   i.e. 50 ms of round trip: eight servers "across the internet";
3. rounds of, in a rotating order (A B C D, B C D A, ...), every tool fetching every message of
   the 8 mailboxes into an empty store, mail left on the server:
   * poptui --jobs 1: `poptui fetch --all --jobs 1`, the mailboxes one after another;
   * poptui --jobs 8: `poptui fetch --all --jobs 8`, all at once;
   * fetchmail: one run with the 8 mailboxes in its rc file (it polls them in turn), MDA
     `cat > $(mktemp DIR/m.XXXXXXXX)` once per message (bench/fetch_bench.py's
     `cat > DIR/$$` loses messages here: over 4,000 deliveries a shell's PID comes round).
     Eight fetchmail processes at once, one per mailbox, are not measured: as root, all but
     one exit at once with "another foreground fetchmail is running", whatever their --pidfile;
   each run is checked to have stored every message;
4. prints the median wall time of each tool and the ratios.

The machine has 2 cores and may be shared: take the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import poplib
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import corpus  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402

POPTUI = ROOT / ".venv" / "bin" / "poptui"
PASSWORD = "bench-pass-1"
RUN_TIMEOUT = 3600
Prepare = Callable[[Path], tuple[list[list[str]], int]]
"""Sets up a run's folder; the commands to start at once (and nothing else yet: 0)."""


def fill(server: DovecotServer, user: str, first: int, count: int, spec: corpus.CorpusSpec) -> int:
    """`count` corpus messages straight into the user's Maildir; their total size."""
    server.add_user(user, PASSWORD)
    maildir = server.maildir(user)
    owner = maildir.stat()
    total = 0
    base = int(time.time()) - count
    for seq in range(count):
        raw = corpus.message(first + seq, spec)
        name = f"{base + seq}.M{seq:06d}P1Q{first + seq:08d}.bench"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.rename(maildir / "new" / name)
        total += len(raw)
    client = poplib.POP3(server.host, server.plain_port, timeout=120)  # index, cache: untimed
    client.user(user)
    client.pass_(PASSWORD)
    for number in range(1, client.stat()[0] + 1):
        client.retr(number)
    client.quit()
    return total


def poptui_env(workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "POPTUI_DATABASE": f"sqlite:///{workdir}/poptui.db",
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_STATE_HOME": str(workdir / "state"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }


def make_template(scratch: Path, users: list[str], ports: list[int]) -> Path:
    """A poptui database with the 8 accounts (aimed at the proxies), made once by the CLI."""
    template = scratch / "poptui-template"
    template.mkdir()
    env = poptui_env(template)
    for user, port in zip(users, ports, strict=True):
        steps = [
            ["account", "add", user, "--email", f"{user}@example.com", "--incoming-host",
             "127.0.0.1", "--incoming-port", str(port), "--incoming-security", "none",
             "--username", user, "--delete-policy", "leave", "--no-preset"],
            ["secrets", "use", "command", user, "--incoming", f"printf %s {PASSWORD}"],
        ]  # fmt: skip
        for step in steps:
            subprocess.run([str(POPTUI), *step], env=env, check=True, capture_output=True)
    return template


def stored_in_poptui(workdir: Path) -> int:
    with sqlite3.connect(workdir / "poptui.db") as db:
        return int(db.execute("SELECT count(*) FROM message").fetchone()[0])


def run_poptui(jobs: int, template: Path) -> Callable[[Path], tuple[list[list[str]], int]]:
    def prepare(workdir: Path) -> tuple[list[list[str]], int]:
        for item in template.iterdir():
            if item.is_file():
                shutil.copy(item, workdir / item.name)
        return [[str(POPTUI), "fetch", "--all", "--quiet", "--jobs", str(jobs)]], 0

    return prepare


def fetchmail_rc(workdir: Path, polls: list[tuple[str, int]], out: Path) -> Path:
    """An rc file polling every mailbox in turn, each message into a new file of `out`."""
    out.mkdir(parents=True)
    lines = ["set no syslog", "set no bouncemail"]
    for user, port in polls:
        lines += [
            f"poll 127.0.0.1 with proto POP3 port {port} auth password",
            f'  user "{user}" there with password "{PASSWORD}" is root here',
            "  options fetchall keep no rewrite",
            '  sslproto ""',
            f'  mda "cat > $(mktemp {out}/m.XXXXXXXX)"',
        ]
    rc = workdir / "fetchmailrc"
    rc.write_text("\n".join(lines) + "\n")
    rc.chmod(0o600)
    return rc


def run_fetchmail(polls: list[tuple[str, int]]) -> Prepare:
    def prepare(workdir: Path) -> tuple[list[list[str]], int]:
        home = workdir / "fm"
        home.mkdir()
        rc = fetchmail_rc(home, polls, workdir / "mail")
        argv = ["env", f"FETCHMAILHOME={home}", "fetchmail", "-f", str(rc), "--nodetach", "-s"]
        return [[*argv, "--pidfile", str(home / "fetchmail.pid")]], 0

    return prepare


def stored_files(workdir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(workdir / "mail"))


def timed(
    argvs: list[list[str]], env: dict[str, str], workdir: Path
) -> tuple[float, float, list[int]]:
    """Start every command at once, wait for all: wall time, CPU seconds, exit codes."""
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            argv,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"err{i}").open("w"),
        )
        for i, argv in enumerate(argvs)
    ]
    cpu, codes = 0.0, []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        codes.append(process.returncode)
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu, codes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mailboxes", type=int, default=8)
    ap.add_argument("--messages", type=int, default=500, help="per mailbox")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.025, help="seconds added each way")
    ap.add_argument("--jobs", type=int, default=8, help="poptui's --jobs for the concurrent run")
    ap.add_argument("--attach-share", type=float, default=0.0)
    ap.add_argument("--tools", default="seq,conc,fetchmail")
    ap.add_argument("--quick", action="store_true", help="100 messages, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.messages, args.rounds = 100, 1
    spec = corpus.CorpusSpec(attach_share=args.attach_share)
    server = DovecotServer()
    proxies: list[subprocess.Popen[str]] = []
    scratch = Path(tempfile.mkdtemp(prefix="poptui-concurrent-bench-"))
    try:
        server.start()
        users = [f"bench{n}" for n in range(args.mailboxes)]
        size = sum(
            fill(server, user, n * args.messages, args.messages, spec)
            for n, user in enumerate(users)
        )
        expected = args.mailboxes * args.messages
        print(
            f"{args.mailboxes} mailboxes x {args.messages} messages ({size / 1e6:.1f} MB), "
            f"each behind {2 * args.delay * 1000:.0f} ms of round trip; {args.rounds} rounds",
            flush=True,
        )
        proxies = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(BENCH / "latency_proxy.py"),
                    server.host,
                    str(server.plain_port),
                    str(args.delay),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in users
        ]
        ports = [int(proxy.stdout.readline()) for proxy in proxies if proxy.stdout]
        template = make_template(scratch, users, ports)
        polls = list(zip(users, ports, strict=True))
        tools: dict[
            str, tuple[Callable[[Path], tuple[list[list[str]], int]], Callable[[Path], int]]
        ] = {
            "seq": (run_poptui(1, template), stored_in_poptui),
            "conc": (run_poptui(args.jobs, template), stored_in_poptui),
            "fetchmail": (run_fetchmail(polls), stored_files),
        }
        chosen = [name for name in args.tools.split(",") if name in tools]
        times: dict[str, list[float]] = {name: [] for name in chosen}
        for round_ in range(args.rounds):
            order = chosen[round_ % len(chosen) :] + chosen[: round_ % len(chosen)]
            for name in order:
                prepare, count = tools[name]
                workdir = scratch / f"run-{round_}-{name}"
                workdir.mkdir()
                argvs, _ = prepare(workdir)
                subprocess.run(["sync"], check=False)
                wall, cpu, codes = timed(argvs, poptui_env(workdir), workdir)
                got = count(workdir)
                ok = got == expected and all(code == 0 for code in codes)
                print(
                    f"round {round_ + 1} {name:13s} {wall:7.2f} s (CPU {cpu:6.2f} s, load "
                    f"{os.getloadavg()[0]:.1f})  stored {got}/{expected}"
                    f"{'' if ok else '  FAILED: exit ' + str(codes)}",
                    flush=True,
                )
                if ok:
                    times[name].append(wall)
                else:
                    for err in sorted(workdir.glob("err*")):
                        for line in err.read_text(errors="replace").splitlines()[-3:]:
                            print(f"    {err.name}: {line}", flush=True)
                shutil.rmtree(workdir, ignore_errors=True)
        return report(times, args)
    finally:
        for proxy in proxies:
            proxy.kill()
            proxy.wait()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def report(times: dict[str, list[float]], args: argparse.Namespace) -> int:
    medians = {name: statistics.median(ts) for name, ts in times.items() if ts}
    labels = {
        "seq": "poptui fetch --all --jobs 1",
        "conc": f"poptui fetch --all --jobs {args.jobs}",
        "fetchmail": "fetchmail (one run, 8 polls)",
    }
    print()
    print("| tool | median wall (s) | runs | vs concurrent poptui |")
    print("| --- | ---: | ---: | ---: |")
    base = medians.get("conc")
    for name, median in medians.items():
        ratio = f"{median / base:.2f}x" if base else "-"
        print(f"| {labels[name]} | {median:.2f} | {len(times[name])} | {ratio} |")
    ok = True
    if base and "seq" in medians:
        speedup = medians["seq"] / base
        passed = speedup >= 3
        ok &= passed
        print(
            f"\nconcurrent vs sequential: {speedup:.2f}x faster (target >= 3x): "
            f"{'PASS' if passed else 'FAIL'}"
        )
    for peer in ("fetchmail",):
        if base and peer in medians:
            passed = base < medians[peer]
            ok &= passed
            print(
                f"concurrent poptui vs {labels[peer]}: {medians[peer] / base:.2f}x faster "
                f"(target: ahead): {'PASS' if passed else 'FAIL'}"
            )
    print(f"load average now: {os.getloadavg()[0]:.2f} (2 cores, shared: ratios, not seconds)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
