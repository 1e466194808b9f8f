"""Fetch benchmark: poptui against fetchmail, getmail6 and a bare poplib loop, side by side.

    .venv/bin/python bench/fetch_bench.py          # 5,000 messages, 3 repeats, writes RESULTS.md
    .venv/bin/python bench/fetch_bench.py --quick  # 500 messages, 1 repeat: a smoke run

What it does:

1. generates a deterministic corpus (bench/corpus.py: 2-8 KB text in several charsets, HTML
   alternatives, a few 0.5-3 MB base64 attachments) straight into a private Dovecot's Maildir
   (user ``bench``); for the memory check, the first ``--small`` messages into user ``small``
   and the same messages repeated ``messages / small`` times into user ``repeated`` (the same
   content, a mailbox five times the size);
2. warms Dovecot up (index, cached sizes, page cache) with one untimed poplib pass;
3. for each repeat, runs every tool against the same mailbox over plain POP3 and implicit TLS,
   keeping the mail on the server (each run starts from an empty local store), in a rotated order
   so machine noise hits every tool alike; records wall time (perf_counter around the child) and
   the peak memory of the tool's whole process tree (bench/tree_memory.py: the sum of PSS over
   the tool and every process it forks, sampled while it runs; the sum of RSS and
   ``ru_maxrss`` from ``os.wait4``, the largest single process, beside it) and checks that every
   message arrived;
4. measures poptui's "nothing new" run on the fetched mailbox and poptui's peak memory on the
   small and the repeated mailbox (memory must not grow with the mailbox);
5. prints medians, ratios and PASS/FAIL per target, and writes bench/RESULTS.md.

Durability, per tool (what "stored" means when the tool exits):

* poptui: SQLite (WAL, synchronous=FULL), one transaction per 4 MB or 2 s (at most 1000
  messages), i.e. an fsync of the WAL per batch; raw bytes plus parsed headers
  (From/To/Subject/Date/Message-ID).
* fetchmail: ``--mda`` run once per message (fetchmail's own delivery path; it pipes the
  message into ``/bin/sh -c MDA``). Two variants: ``fetchmail`` =
  ``cat > $(mktemp DIR/m.XXXXXX)`` (one file per message, no fsync: the fastest fair MDA) and
  ``fetchmail+fsync`` = ``dd of=$(mktemp DIR/m.XXXXXX) conv=fsync`` (one fsync per message,
  like a Maildir MDA).
* getmail6: ``[destination] type = Maildir``: tmp/ + fsync + rename per message.
* poplib: nothing stored (RETR and discard): the floor for a single-connection Python client.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import poplib
import pwd
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import corpus  # noqa: E402
import tree_memory  # noqa: E402

from tests.servers.dovecot import DovecotServer  # noqa: E402

VENV_PY = ROOT / ".venv" / "bin" / "python"
POPTUI = ROOT / ".venv" / "bin" / "poptui"
POPTUI_SRC: Path | None = None
"""Where the snapshot of tui/ under test lives (set by main); None: the installed poptui."""
POPTUI_BUILD = ""
"""Which code that is: commit, and whether tui/ had uncommitted changes (set by main)."""
GETMAIL_WRAPPER = BENCH / "getmail_norace.py"
PYTHON = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
USER, PASSWORD = "bench", "bench-pass-1"
SMALL_USER = "small"
REPEATED_USER = "repeated"
MODES = ("plain", "tls")
RUN_TIMEOUT = 1800.0
GNU_TIME = tree_memory.GNU_TIME


# ------------------------------------------------------------------ measuring a child


@dataclass
class Measured:
    wall: float
    """Seconds from spawning the child to its exit (perf_counter)."""
    peak_kb: int
    """Peak memory of the tool's whole process tree, sum of PSS (KiB): the headline figure."""
    anon_kb: int
    """Peak of its anonymous part (heap, stacks): independent of other processes on the machine,
    which divide the PSS of the interpreter's and libraries' file pages."""
    rss_sum_kb: int
    """Peak of the sum of RSS over the tree (pages shared between its processes in each)."""
    maxrss_kb: int
    """wait4()'s ru_maxrss: the largest single process of the tree (0: unknown)."""
    cpu: float
    """User + system CPU seconds of the tool and the children it reaped (MDAs)."""
    rc: int
    out: str
    err: str
    load: float
    """1-minute load average when the run started (other work on the machine)."""


@dataclass
class Run:
    tool: str
    mode: str
    m: Measured
    stored: int = 0
    stored_bytes: int = 0
    expected: int = 0
    expected_bytes: int | None = None
    rc_ok: bool = True

    @property
    def wall(self) -> float:
        return self.m.wall

    @property
    def peak_kb(self) -> int:
        return self.m.peak_kb

    @property
    def ok(self) -> bool:
        if self.expected_bytes is not None and self.stored_bytes != self.expected_bytes:
            return False
        return self.rc_ok and self.stored == self.expected

    @property
    def problem(self) -> str:
        tail = (self.m.err + self.m.out).strip().splitlines()
        return (
            f"rc {self.m.rc}, stored {self.stored}/{self.expected} messages, "
            f"{self.stored_bytes} bytes (expected {self.expected_bytes or 'any'}): "
            f"{tail[-1] if tail else ''}"
        )


