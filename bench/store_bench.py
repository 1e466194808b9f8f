"""poptui's own fetch, before and after a change: SQLite and PostgreSQL, plain and TLS, memory.

    .venv/bin/python bench/store_bench.py --messages 2000 --rounds 3          # main vs worktree
    .venv/bin/python bench/store_bench.py --before HEAD~3 --stores postgres
    .venv/bin/python bench/store_bench.py --ceiling                           # one 15 MiB message

Two copies of tui/ (a git ref, default `main`, and this worktree as it is now) fetch the same
corpus (bench/corpus.py) from one private Dovecot into a fresh store per run, in interleaved
rounds (A B B A ...), so machine noise hits both alike. PostgreSQL runs go into a fresh team
database (row-level security in force, a member role, not the owner). Prints per cell the
median wall time, the after/before ratio, the PostgreSQL/SQLite ratio per tree, and the peak
memory of poptui's whole process tree (sum of PSS, bench/tree_memory.py; ru_maxrss, the largest
single process, beside it). `fetch_bench.py` compares poptui with the other tools; this one
compares poptui with itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
import fetch_bench  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

PYTHON = fetch_bench.PYTHON
USER, PASSWORD = "storebench", "bench-pass-1"
CEILING_USER = "ceiling"


@dataclass(frozen=True)
class Run:
    wall: float
    peak_kb: int
    """Peak memory of the whole process tree, sum of PSS."""
    maxrss_kb: int
    """wait4()'s ru_maxrss: the largest single process."""
    cpu: float

    def __str__(self) -> str:
        return (
            f"{self.wall:6.2f} s wall {self.cpu:6.2f} s CPU {self.peak_kb / 1024:6.1f} MB PSS "
            f"(ru_maxrss {self.maxrss_kb / 1024:.1f})"
        )


Cells = dict[tuple[str, str, str], list[Run]]


