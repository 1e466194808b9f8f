"""The contenders of bench/fetch_speed.py: how each is set up, run, measured and checked.

Every tool runs as its own process under GNU time (CPU from wait4(), so the benchmark's own
is not counted), from an empty local store, against the same server; its peak memory is that
of its whole process tree (bench/tree_memory.py: the sum of PSS over the tool and every process
it forks, sampled while it runs), with the sum of RSS and wait4()'s ru_maxrss kept beside it.
Each run is checked to have stored every message; those that store the bytes as sent (poptui,
the poplib loop, the limit client) are checked byte for byte in total.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tree_memory

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
POPTUI = [PYTHON, "-m", "tui"]
RUN_TIMEOUT = 1800.0
TMPFS = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
SOURCE = ROOT
"""Where the poptui under test is imported from: `snapshot` points it at a copy of tui/
taken when the benchmark starts, so editing the checkout meanwhile changes no figure."""


def scratch_as_root(prefix: str, why: str = "Dovecot switches users") -> Path:
    """A scratch folder the servers' own users may enter; the benches must run as root."""
    if os.geteuid() != 0:
        raise SystemExit(f"run as root: {why}")
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    scratch.chmod(0o755)
    return scratch


def snapshot(scratch: Path, checkout: Path = ROOT) -> None:
    """Copy `checkout`'s tui/ into `scratch` and run every poptui from that copy."""
    global SOURCE
    target = scratch / "source"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(checkout / "tui", target / "tui", ignore=ignore)
    SOURCE = target


@dataclass(frozen=True)
class Target:
    """Where a tool connects for one measurement."""

    mode: str
    """plain or tls"""
    host: str
    port: int
    user: str
    password: str
    cafile: Path | None
    fingerprint: str
    count: int
    wire_bytes: int
    """Sum of the messages' sizes as served (CRLF, un-dot-stuffed)."""


@dataclass
class Measured:
    wall: float
    peak_mb: float
    """Peak memory of the whole process tree, PSS (tree_memory): the headline figure."""
    anon_mb: float
    """Peak of the sum of anonymous PSS over the tree: its heap and stacks, which unlike the file
    pages' PSS do not depend on other processes mapping the same interpreter and libraries."""
    rss_sum_mb: float
    """Peak of the sum of RSS over the tree (pages shared between its processes counted in each)."""
    maxrss_mb: float
    """wait4()'s ru_maxrss: the largest single process of the tree (the figure used until the
    tools forked)."""
    cpu: float
    rc: int
    out: str
    err: str


def run_measured(argv: list[str], env: dict[str, str], workdir: Path) -> Measured:
    """Run one tool under GNU time; wall = spawn to exit, CPU includes reaped children,
    memory is the whole tree's (see `Measured`)."""
    out_path, err_path = workdir / "out.txt", workdir / "err.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        usage = tree_memory.run(
            argv,
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
            timeout=RUN_TIMEOUT,
            usage_path=workdir / "usage.txt",
        )
    return Measured(
        usage.wall,
        usage.tree.pss_kb / 1024,
        usage.tree.anon_kb / 1024,
        usage.tree.rss_kb / 1024,
        usage.maxrss_kb / 1024 if usage.maxrss_kb else float("nan"),
        usage.cpu,
        usage.rc,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def clean_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
        "PYTHONPATH": str(SOURCE),
    }


def _count_files(directory: Path) -> tuple[int, int]:
    count = size = 0
    if directory.is_dir():
        for entry in os.scandir(directory):
            if entry.is_file():
                count += 1
                size += entry.stat().st_size
    return count, size


def _stdout_count(stdout: str) -> tuple[int, int]:
    """`messages N bytes B` as printed by the limit client and the poplib loop."""
    parts = stdout.split()
    if len(parts) >= 4 and parts[0] == "messages":
        return int(parts[1]), int(parts[3])
    return 0, 0