def run_measured(
    argv: list[str], env: dict[str, str], workdir: Path, timeout: float = RUN_TIMEOUT
) -> Measured:
    """Run a child under GNU time and measure it (tree_memory.run): wall time, CPU of the tool
    and the descendants it reaped (its MDA processes), and the peak memory of its process tree.
    """
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    load = os.getloadavg()[0]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        usage = tree_memory.run(
            argv,
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
            timeout=timeout,
            usage_path=workdir / "child.usage",
        )
    return Measured(
        usage.wall,
        usage.tree.pss_kb,
        usage.tree.anon_kb,
        usage.tree.rss_kb,
        usage.maxrss_kb,
        usage.cpu,
        usage.rc,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        load,
    )


def poptui_argv(*args: str) -> list[str]:
    """The poptui command: the snapshot when there is one, else the installed console script."""
    if POPTUI_SRC is None:
        return [str(POPTUI), *args]
    return [PYTHON, "-m", "tui", *args]


def clean_env(home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
    }
    if POPTUI_SRC is not None:
        env["PYTHONPATH"] = str(POPTUI_SRC)
    return env


# ------------------------------------------------------------------ the tools


@dataclass
class Target:
    """Where a tool connects in one mode."""

    mode: str
    host: str
    port: int
    user: str
    password: str
    cert_path: Path
    fingerprint: str
    expected: int
    wire_bytes: int
    """Sum of the message sizes as sent (CRLF, un-dot-stuffed)."""


class Tool:
    name = ""
    durability = ""
    exact_bytes = False
    """Stores the messages byte for byte as sent (checked against the corpus)."""

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        """(messages stored, bytes stored) after the run."""
        raise NotImplementedError

    def rc_ok(self, rc: int) -> bool:
        return rc == 0


def _count_files(directory: Path) -> tuple[int, int]:
    count = size = 0
    if directory.is_dir():
        for entry in os.scandir(directory):
            if entry.is_file():
                count += 1
                size += entry.stat().st_size
    return count, size