def snapshot(ref: str, scratch: Path, name: str) -> Path:
    """tui/ as of `ref` ("worktree": as it is on disk now) in a directory of its own."""
    target = scratch / f"src-{name}"
    target.mkdir()
    if ref == "worktree":
        shutil.copytree(ROOT / "tui", target / "tui")
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "tui"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def env_for(src: Path, home: Path, database: str) -> dict[str, str]:
    env = fetch_bench.clean_env(home)
    env.update(
        PYTHONPATH=str(src),
        POPTUI_DATABASE=database,
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


def poptui(env: dict[str, str], *args: str) -> None:
    # cwd: `python -m` puts it first on sys.path, and this checkout's tui/ must not shadow the
    # snapshot on PYTHONPATH.
    done = subprocess.run(
        [PYTHON, "-m", "tui", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=env["HOME"],
    )
    if done.returncode != 0:
        raise SystemExit(f"poptui {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


class Stores:
    """Fresh, empty stores: an SQLite file, or a PostgreSQL team database and member role."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.postgres: PostgresServer | None = None

    def fresh(self, kind: str, home: Path, src: Path) -> tuple[str, str]:
        """(database URL for poptui, how to count what it stored); a team database is set up
        by the tree under test (`src`), so it has that tree's schema."""
        if kind == "sqlite":
            return f"sqlite:///{home}/poptui.db", str(home / "poptui.db")
        if self.postgres is None:
            self.postgres = PostgresServer().start()
        name = "bench_" + uuid.uuid4().hex[:10]
        role, password = "member_" + uuid.uuid4().hex[:8], secrets.token_urlsafe(12)
        self.postgres.create_database(name)
        superuser = self.postgres.url(name)
        script = (
            "import sys\n"
            "from tui.core.sharing.postgres_rls import set_role_password, setup_team_database\n"
            "setup_team_database(sys.argv[1], [sys.argv[2]])\n"
            "set_role_password(sys.argv[1], sys.argv[2], sys.argv[3])\n"
        )
        env = env_for(src, home, "")
        argv = [PYTHON, "-c", script, superuser, role, password]
        subprocess.run(argv, env=env, check=True, capture_output=True, cwd=home)
        return self.postgres.url(name, role, password), superuser

    def count(self, kind: str, where: str) -> tuple[int, int]:
        sql = "SELECT count(*), coalesce(sum(length(raw)), 0) FROM message_source"
        if kind == "sqlite":
            with contextlib.closing(sqlite3.connect(where)) as lite:
                count, size = lite.execute(sql).fetchone()
            return int(count), int(size)
        from tui.core.storage.db import make_database

        db = make_database(where)
        db.connect()
        try:
            count, size = db.execute_sql(sql).fetchone()
        finally:
            db.close()
        return int(count), int(size)

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()


def one_run(
    src: Path,
    stores: Stores,
    kind: str,
    mode: str,
    server: DovecotServer,
    user: str,
    expected: int,
) -> Run:
    """Set up an account in a fresh store, time one `poptui fetch`."""
    home = Path(tempfile.mkdtemp(dir=stores.scratch))
    url, where = stores.fresh(kind, home, src)
    env = env_for(src, home, url)
    add = ["account", "add", "Bench", "--email", f"{user}@example.com", "--incoming-host"]
    add += [server.host, "--incoming-port"]
    add += [str(server.plain_port if mode == "plain" else server.tls_port)]
    add += ["--incoming-security", "none" if mode == "plain" else "ssl", "--username", user]
    add += ["--delete-policy", "leave", "--no-preset"]
    if mode == "tls":
        add += ["--pin-fingerprint", server.cert_fingerprint]
    poptui(env, *add)
    poptui(env, "secrets", "use", "command", "Bench", "--incoming", f"printf %s {PASSWORD}")
    where_src = subprocess.run(
        [PYTHON, "-c", "import tui; print(tui.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        cwd=env["HOME"],
    ).stdout
    if not where_src.startswith(str(src)):
        raise SystemExit(f"the snapshot {src} is not the tui imported: {where_src}")
    argv = [PYTHON, "-m", "tui", "fetch", "--account", "Bench"]
    done = fetch_bench.run_measured(argv, env, Path(env["HOME"]))
    if done.rc != 0:
        raise SystemExit(f"fetch failed ({src.name}, {kind}, {mode}):\n{done.err}")
    count, _size = stores.count(kind, where)
    if count != expected:
        raise SystemExit(f"{src.name} {kind} {mode}: stored {count} of {expected}")
    shutil.rmtree(home, ignore_errors=True)
    return Run(done.wall, done.peak_kb, done.maxrss_kb, done.cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default="main", help="git ref of the 'before' tree")
    ap.add_argument("--after", default="worktree", help="git ref, or 'worktree' (default)")
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--modes", default="plain,tls")
    ap.add_argument(
        "--ceiling", action="store_true", help="only: peak memory fetching one 15 MiB message"
    )
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="poptui-store-bench-"))
    os.chmod(scratch, 0o755)
    trees = {
        name: snapshot(ref, scratch, name)
        for name, ref in (("before", args.before), ("after", args.after))
    }
    server = DovecotServer().start()
    stores = Stores(scratch)
    try:
        if args.ceiling:
            return ceiling(args, trees, stores, server)
        stats = fetch_bench.fill_maildir(
            server, USER, list(range(args.messages)), corpus.CorpusSpec()
        )
        fetch_bench.warm_up(server, USER, full=True)
        print(
            f"{stats['messages']} messages, {stats['wire_bytes'] / 1e6:.1f} MB on the wire; "
            f"before = {args.before}, after = {args.after}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        cells: Cells = {}
        order = list(trees)
        for round_ in range(args.rounds):
            for kind in args.stores.split(","):
                for mode in args.modes.split(","):
                    for name in order if round_ % 2 == 0 else order[::-1]:
                        run = one_run(
                            trees[name], stores, kind, mode, server, USER, stats["messages"]
                        )
                        cells.setdefault((name, kind, mode), []).append(run)
                        print(f"  {name:6} {kind:8} {mode:5} {run}", flush=True)
        report(cells, args)
    finally:
        stores.stop()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report(cells: Cells, args: argparse.Namespace) -> None:
    def wall(key: tuple[str, str, str]) -> float:
        return statistics.median(r.wall for r in cells[key])

    def cpu(key: tuple[str, str, str]) -> float:
        return statistics.median(r.cpu for r in cells[key])

    def rss(key: tuple[str, str, str]) -> float:
        return max(r.peak_kb for r in cells[key]) / 1024

    print(
        f"\n{args.messages} messages, median of {args.rounds}; peak memory (whole process tree, "
        "PSS): the max of the runs;"
    )
    print("CPU: user + system of the poptui process (the database server's not counted)")
    print(
        "| store | mode | wall s before | after | after/before | CPU s before | after "
        "| peak memory MB (tree PSS) before | after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.stores.split(","):
        for mode in args.modes.split(","):
            b, a = ("before", kind, mode), ("after", kind, mode)
            print(
                f"| {kind} | {mode} | {wall(b):.2f} | {wall(a):.2f} | {wall(a) / wall(b):.2f} "
                f"| {cpu(b):.2f} | {cpu(a):.2f} | {rss(b):.1f} | {rss(a):.1f} |"
            )
    if "postgres" in args.stores and "sqlite" in args.stores:
        print("\n| tree | mode | PostgreSQL / SQLite, wall |\n|---|---|---|")
        for name in ("before", "after"):
            for mode in args.modes.split(","):
                ratio = wall((name, "postgres", mode)) / wall((name, "sqlite", mode))
                print(f"| {name} | {mode} | {ratio:.2f} |")


def ceiling(
    args: argparse.Namespace, trees: dict[str, Path], stores: Stores, server: DovecotServer
) -> int:
    """Peak memory fetching one message at the ceiling (15 MiB on the wire), per tree and store."""
    from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES

    line = b"x" * 76 + b"\r\n"
    head = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n"
    head += b"Message-ID: <big@example.com>\r\n\r\n"
    body = line * ((MAX_MESSAGE_BYTES - len(head) - 2048) // len(line))
    server.add_user(CEILING_USER, PASSWORD)
    server.deliver(CEILING_USER, (head + body).replace(b"\r\n", b"\n"))
    fetch_bench.warm_up(server, CEILING_USER, full=True)
    print(
        f"one message of {len(head + body) / 2**20:.2f} MiB; peak memory of the process tree, "
        "PSS, in MB (max of the runs; ru_maxrss in brackets)"
    )
    for kind in args.stores.split(","):
        for name, src in trees.items():
            runs = [
                one_run(src, stores, kind, "plain", server, CEILING_USER, 1)
                for _ in range(args.rounds)
            ]
            values = ", ".join(f"{r.peak_kb / 1024:.1f} ({r.maxrss_kb / 1024:.1f})" for r in runs)
            print(f"  {kind:8} {name:6}: max {max(r.peak_kb for r in runs) / 1024:.1f}: {values}")
    return 0


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())