class Tool:
    name = ""
    stored_as = ""
    exact_bytes = False
    nothing_new_rcs: tuple[int, ...] = (0,)

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def settle(self) -> None:
        """Just before a timed run (untimed): finish work a previous run left to a server in
        the background, so no run pays for another's (bench/postgres_poptui.py: CHECKPOINT)."""

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        """The command that asks again in the workdir of a finished full fetch."""
        return self.prepare(target, workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        raise NotImplementedError


class Limit(Tool):
    name = "limit (pipelined raw socket)"
    stored_as = "one file per message on tmpfs, no parsing"
    exact_bytes = True

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        out = (TMPFS or workdir) / f"limit-{os.getpid()}-{workdir.name}"
        out.mkdir(exist_ok=True)
        (workdir / "outdir").write_text(str(out))
        argv = [PYTHON, str(BENCH / "pipelined_limit.py"), target.host, str(target.port)]
        argv += [target.user, target.password, str(out)]
        if target.cafile:
            argv += ["--tls", str(target.cafile)]
        return argv, clean_env(workdir)

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv, env = self.prepare(target, workdir)
        return [*argv, "--uidl-only"], env

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        with contextlib.suppress(OSError):
            shutil.rmtree((workdir / "outdir").read_text(), ignore_errors=True)
        return _stdout_count(stdout)


class PoplibLoop(Tool):
    name = "poplib loop"
    stored_as = "nothing (RETR and discard)"
    exact_bytes = True

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [PYTHON, str(BENCH / "poplib_floor.py"), target.host, str(target.port)]
        argv += [target.user, target.password]
        if target.cafile:
            argv += ["--tls", str(target.cafile)]
        return argv, clean_env(workdir)

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv, env = self.prepare(target, workdir)
        return [*argv, "--uidl-only"], env

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        return _stdout_count(stdout)


class Fetchmail(Tool):
    """fetchmail 6 with `uidl`, so a second run knows what it has seen."""

    nothing_new_rcs = (0, 1)  # 1: "no mail"

    def __init__(self, delivery: str) -> None:
        self.delivery = delivery
        if delivery == "bsmtp":
            self.name = "fetchmail, BSMTP file"
            self.stored_as = "all messages appended to one BSMTP file (its cheapest delivery)"
        else:
            self.name = "fetchmail, procmail MDA"
            self.stored_as = "procmail per message into a Maildir (a typical delivery)"

    def _rc(self, target: Target, workdir: Path, fetchall: bool) -> Path:
        if self.delivery == "bsmtp":
            delivery = f'  bsmtp "{workdir}/out.bsmtp"\n'
        else:
            maildir = workdir / "Maildir"
            for sub in ("tmp", "new", "cur"):
                (maildir / sub).mkdir(parents=True, exist_ok=True)
            procmailrc = workdir / "procmailrc"
            procmailrc.write_text(f"MAILDIR={maildir}/\nDEFAULT={maildir}/\n")
            delivery = f'  mda "/usr/bin/procmail -m {procmailrc}"\n'
        tls = (
            f'  ssl sslcertck sslcertfile "{target.cafile}" sslproto "TLS1.2+"'
            ' sslcommonname "localhost"\n'
            if target.cafile
            else '  sslproto ""\n'
        )
        rc = workdir / ("fetchmailrc" if fetchall else "fetchmailrc-again")
        rc.write_text(
            "set no syslog\nset no bouncemail\n"
            f"poll {target.host} with proto POP3 port {target.port} auth password uidl\n"
            f'  user "{target.user}" there with password "{target.password}" is root here\n'
            f"  options {'fetchall ' if fetchall else ''}keep no rewrite\n{tls}{delivery}"
        )
        rc.chmod(0o600)
        return rc

    def _argv(self, rc: Path, workdir: Path) -> tuple[list[str], dict[str, str]]:
        env = clean_env(workdir)
        env["FETCHMAILHOME"] = str(workdir)
        # As root fetchmail locks /var/run/fetchmail.pid: another fetchmail on the machine
        # would make a run fail, so each run has its own lock.
        argv = ["fetchmail", "-f", str(rc), "--pidfile", str(workdir / "fetchmail.pid")]
        return [*argv, "--nodetach", "-s"], env

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        return self._argv(self._rc(target, workdir, fetchall=True), workdir)

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        return self._argv(self._rc(target, workdir, fetchall=False), workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        if self.delivery == "bsmtp":
            path = workdir / "out.bsmtp"
            if not path.exists():
                return 0, 0
            with path.open("rb") as fh:
                count = sum(1 for line in fh if line.startswith(b"MAIL FROM:"))
            return count, path.stat().st_size
        return _count_files(workdir / "Maildir" / "new")


class Getmail(Tool):
    name = "getmail6"
    stored_as = "Maildir: tmp/ + fsync + rename per message, in a forked child"

    def _rc(self, target: Target, workdir: Path, read_all: bool) -> Path:
        maildir = workdir / "Maildir"
        nobody = pwd.getpwnam("nobody")
        for sub in ("", "tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:  # getmail delivers as `user` when run as root
                os.chown(maildir / sub, nobody.pw_uid, nobody.pw_gid)
        retriever = (
            "type = SimplePOP3SSLRetriever\n"
            f"ca_certs = {target.cafile}\nssl_cert_hostname = localhost\n"
            if target.cafile
            else "type = SimplePOP3Retriever\n"
        )
        rc = workdir / ("getmailrc" if read_all else "getmailrc-again")
        rc.write_text(
            f"[retriever]\n{retriever}server = {target.host}\nport = {target.port}\n"
            f"username = {target.user}\npassword = {target.password}\ntimeout = 30\n\n"
            f"[destination]\ntype = Maildir\npath = {maildir}/\n"
            + ("user = nobody\n\n" if os.geteuid() == 0 else "\n")
            + f"[options]\nread_all = {str(read_all).lower()}\ndelete = false\nverbose = 0\n"
        )
        return rc

    def _argv(self, rc: Path, workdir: Path) -> tuple[list[str], dict[str, str]]:
        getmaildir = workdir / "getmaildir"
        getmaildir.mkdir(exist_ok=True)
        getmail = shutil.which("getmail") or "/usr/bin/getmail"
        with open(getmail, "rb") as fh:
            shebang = fh.readline().decode(errors="replace")
        python = shebang[2:].strip().split()[0] if shebang.startswith("#!") else "python3"
        # getmail_norace.py: getmail as installed, minus a lost-SIGCHLD race (see its docstring)
        argv = [python, str(BENCH / "getmail_norace.py"), f"--rcfile={rc}"]
        argv += [f"--getmaildir={getmaildir}", "--quiet"]
        return argv, clean_env(workdir)

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        workdir.chmod(0o755)  # the delivery child runs as nobody
        return self._argv(self._rc(target, workdir, read_all=True), workdir)

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        return self._argv(self._rc(target, workdir, read_all=False), workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        return _count_files(workdir / "Maildir" / "new")


class Poptui(Tool):
    """poptui from this checkout into SQLite; the account and password command are set up once
    per target in a template directory (untimed) that each run copies."""

    name = "poptui"
    stored_as = "SQLite WAL, synchronous=FULL; mail bytes in segment files, synced before COMMIT"
    exact_bytes = True

    def __init__(self, scratch: Path, label: str = "poptui") -> None:
        self.scratch = scratch
        self.name = label
        self._templates: dict[tuple[str, int, str], Path] = {}

    def database_url(self, workdir: Path) -> str:
        return f"sqlite:///{workdir}/poptui.db"

    def env_for(self, workdir: Path) -> dict[str, str]:
        env = clean_env(workdir)
        env["POPTUI_DATABASE"] = self.database_url(workdir)
        for kind in ("DATA", "STATE", "CONFIG", "CACHE"):
            env[f"XDG_{kind}_HOME"] = str(workdir / kind.lower())
        return env

    def _template(self, target: Target) -> Path:
        key = (target.mode, target.port, target.user)
        if key not in self._templates:
            tdir = self.scratch / f"template-{self.name}-{target.mode}-{target.port}"
            tdir.mkdir(parents=True)
            self.set_up(target, tdir)
            self._templates[key] = tdir
        return self._templates[key]

    def set_up(self, target: Target, workdir: Path) -> None:
        """`poptui account add` and `poptui secrets use command` into an empty store."""
        add = [*POPTUI, "account", "add", "Bench", "--email", f"{target.user}@example.com"]
        add += ["--incoming-host", target.host, "--incoming-port", str(target.port)]
        add += ["--incoming-security", "ssl" if target.cafile else "none"]
        add += ["--username", target.user, "--delete-policy", "leave", "--no-preset"]
        if target.cafile:
            add += ["--pin-fingerprint", target.fingerprint]
        secret = [*POPTUI, "secrets", "use", "command", "Bench", "--incoming"]
        secret.append(f"printf %s {target.password}")
        for argv in (add, secret):
            self.run_setup(argv, workdir)

    def run_setup(self, argv: list[str], workdir: Path) -> None:
        """One untimed poptui command of the set-up, as the measured runs run (in `workdir`:
        from the benchmark's own folder `-m tui` would import the checkout's tui first)."""
        done = subprocess.run(
            argv,
            env=self.env_for(workdir),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"poptui set-up failed: {' '.join(argv)}\n{done.stderr}")

    def prepare(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        shutil.copytree(self._template(target), workdir, dirs_exist_ok=True)
        return [*POPTUI, "fetch", "--account", "Bench"], self.env_for(workdir)

    def nothing_new(self, target: Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        return [*POPTUI, "fetch", "--account", "Bench"], self.env_for(workdir)

    def count(self, target: Target, workdir: Path, stdout: str) -> tuple[int, int]:
        with contextlib.closing(sqlite3.connect(workdir / "poptui.db")) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(message_source)")}
            in_files = "file_length" in columns  # segment files (storage.source_files)
            length = "coalesce(file_length, length(raw))" if in_files else "length(raw)"
            count, size, filed = db.execute(
                f"SELECT count(*), coalesce(sum({length}), 0),"
                f" {'coalesce(sum(file_length), 0)' if in_files else '0'} FROM message_source"
            ).fetchone()
        on_disk = sum(p.stat().st_size for p in workdir.glob("poptui.db.sources/a*/*.seg"))
        if on_disk != filed:  # a fresh store: its segments hold exactly the recorded bytes
            return int(count), -1
        return int(count), int(size)


class SnapshotPoptui(Poptui):
    """poptui imported from its own snapshot of a checkout's tui/ (editing the checkout meanwhile
    changes no figure): for A/B runs of two trees in the same rounds."""

    def __init__(self, scratch: Path, label: str, source: Path) -> None:
        super().__init__(scratch, label)
        self.source = scratch / f"source-{label}"
        shutil.copytree(
            source / "tui", self.source / "tui", ignore=shutil.ignore_patterns("__pycache__")
        )

    def env_for(self, workdir: Path) -> dict[str, str]:
        env = super().env_for(workdir)
        env["PYTHONPATH"] = str(self.source)
        return env