class Poptui(Tool):
    name = "poptui"
    exact_bytes = True
    durability = "SQLite WAL, synchronous=FULL, 1 commit per 4 MB or 2 s"

    def __init__(self, scratch: Path) -> None:
        self.templates: dict[tuple[str, int, str], Path] = {}
        self.scratch = scratch

    @staticmethod
    def env_for(workdir: Path) -> dict[str, str]:
        env = clean_env(workdir)
        env.update(
            POPTUI_DATABASE=f"sqlite:///{workdir}/poptui.db",
            XDG_DATA_HOME=str(workdir / "data"),
            XDG_STATE_HOME=str(workdir / "state"),
            XDG_CONFIG_HOME=str(workdir / "config"),
            XDG_CACHE_HOME=str(workdir / "cache"),
        )
        return env

    def _template(self, target: Target) -> Path:
        key = (target.mode, target.port, target.user)
        if key in self.templates:
            return self.templates[key]
        tdir = self.scratch / f"poptui-template-{target.mode}-{target.user}"
        tdir.mkdir(parents=True)
        env = self.env_for(tdir)
        add = [
            *poptui_argv("account", "add", "Bench"),
            "--email",
            f"{target.user}@example.com",
            "--incoming-host",
            target.host,
            "--incoming-port",
            str(target.port),
            "--incoming-security",
            "none" if target.mode == "plain" else "ssl",
            "--username",
            target.user,
            "--delete-policy",
            "leave",
            "--no-preset",
        ]
        if target.mode == "tls":
            add += ["--pin-fingerprint", target.fingerprint]
        for argv in (
            add,
            [
                *poptui_argv("secrets", "use", "command", "Bench"),
                "--incoming",
                f"printf %s {target.password}",
            ],
        ):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise SystemExit(f"poptui set-up failed: {' '.join(argv)}\n{done.stderr}")
        self.templates[key] = tdir
        return tdir

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        template = self._template(target)
        shutil.copytree(template, workdir, dirs_exist_ok=True)
        return poptui_argv("fetch", "--account", "Bench"), self.env_for(workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        with contextlib.closing(sqlite3.connect(workdir / "poptui.db")) as db:
            count, size = db.execute(
                "SELECT count(*), coalesce(sum(length(raw)), 0) FROM message_source"
            ).fetchone()
        return int(count), int(size)


class Fetchmail(Tool):
    def __init__(self, fsync: bool) -> None:
        self.fsync = fsync
        self.name = "fetchmail+fsync" if fsync else "fetchmail"
        self.durability = (
            "MDA per message: dd of=$(mktemp DIR/m.XXXXXX) conv=fsync"
            if fsync
            else "MDA per message: cat > $(mktemp DIR/m.XXXXXX) (no fsync)"
        )

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        out = workdir / "mail"
        out.mkdir()
        # A file name per message from mktemp, not the shell's PID ($$): PIDs come round again
        # within one run, and a reused one overwrote an earlier message (115 of 4,000 lost once).
        target_file = f"$(mktemp {out}/m.XXXXXX)"
        mda = (
            f"dd of={target_file} conv=fsync status=none" if self.fsync else f"cat > {target_file}"
        )
        tls = (
            f'  ssl sslcertck sslcertfile "{target.cert_path}" sslproto "TLS1.2+"'
            ' sslcommonname "localhost"\n'
            if target.mode == "tls"
            else '  sslproto ""\n'
        )
        rc = workdir / "fetchmailrc"
        rc.write_text(
            "set no syslog\nset no bouncemail\n"
            f"poll {target.host} with proto POP3 port {target.port} auth password\n"
            f'  user "{target.user}" there with password "{target.password}" is root here\n'
            "  options fetchall keep no rewrite\n"
            f"{tls}"
            f'  mda "{mda}"\n'
        )
        rc.chmod(0o600)
        env = clean_env(workdir)
        env["FETCHMAILHOME"] = str(workdir)
        return ["fetchmail", "-f", str(rc), "--nodetach", "-s"], env

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        return _count_files(workdir / "mail")

    def rc_ok(self, rc: int) -> bool:
        return rc == 0


def getmail_argv(patched: bool) -> list[str]:
    getmail = shutil.which("getmail") or "/usr/bin/getmail"
    if not patched:
        return [getmail]
    with open(getmail, "rb") as fh:
        shebang = fh.readline().decode(errors="replace")
    python = shebang[2:].strip().split()[0] if shebang.startswith("#!") else "/usr/bin/python3"
    return [python, str(GETMAIL_WRAPPER)]


class Getmail(Tool):
    name = "getmail6"
    durability = "Maildir: tmp/ + fsync + rename per message"

    def __init__(self, patched: bool = True) -> None:
        self.patched = patched

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        maildir = workdir / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True)
        # getmail refuses to deliver as root; it forks a child per message anyway and that
        # child switches to `user`.
        nobody = pwd.getpwnam("nobody")
        for path in (maildir, *(maildir / sub for sub in ("tmp", "new", "cur"))):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        retriever = (
            "type = SimplePOP3Retriever\n"
            if target.mode == "plain"
            else "type = SimplePOP3SSLRetriever\n"
            f"ca_certs = {target.cert_path}\nssl_cert_hostname = localhost\n"
        )
        rc = workdir / "getmailrc"
        rc.write_text(
            "[retriever]\n" + retriever + f"server = {target.host}\nport = {target.port}\n"
            f"username = {target.user}\npassword = {target.password}\n"
            # Network timeout; getmail also uses it to wait for its delivery child, and a lost
            # SIGCHLD (a race in getmail's ForkingBase) then stalls for this long and aborts.
            "timeout = 30\n\n"
            f"[destination]\ntype = Maildir\npath = {maildir}/\n"
            + ("user = nobody\n\n" if os.geteuid() == 0 else "\n")
            + "[options]\nread_all = true\ndelete = false\nverbose = 0\n"
        )
        getmaildir = workdir / "getmaildir"
        getmaildir.mkdir()
        return (
            [
                *getmail_argv(self.patched),
                f"--rcfile={rc}",
                f"--getmaildir={getmaildir}",
                "--quiet",
            ],
            clean_env(workdir),
        )

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        return _count_files(workdir / "Maildir" / "new")


