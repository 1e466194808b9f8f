"""poptui into a team PostgreSQL database: a contender of bench/fetch_speed.py, and on its own
SQLite against PostgreSQL at several mailbox sizes (issue #11: PostgreSQL at most 1.3x SQLite).

    .venv/bin/python bench/postgres_poptui.py                  # 1,000 and 5,000 messages, 3 rounds
    .venv/bin/python bench/postgres_poptui.py --messages 1000 --repeat 1 --no-write   # a smoke run
    .venv/bin/python bench/postgres_poptui.py --baseline /work/main --no-write   # and main's, too

A private PostgreSQL (tests/servers/postgres.py) with a real server's durability (fsync,
synchronous commit and full-page writes on, as SQLite runs with synchronous=FULL); before each
run (untimed) a fresh database is prepared as a team would: `poptui admin setup-postgres` as
the superuser (row-level security on), then the benchmark's login adds the account, as in the
SQLite runs. The server's own CPU time during each fetch is measured too (its processes are
not poptui's children, so GNU time does not see them). With `--baseline`, a second checkout's
poptui fetches into the same server in the same rounds (before/after a change of the PostgreSQL
path; SQLite is measured once, from the checkout under test).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import speed_tools as st  # noqa: E402

from tests.servers.postgres import PostgresServer  # noqa: E402

LOGIN = "bench_login"


class PostgresPoptui(st.Poptui):
    stored_as = "PostgreSQL team database (row-level security), same commit cadence"

    def __init__(
        self,
        scratch: Path,
        label: str = "poptui into PostgreSQL",
        *,
        source: Path | None = None,
        sharing: PostgresPoptui | None = None,
    ) -> None:
        """`source`: a checkout whose tui/ is snapshotted and run instead of the one under
        test; `sharing`: another contender whose server (started by it) this one fetches into."""
        super().__init__(scratch, label)
        self.server: PostgresServer = sharing.server if sharing else PostgresServer(durable=True)
        self._owns_server = sharing is None
        self.password: str = sharing.password if sharing else secrets.token_urlsafe(12)
        self._tag = "b" if sharing else "a"
        self._source: Path | None = None
        if source is not None:
            self._source = scratch / f"source-{self._tag}"
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source / "tui", self._source / "tui", ignore=ignore)
        self._serial = 0
        self._url = ""
        self._cpu_at_start = 0.0
        self._version = ""
        self.server_cpu: dict[str, list[float]] = {}
        """CPU seconds of the PostgreSQL server's processes per run, by target label."""

    def __enter__(self) -> Self:
        if self._owns_server:
            self.server.start()
            self.server.create_role(LOGIN, self.password)
        self._version = self.server.psql("SHOW server_version").strip()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_server:
            self.server.stop()

    def server_version(self) -> str:
        return self._version

    def database_url(self, workdir: Path) -> str:
        return self._url

    def env_for(self, workdir: Path) -> dict[str, str]:
        env = super().env_for(workdir)
        if self._source is not None:
            env["PYTHONPATH"] = str(self._source)
        return env

    def prepare(self, target: st.Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        if self._url:
            self.server.drop_database(self._url.rsplit("/", 1)[1])
        self._serial += 1
        name = self.server.create_database(f"poptui_bench_{self._tag}{self._serial}")
        self._url = self.server.url(name)  # the superuser, for the set-up
        self.run_setup([*st.POPTUI, "admin", "setup-postgres", "--user", LOGIN], workdir)
        self._url = self.server.url(name, LOGIN, self.password)
        self.set_up(target, workdir)
        return [*st.POPTUI, "fetch", "--account", "Bench"], self.env_for(workdir)

    def settle(self) -> None:
        checkpoint(self.server)
        self._cpu_at_start = self.server_cpu_seconds()

    def server_cpu_seconds(self) -> float:
        """User and system CPU of the postmaster and its children (backends, WAL writer, …)."""
        root = self.server._proc.pid if self.server._proc else -1
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == root or int(fields[1]) == root:
                total += sum(int(value) for value in fields[11:15]) / tick
        return total

    def count(self, target: st.Target, workdir: Path, stdout: str) -> tuple[int, int]:
        spent = self.server_cpu_seconds() - self._cpu_at_start
        self.server_cpu.setdefault(target.mode, []).append(spent)
        name = self._url.rsplit("/", 1)[1]
        out = self.server.psql(
            "SELECT count(*), coalesce(sum(octet_length(raw)), 0) FROM message_source", name
        )
        count, size = out.split("|")
        # Gone before the next run: autovacuum would otherwise visit the new table then.
        self.server.drop_database(name)
        self._url = ""
        return int(count), int(size)


def checkpoint(server: PostgresServer) -> None:
    """Write out what the server still holds of earlier runs (the checkpointer would do it
    during the next one, whichever tool that is, SQLite's runs included)."""
    server.psql("CHECKPOINT")


class SqliteBesidePostgres(st.Poptui):
    """poptui into SQLite, its runs interleaved with runs into `sharing`'s server."""

    name = "poptui into SQLite"

    def __init__(self, scratch: Path, sharing: PostgresPoptui) -> None:
        super().__init__(scratch, self.name)
        self.sharing = sharing

    def settle(self) -> None:
        checkpoint(self.sharing.server)


class LimitIntoPostgres(st.Tool):
    """The practical limit into PostgreSQL: bench/pipelined_limit.py storing by binary COPY
    into an unindexed table of its own, in the server a poptui contender started (`sharing`).
    What no client can beat on this machine: every PostgreSQL client pays the server's work of
    taking the bytes into its WAL and table, on the same two cores as Dovecot."""

    name = "limit into PostgreSQL (pipelined raw socket, binary COPY)"
    stored_as = "one bytea row per message, binary COPY, commit every 16 MB, no index or RLS"
    exact_bytes = True

    def __init__(self, sharing: PostgresPoptui) -> None:
        self.sharing = sharing
        self.server_cpu: dict[str, list[float]] = {}
        self._serial = 0
        self._name = ""
        self._cpu_at_start = 0.0

    def prepare(self, target: st.Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        import pipelined_limit

        server = self.sharing.server
        if self._name:
            server.drop_database(self._name)
        self._serial += 1
        self._name = server.create_database(f"limit_bench_{self._serial}", owner=LOGIN)
        server.psql(pipelined_limit.LIMIT_TABLE, self._name, LOGIN)
        url = server.url(self._name, LOGIN, self.sharing.password)
        argv = [st.PYTHON, str(st.BENCH / "pipelined_limit.py"), target.host, str(target.port)]
        argv += [target.user, target.password, str(workdir), "--postgres", url]
        if target.cafile:
            argv += ["--tls", str(target.cafile)]
        return argv, st.clean_env(workdir)

    def settle(self) -> None:
        checkpoint(self.sharing.server)
        self._cpu_at_start = self.sharing.server_cpu_seconds()

    def count(self, target: st.Target, workdir: Path, stdout: str) -> tuple[int, int]:
        spent = self.sharing.server_cpu_seconds() - self._cpu_at_start
        self.server_cpu.setdefault(target.mode, []).append(spent)
        out = self.sharing.server.psql(
            "SELECT count(*), coalesce(sum(octet_length(raw)), 0) FROM limit_mail", self._name
        )
        count, size = out.split("|")
        self.sharing.server.drop_database(self._name)  # as PostgresPoptui.count
        self._name = ""
        return int(count), int(size)


# ------------------------------------------------------------ standalone: SQLite vs PostgreSQL


def _parse_args(argv: list[str] | None) -> Any:
    import argparse

    import corpus

    parser = argparse.ArgumentParser(description="poptui into PostgreSQL against SQLite")
    parser.add_argument("--messages", default="1000,5000", help="mailbox sizes, comma separated")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--seed", type=int, default=corpus.CorpusSpec.seed)
    parser.add_argument("--source", type=Path, default=st.ROOT, help="a checkout to measure")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a second checkout fetching into PostgreSQL in the same rounds",
    )
    parser.add_argument(
        "--no-limit",
        action="store_true",
        help="leave out the limit into PostgreSQL (the raw client storing by COPY)",
    )
    parser.add_argument("--out", type=Path, default=st.BENCH / "RESULTS_POSTGRES.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.sizes = [int(n) for n in args.messages.split(",") if n]
    return args


def _ratios(results: Any, over: str, under: str, size: str) -> list[float]:
    """`over` / `under` wall time of each round (the runs of a round are neighbours in time)."""
    top = results.runs.get(("postgres", over, size), [])
    bottom = results.runs.get(("postgres", under, size), [])
    return [t.wall / b.wall for t, b in zip(top, bottom, strict=False)]


def _report(
    results: Any,
    args: Any,
    sqlite: str,
    contenders: list[PostgresPoptui],
    loads: list[float],
    limit: LimitIntoPostgres | None = None,
) -> str:
    """The table: one row per size and PostgreSQL contender (this checkout, then the baseline),
    and with a baseline, this checkout's PostgreSQL time over the baseline's per size."""
    import statistics

    def cpu(tool: str, size: str) -> float:
        runs = results.runs.get(("postgres", tool, size), [])
        return statistics.median(m.cpu for m in runs) if runs else float("nan")

    lines = [
        "| messages | poptui into PostgreSQL | SQLite wall s | PostgreSQL wall s "
        "| ratio of medians | per-round ratios | poptui CPU s SQLite / PostgreSQL "
        "| PostgreSQL server CPU s | peak memory MB (tree PSS) SQLite / PostgreSQL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in map(str, args.sizes):
        lite = results.wall("postgres", sqlite, size)
        for postgres in contenders:
            pg = results.wall("postgres", postgres.name, size)
            server = postgres.server_cpu.get(size) or [float("nan")]
            rounds = ", ".join(f"{r:.2f}" for r in _ratios(results, postgres.name, sqlite, size))
            lines.append(
                f"| {int(size):,} | {postgres.name} | {lite:.2f} | {pg:.2f} "
                f"| **{pg / lite:.2f}x** | {rounds} "
                f"| {cpu(sqlite, size):.2f} / {cpu(postgres.name, size):.2f} "
                f"| {statistics.median(server):.2f} "
                f"| {results.memory('postgres', sqlite, size):.1f} / "
                f"{results.memory('postgres', postgres.name, size):.1f} |"
            )
    if limit is not None:
        lines += _limit_lines(results, args, sqlite, contenders[0].name, limit)
    if len(contenders) > 1:
        now, before = contenders[0].name, contenders[1].name
        lines.append("")
        for size in map(str, args.sizes):
            ratio = results.wall("postgres", now, size) / results.wall("postgres", before, size)
            rounds = ", ".join(f"{r:.2f}" for r in _ratios(results, now, before, size))
            lines.append(
                f"{int(size):,} messages, {now} / {before}: **{ratio:.2f}x** (rounds: {rounds})  "
            )
    lines += [
        "",
        f"Medians of {args.repeat} interleaved rounds (SQLite, PostgreSQL, then the other way "
        "round), each run a full `poptui fetch` (plain POP3, local Dovecot, the bench/corpus.py "
        "mail) into an empty store: SQLite in WAL mode with synchronous=FULL; PostgreSQL "
        f"{contenders[0].server_version()} with fsync, synchronous commit and full-page writes "
        "on, a "
        "fresh team database made by `poptui admin setup-postgres`, fetched into as a member "
        "role (row-level security in force). The server's CPU is not in poptui's. Failed runs "
        "are not in the medians. Load average during the run: "
        f"{', '.join(f'{x:.1f}' for x in loads)} on "
        f"{os.cpu_count()} CPUs shared with other work, so the wall times are noisy; the "
        "ratios from the same rounds are the figures to compare.",
    ]
    if results.failures:
        lines += ["", "Failed runs (not in the medians):", *[f"- {f}" for f in results.failures]]
    return "\n".join(lines) + "\n"


def _limit_lines(
    results: Any, args: Any, sqlite: str, poptui: str, limit: LimitIntoPostgres
) -> list[str]:
    """The limit into PostgreSQL against poptui into SQLite (can any client meet 1.3x here?)
    and poptui into PostgreSQL against that limit."""
    import statistics

    lines = [
        "",
        "| messages | the limit into PostgreSQL wall s | its server CPU s | client CPU s "
        "| limit into PostgreSQL / poptui into SQLite (rounds) "
        "| poptui into PostgreSQL / the limit into PostgreSQL (rounds) |",
        "|---|---|---|---|---|---|",
    ]
    for size in map(str, args.sizes):
        wall = results.wall("postgres", limit.name, size)
        runs = results.runs.get(("postgres", limit.name, size), [])
        client = statistics.median(m.cpu for m in runs) if runs else float("nan")
        server = statistics.median(limit.server_cpu.get(size) or [float("nan")])
        over_sqlite = wall / results.wall("postgres", sqlite, size)
        under_poptui = results.wall("postgres", poptui, size) / wall
        lines.append(
            f"| {int(size):,} | {wall:.2f} | {server:.2f} | {client:.2f} "
            f"| **{over_sqlite:.2f}x** "
            f"({', '.join(f'{r:.2f}' for r in _ratios(results, limit.name, sqlite, size))}) "
            f"| **{under_poptui:.2f}x** "
            f"({', '.join(f'{r:.2f}' for r in _ratios(results, poptui, limit.name, size))}) |"
        )
    return lines


def _commit(checkout: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Interleaved rounds of a full fetch into SQLite and into PostgreSQL; medians and ratios."""
    import contextlib

    import corpus
    import fetch_speed as fs

    from tests.servers.dovecot import DovecotServer

    args = _parse_args(argv)
    scratch = st.scratch_as_root("poptui-pg-")
    st.snapshot(scratch, args.source)
    commit = _commit(args.source)
    results = fs.Results()
    loads = [os.getloadavg()[0]]
    contenders: list[PostgresPoptui] = []
    limit: LimitIntoPostgres | None = None
    try:
        with contextlib.ExitStack() as stack:
            dovecot = stack.enter_context(DovecotServer())
            label = f"this ({commit})" if args.baseline else "poptui into PostgreSQL"
            contenders.append(stack.enter_context(PostgresPoptui(scratch, label)))
            if args.baseline:
                base = _commit(args.baseline)
                baseline = PostgresPoptui(
                    scratch, f"baseline ({base})", source=args.baseline, sharing=contenders[0]
                )
                contenders.append(stack.enter_context(baseline))
            limit = None if args.no_limit else LimitIntoPostgres(contenders[0])
            sqlite = SqliteBesidePostgres(scratch, contenders[0])
            for size in args.sizes:
                user = f"pg{size}"
                print(f"corpus: {size} messages into Dovecot", flush=True)
                wire = fs.fill_maildir(dovecot, user, size, corpus.CorpusSpec(seed=args.seed))
                fs.warm_up(dovecot.host, dovecot.plain_port, user, fs.PASSWORD, full=True)
                target = fs.dovecot_target(dovecot, user, "plain", size, wire, str(size))
                pairs: list[tuple[st.Tool, st.Target]] = [(sqlite, target)]
                pairs += [(postgres, target) for postgres in contenders]
                if limit is not None:
                    pairs.append((limit, target))
                fs.paired_rounds("postgres", pairs, args.repeat, scratch, results)
                loads.append(os.getloadavg()[0])
                shutil.rmtree(dovecot.maildir(user), ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = _report(results, args, SqliteBesidePostgres.name, contenders, loads, limit)
    print("\n" + report)
    if not args.no_write:
        header = (
            "# poptui into PostgreSQL against SQLite (issue #11 item 5)\n\n"
            f"`bench/postgres_poptui.py`, poptui at {commit or 'this checkout'}.\n\n"
        )
        args.out.write_text(header + report)
        print(f"written: {args.out}")
    return 1 if results.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