class PoplibFloor(Tool):
    name = "poplib loop"
    exact_bytes = True
    durability = "none (RETR and discard): the floor"

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [
            PYTHON,
            str(BENCH / "poplib_floor.py"),
            target.host,
            str(target.port),
            target.user,
            target.password,
        ]
        if target.mode == "tls":
            argv += ["--tls", str(target.cert_path)]
        return argv, clean_env(workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        parts = stdout.split()
        if len(parts) >= 4 and parts[0] == "messages":
            return int(parts[1]), int(parts[3])
        return 0, 0


def run_tool(tool: Tool, target: Target, scratch: Path, keep: bool = False) -> tuple[Run, Path]:
    workdir = Path(tempfile.mkdtemp(prefix=f"{tool.name.split()[0]}-", dir=scratch))
    workdir.chmod(0o755)  # getmail's delivery child runs as nobody
    argv, env = tool.prepare(target, workdir)
    os.sync()  # no dirty pages from the previous run written back during this one
    m = run_measured(argv, env, workdir)
    stored, size = tool.count(target, workdir, m.out)
    run = Run(
        tool.name,
        target.mode,
        m,
        stored,
        size,
        target.expected,
        target.wire_bytes if tool.exact_bytes else None,
    )
    run.rc_ok = tool.rc_ok(m.rc)
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return run, workdir


# ------------------------------------------------------------------ the server and corpus


def fill_maildir(
    server: DovecotServer, user: str, indices: list[int], spec: corpus.CorpusSpec
) -> dict[str, Any]:
    """Write the corpus straight into Maildir/new (tmp + rename, no fsync: it is a fixture)."""
    server.add_user(user, PASSWORD)
    maildir = server.maildir(user)
    owner = maildir.stat()
    stats = {
        "messages": 0,
        "disk_bytes": 0,
        "wire_bytes": 0,
        "largest": 0,
        "attachments": 0,
        "html": 0,
    }
    base = int(time.time()) - len(indices)
    for seq, index in enumerate(indices):
        raw = corpus.message(index, spec)
        name = f"{base + seq}.M{seq:06d}P1Q{index:08d}.bench"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.rename(maildir / "new" / name)
        stats["messages"] += 1
        stats["disk_bytes"] += len(raw)
        stats["wire_bytes"] += len(raw) + raw.count(b"\n")
        stats["largest"] = max(stats["largest"], len(raw))
        head = raw[: raw.find(b"\n\n")]
        stats["attachments"] += b"multipart/mixed" in head
        stats["html"] += b"multipart/alternative" in head
    return stats


def warm_up(server: DovecotServer, user: str, full: bool) -> None:
    """Index the maildir (new/ -> cur/, sizes cached) and fill the page cache, untimed."""
    client = poplib.POP3(server.host, server.plain_port, timeout=120)
    client.user(user)
    client.pass_(PASSWORD)
    count, _ = client.stat()
    client.uidl()
    client.list()
    if full:
        for number in range(1, count + 1):
            client.retr(number)
    client.quit()


# ------------------------------------------------------------------ reporting


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mb(kb: float) -> float:
    return kb / 1024


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    mem_runs: list[Run] = field(default_factory=list)
    """poptui on the `small` and `repeated` mailboxes (tool names poptui@small/@repeated)."""
    nothing_new: dict[str, list[Measured]] = field(default_factory=dict)
    uidl_floor: dict[str, list[Measured]] = field(default_factory=dict)
    startup: list[Measured] = field(default_factory=list)

    def of(self, tool: str, mode: str, runs: list[Run] | None = None) -> list[Run]:
        return [
            r
            for r in (runs if runs is not None else self.runs)
            if r.tool == tool and r.mode == mode and r.ok
        ]

    def wall(self, tool: str, mode: str) -> float:
        return median([r.wall for r in self.of(tool, mode)])

    def cpu(self, tool: str, mode: str) -> float:
        return median([r.m.cpu for r in self.of(tool, mode)])

    def memory(
        self, tool: str, mode: str, runs: list[Run] | None = None, of: str = "peak_kb"
    ) -> float:
        """Median MB of `of`: peak_kb (whole tree, PSS), anon_kb, rss_sum_kb or maxrss_kb."""
        return median([mb(getattr(r.m, of)) for r in self.of(tool, mode, runs)])


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


Check = tuple[str, bool, str]


def check_targets(res: Results, args: argparse.Namespace, n: int, small_n: int) -> list[Check]:
    checks: list[Check] = []
    for mode in args.modes:
        p = res.wall("poptui", mode)
        for fm in ("fetchmail", "fetchmail+fsync"):
            if res.of(fm, mode) and res.of("poptui", mode):
                f = res.wall(fm, mode)
                checks.append(
                    (
                        f"{mode}: poptui at least as fast as {fm}",
                        p <= f,
                        f"poptui {p:.2f} s, {fm} {f:.2f} s: poptui is {f / p:.2f}x as fast",
                    )
                )
        if res.of("getmail6", mode) and res.of("poptui", mode):
            g = res.wall("getmail6", mode)
            checks.append(
                (
                    f"{mode}: poptui at least 5x faster than getmail6",
                    g >= 5 * p,
                    f"poptui {p:.2f} s, getmail6 {g:.2f} s: poptui is {g / p:.2f}x as fast",
                )
            )
    for mode in args.modes:
        if res.nothing_new.get(mode):
            wall = median([m.wall for m in res.nothing_new[mode]])
            checks.append(
                (
                    f'{mode}: "nothing new" on {n} messages under 0.3 s wall',
                    wall < 0.3,
                    f"median {wall:.3f} s of {len(res.nothing_new[mode])}",
                )
            )
    for mode in args.modes:
        small = res.memory(f"poptui@{SMALL_USER}", mode, res.mem_runs)
        big = res.memory(f"poptui@{REPEATED_USER}", mode, res.mem_runs)
        if small == small and big == big:
            allowed = max(0.10 * small, 8.0)
            checks.append(
                (
                    f"{mode}: poptui's peak memory independent of the mailbox's size",
                    big - small <= allowed,
                    f"{small_n} messages {small:.1f} MB, the same messages "
                    f"{n // max(small_n, 1)} times ({n // max(small_n, 1) * small_n} messages) "
                    f"{big:.1f} MB ({big - small:+.1f} MB; allowed: 10 % or 8 MB, whichever "
                    "is more)",
                )
            )
    return checks


def build_report(
    res: Results,
    tools: list[Tool],
    args: argparse.Namespace,
    stats: dict[str, Any],
    small_stats: dict[str, Any],
    versions: dict[str, str],
    started: dt.datetime,
    elapsed: float,
) -> tuple[str, list[Check]]:
    n = stats["messages"]
    small_n = small_stats.get("messages", 0)
    loads = [r.m.load for r in res.runs + res.mem_runs]
    out: list[str] = [
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.0f} min: "
        f"`.venv/bin/python {' '.join(['bench/fetch_bench.py', *sys.argv[1:]])}`",
        "",
        f"- Machine: {versions['machine']}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "machine"),
        f"- Corpus: {n} messages, {stats['disk_bytes'] / 1e6:.1f} MB in the Maildir "
        f"({stats['wire_bytes'] / 1e6:.1f} MB on the wire): {stats['html']} HTML "
        f"multipart/alternative, {stats['attachments']} with a base64 attachment "
        f"({args.attach_min_mb}-{args.attach_max_mb} MB), largest "
        f"{stats['largest'] / 1e6:.2f} MB, the rest 2-8 KB text/plain in utf-8, us-ascii, "
        f"iso-8859-1, koi8-r and shift_jis; seed {args.seed}.",
        f"- Method: median of {args.repeat} run(s) per tool and mode, tools interleaved "
        "(order rotated every repeat); each run starts from an empty local store and leaves "
        "the mail on the server; each run is checked to have stored every message (poptui and "
        "the poplib loop: byte for byte). Wall time = process start to exit; CPU = user + "
        "system of the tool and its children (MDA / delivery processes), Dovecot not included. "
        "Peak memory = of the tool's whole process tree: the sum of PSS over the tool and every "
        "process it forks (shared pages counted once), sampled every 5-20 ms from /proc "
        "(bench/tree_memory.py); its anonymous part (PSS of file pages, the interpreter and "
        "libraries, is divided with other processes mapping them), the sum of RSS and wait4()'s "
        "ru_maxrss (the largest single process, the figure used before) beside it.",
    ]
    if "getmail6" in [t.name for t in tools] and not args.getmail_as_is:
        out.append(
            "- getmail6 runs through bench/getmail_norace.py: getmail as installed, except that "
            "it reaps its delivery child with waitpid() instead of a SIGCHLD handler installed "
            "after fork() (a lost-wakeup race that otherwise aborts about every other 5,000-"
            'message run with "waiting child pid N timed out").'
        )
    if loads:
        out.append(
            f"- Load average (1 min) at run starts: min {min(loads):.2f}, median "
            f"{median(loads):.2f}, max {max(loads):.2f} on {os.cpu_count()} CPUs "
            "(anything above ~1 is other work sharing the machine)."
        )
    out += [
        "",
        "| tool | mode | stored as | wall s (median) | msgs/s | MB/s | CPU s "
        "| peak memory MB (tree PSS) | anonymous PSS / RSS sum / ru_maxrss MB "
        "| tool wall / poptui wall "
        "| all runs, wall s |",
        "|" + "---|" * 11,
    ]
    for mode in args.modes:
        base = res.wall("poptui", mode)
        for tool in tools:
            good = res.of(tool.name, mode)
            bad = [r for r in res.runs if r.tool == tool.name and r.mode == mode and not r.ok]
            wall = res.wall(tool.name, mode)
            rate = n / wall if good else float("nan")
            mbs = stats["wire_bytes"] / 1e6 / wall if good else float("nan")
            ratio = wall / base if good and base == base else float("nan")
            runs = ", ".join(fmt(r.wall) for r in good)
            if bad:
                runs += f" ({len(bad)} failed, not counted)"
            out.append(
                f"| {tool.name} | {mode} | {tool.durability} | {fmt(wall)} | {fmt(rate, 0)} | "
                f"{fmt(mbs, 1)} | {fmt(res.cpu(tool.name, mode), 1)} | "
                f"{fmt(res.memory(tool.name, mode), 1)} "
                f"| {fmt(res.memory(tool.name, mode, of='anon_kb'), 1)} / "
                f"{fmt(res.memory(tool.name, mode, of='rss_sum_kb'), 1)} / "
                f"{fmt(res.memory(tool.name, mode, of='maxrss_kb'), 1)} | {fmt(ratio)} | {runs} |"
            )
    nn = {m: res.nothing_new.get(m, []) for m in MODES}
    uf = {m: res.uidl_floor.get(m, []) for m in MODES}

    def row(title: str, values: dict[str, float], digits: int) -> str:
        return f"| {title} | " + " | ".join(fmt(values[m], digits) for m in MODES) + " |"

    out += [
        "",
        "poptui, other measurements:",
        "",
        "| measurement | plain | tls |",
        "|---|---|---|",
        row(
            f'"nothing new" on the {n}-message mailbox: wall s, median of {args.nothing_new}',
            {m: median([x.wall for x in nn[m]]) for m in MODES},
            3,
        ),
        row(
            '"nothing new": fastest of the runs, wall s',
            {m: min([x.wall for x in nn[m]], default=float("nan")) for m in MODES},
            3,
        ),
        row('"nothing new": CPU s (median)', {m: median([x.cpu for x in nn[m]]) for m in MODES}, 3),
        row(
            '"nothing new": peak memory MB (tree PSS)',
            {m: mb(median([x.peak_kb for x in nn[m]])) for m in MODES},
            1,
        ),
        row(
            "for scale: a Python poplib login + UIDL + QUIT, wall s",
            {m: median([x.wall for x in uf[m]]) for m in MODES},
            3,
        ),
        row(
            "for scale: `poptui --version` (interpreter + CLI imports), wall s",
            {m: median([x.wall for x in res.startup]) for m in MODES},
            3,
        ),
        row(
            f"peak memory MB (tree PSS), full fetch of a {small_n}-message mailbox (the "
            f"corpus' first {small_n}, largest message "
            f"{small_stats.get('largest', 0) / 1e6:.2f} MB)",
            {m: res.memory(f"poptui@{SMALL_USER}", m, res.mem_runs) for m in MODES},
            1,
        ),
        row(
            f"peak memory MB (tree PSS), full fetch of the same {small_n} messages "
            f"{n // max(small_n, 1)} times over",
            {m: res.memory(f"poptui@{REPEATED_USER}", m, res.mem_runs) for m in MODES},
            1,
        ),
        row(
            f"peak memory MB (tree PSS), full fetch of the {n}-message corpus (from the table "
            "above; its 100-message batches can be larger than the first 1,000's)",
            {m: res.memory("poptui", m) for m in MODES},
            1,
        ),
    ]
    checks = check_targets(res, args, n, small_n)
    out += ["", "Targets:", ""]
    out += [f"- **{'PASS' if ok else 'FAIL'}** {title}: {detail}" for title, ok, detail in checks]
    failed = [r for r in res.runs + res.mem_runs if not r.ok]
    if failed:
        out += ["", f"{len(failed)} run(s) failed (not counted in the medians):"]
        out += [f"- {r.tool} {r.mode}: {r.problem}" for r in failed[:20]]
    return "\n".join(out) + "\n", checks


def versions() -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=30,
                env=clean_env(Path(tempfile.gettempdir())),
            )
        except OSError:
            return "?"
        text = (done.stdout or done.stderr).strip().splitlines()
        return text[0] if text else "?"

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB RAM"
    fetchmail = first_line(["fetchmail", "--version"]).replace("This is fetchmail release ", "")
    return {
        "machine": f"{os.cpu_count()} CPUs (nproc), {cpu}, {mem}, Linux {platform.release()}",
        "poptui": first_line(poptui_argv("--version")).replace("poptui ", "") + POPTUI_BUILD,
        "Python": first_line([PYTHON, "--version"]).replace("Python ", ""),
        "fetchmail": fetchmail.split("+")[0],
        "getmail6": first_line(["getmail", "--version"]).replace("getmail ", ""),
        "Dovecot": first_line(["dovecot", "--version"]),
        "OpenSSL": ssl.OPENSSL_VERSION.replace("OpenSSL ", ""),
    }


def _git(*args: str) -> str:
    """A read-only git command in the repository ("" when git is missing or fails)."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(ROOT), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def snapshot_poptui(scratch: Path, source: str) -> tuple[Path | None, str]:
    """Copy the poptui code under test, so edits made to tui/ during the run cannot change it.

    worktree: tui/ as it is now (uncommitted changes included); head: the last commit's tui/
    (`git archive`); installed: no copy, the console script of .venv (the live tree).
    Returns (directory to put first on PYTHONPATH or None, a description of the build).
    """
    commit = _git("rev-parse", "--short", "HEAD") or "unknown commit"
    if source == "installed":
        return None, f" (live tree at {commit}, not snapshotted)"
    dest = scratch / "poptui-src"
    dest.mkdir()
    if source == "head":
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "HEAD", "tui"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        build = f" (commit {commit})"
    else:
        shutil.copytree(ROOT / "tui", dest / "tui", ignore=shutil.ignore_patterns("__pycache__"))
        dirty = _git("status", "--porcelain", "--", "tui")
        build = f" (commit {commit}" + (" + uncommitted changes in tui/)" if dirty else ")")
    dest.chmod(0o755)
    return dest, build


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


# ------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument(
        "--small",
        type=int,
        default=None,
        help="size of the second mailbox for the memory check (default messages/5)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nothing-new", type=int, default=5, help="runs of the 'nothing new' fetch")
    ap.add_argument("--quick", action="store_true", help="500 messages, 1 repeat, no RESULTS.md")
    ap.add_argument("--seed", type=int, default=corpus.CorpusSpec.seed)
    ap.add_argument("--html-share", type=float, default=corpus.CorpusSpec.html_share)
    ap.add_argument("--attach-share", type=float, default=corpus.CorpusSpec.attach_share)
    ap.add_argument("--attach-min-mb", type=float, default=corpus.CorpusSpec.attach_min_mb)
    ap.add_argument("--attach-max-mb", type=float, default=corpus.CorpusSpec.attach_max_mb)
    ap.add_argument(
        "--tools",
        default="poptui,fetchmail,fetchmail+fsync,getmail6,poplib",
        help="comma-separated subset",
    )
    ap.add_argument("--modes", default="plain,tls")
    ap.add_argument(
        "--results",
        type=Path,
        default=None,
        help="write the report here (default bench/RESULTS.md unless --quick)",
    )
    ap.add_argument(
        "--retries", type=int, default=2, help="run a failed tool run again (at most N times)"
    )
    ap.add_argument(
        "--poptui-source",
        choices=("worktree", "head", "installed"),
        default="worktree",
        help="poptui code to run: a copy of tui/ taken at start (default), the last commit's, "
        "or the live installed tree",
    )
    ap.add_argument(
        "--getmail-as-is",
        action="store_true",
        help="run getmail without the fix for its lost-SIGCHLD race (see getmail_norace.py)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    if args.quick:
        args.messages = min(args.messages, 500) if "--messages" in sys.argv else 500
        args.repeat = 1 if "--repeat" not in sys.argv else args.repeat
        args.nothing_new = 3 if "--nothing-new" not in sys.argv else args.nothing_new
    args.small = args.small or max(1, args.messages // 5)
    args.modes = [m for m in args.modes.split(",") if m]
    results_path = args.results or (None if args.quick else BENCH / "RESULTS.md")
    spec = corpus.CorpusSpec(
        seed=args.seed,
        html_share=args.html_share,
        attach_share=args.attach_share,
        attach_min_mb=args.attach_min_mb,
        attach_max_mb=args.attach_max_mb,
    )
    if not Path(GNU_TIME).exists():
        raise SystemExit("GNU time is missing: apt-get install -y time")
    for program in ("fetchmail", "getmail", "dd"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is missing: apt-get install -y fetchmail getmail6")

    global POPTUI_SRC, POPTUI_BUILD
    signal.signal(signal.SIGTERM, _terminate)  # stop Dovecot and clean up on `kill`
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="poptui-bench-"))
    scratch.chmod(0o755)
    POPTUI_SRC, POPTUI_BUILD = snapshot_poptui(scratch, args.poptui_source)
    if POPTUI_SRC is not None:
        where = subprocess.run(
            [PYTHON, "-c", "import tui; print(tui.__file__)"],
            env=clean_env(scratch),
            capture_output=True,
            text=True,
            cwd=scratch,
        ).stdout.strip()
        if not where.startswith(str(POPTUI_SRC)):
            raise SystemExit(f"the poptui snapshot is not the one imported: {where}")
    print(f"poptui under test: {POPTUI_SRC or POPTUI}{POPTUI_BUILD}", flush=True)
    server = DovecotServer()
    res = Results()
    try:
        server.start()
        print(f"Dovecot: {server!r}", flush=True)
        print(f"Generating {args.messages} messages into the Maildir…", flush=True)
        stats = fill_maildir(server, USER, list(range(args.messages)), spec)
        small_stats = fill_maildir(server, SMALL_USER, list(range(args.small)), spec)
        times = max(1, args.messages // args.small)
        repeated_stats = fill_maildir(
            server, REPEATED_USER, [i for _ in range(times) for i in range(args.small)], spec
        )
        print(
            f"Corpus: {stats['messages']} messages, {stats['disk_bytes'] / 1e6:.1f} MB "
            f"({stats['wire_bytes'] / 1e6:.1f} MB on the wire), {stats['html']} HTML, "
            f"{stats['attachments']} with attachments, largest {stats['largest'] / 1e6:.2f} MB;"
            f" memory check: {small_stats['messages']} and {repeated_stats['messages']} "
            "messages",
            flush=True,
        )
        warm_up(server, USER, full=True)
        warm_up(server, SMALL_USER, full=True)
        warm_up(server, REPEATED_USER, full=True)
        users = {USER: stats, SMALL_USER: small_stats, REPEATED_USER: repeated_stats}

        def target(mode: str, user: str, expected: int) -> Target:
            return Target(
                mode=mode,
                host=server.host,
                port=server.plain_port if mode == "plain" else server.tls_port,
                user=user,
                password=PASSWORD,
                cert_path=server.cert_path,
                fingerprint=server.cert_fingerprint,
                expected=expected,
                wire_bytes=users[user]["wire_bytes"],
            )

        poptui = Poptui(scratch)
        available: dict[str, Callable[[], Tool]] = {
            "poptui": lambda: poptui,
            "fetchmail": lambda: Fetchmail(fsync=False),
            "fetchmail+fsync": lambda: Fetchmail(fsync=True),
            "getmail6": lambda: Getmail(patched=not args.getmail_as_is),
            "poplib": PoplibFloor,
        }
        tools = [available[name]() for name in args.tools.split(",")]
        if not any(t.name == "poptui" for t in tools):
            tools.insert(0, poptui)
        keep_dirs: dict[str, Path] = {}
        for rep in range(args.repeat):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            modes = args.modes if rep % 2 == 0 else list(reversed(args.modes))
            for tool in order:
                for mode in modes:
                    last = rep == args.repeat - 1 and tool is poptui
                    for attempt in range(1 + args.retries):
                        run, workdir = run_tool(
                            tool, target(mode, USER, stats["messages"]), scratch, keep=last
                        )
                        res.runs.append(run)
                        status = "ok" if run.ok else f"FAILED: {run.problem}"
                        print(
                            f"[{rep + 1}/{args.repeat}] {tool.name:16} {mode:5} "
                            f"{run.wall:8.2f} s  {stats['messages'] / run.wall:6.0f} msg/s  "
                            f"CPU {run.m.cpu:6.1f} s  {mb(run.peak_kb):6.1f} MB  "
                            f"load {run.m.load:4.2f}  {status}",
                            flush=True,
                        )
                        if run.ok:
                            break
                        print("    " + (run.m.err + run.m.out).strip()[-800:])
                        if attempt < args.retries:
                            print("    retrying (the failed run is reported, not counted)")
                    if last:
                        keep_dirs[mode] = workdir
            for user in (SMALL_USER, REPEATED_USER):
                for mode in modes:
                    run, _ = run_tool(poptui, target(mode, user, users[user]["messages"]), scratch)
                    run.tool = f"poptui@{user}"
                    res.mem_runs.append(run)
                    print(
                        f"[{rep + 1}/{args.repeat}] poptui, {user} mailbox "
                        f"({users[user]['messages']} messages) {mode:5} {run.wall:7.2f} s  "
                        f"{mb(run.peak_kb):6.1f} MB  "
                        f"{'ok' if run.ok else 'FAILED: ' + run.problem}",
                        flush=True,
                    )

        # "Nothing new": poptui again on its own fully fetched database, interleaved with the
        # floor (a poplib login + UIDL + QUIT) and the bare start-up time.
        for _ in range(args.nothing_new):
            for mode in args.modes:
                workdir = keep_dirs[mode]
                tgt = target(mode, USER, stats["messages"])
                m = run_measured(
                    poptui_argv("fetch", "--account", "Bench"), Poptui.env_for(workdir), workdir
                )
                if m.rc != 0 or not m.out.startswith("Bench: 0 new"):
                    print(f"nothing-new run failed: rc {m.rc}: {m.out} {m.err}")
                    continue
                res.nothing_new.setdefault(mode, []).append(m)
                floor_argv = [
                    PYTHON,
                    str(BENCH / "poplib_floor.py"),
                    tgt.host,
                    str(tgt.port),
                    tgt.user,
                    tgt.password,
                    "--uidl-only",
                ]
                if mode == "tls":
                    floor_argv[-1:-1] = ["--tls", str(tgt.cert_path)]
                f = run_measured(floor_argv, clean_env(workdir), workdir)
                if f.rc == 0:
                    res.uidl_floor.setdefault(mode, []).append(f)
                print(
                    f"nothing new {mode:5} poptui {m.wall:.3f} s (CPU {m.cpu:.2f} s, "
                    f"{mb(m.peak_kb):.1f} MB, load {m.load:.2f}); poplib UIDL {f.wall:.3f} s",
                    flush=True,
                )
            res.startup.append(run_measured(poptui_argv("--version"), clean_env(scratch), scratch))

        elapsed = time.perf_counter() - t0
        report, checks = build_report(
            res, tools, args, stats, small_stats, versions(), started, elapsed
        )
        print()
        print(report)
        if results_path is not None:
            results_path.write_text(
                "# Fetch benchmark results\n\n"
                "Written by `bench/fetch_bench.py`; bench/README.md says what each tool does "
                "and how their durability differs.\n\n" + report
            )
            print(f"Written to {results_path}")
        return 0 if all(ok for _t, ok, _d in checks) else 1
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"Scratch kept in {scratch}")


if __name__ == "__main__":
    sys.exit(main())
