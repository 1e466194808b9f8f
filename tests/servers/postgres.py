"""A private PostgreSQL 15 cluster on 127.0.0.1, started and stopped by the tests.

``initdb``, ``postgres`` and ``pg_ctl`` run as the ``postgres`` user when the tests
run as root (the server refuses to run as root), on a temporary data directory owned
by it. The postmaster is a direct child of the test process (not daemonised), so it
dies with it even when the test run is killed.

Authentication (``pg_hba.conf``):

* unix socket (in the temporary directory): ``trust`` for every role -- used by
  :meth:`PostgresServer.psql` to run SQL "as" any role;
* TCP 127.0.0.1: ``trust`` for the superuser ``postgres`` only, ``scram-sha-256``
  for every other role -- so a role made with :meth:`create_role` must present its
  password, and a wrong password is refused as on a real server.
  ``PostgresServer(tcp_trust_all=True)`` trusts every role on TCP instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from tests.servers.dovecot import ServerBinaryMissing, die_with_parent_preexec, make_workdir
from tests.servers.tcp_proxy import free_tcp_ports

HOST = "127.0.0.1"
DEBIAN_PACKAGE = "postgresql"
_BIN_DIRS = tuple(f"/usr/lib/postgresql/{v}/bin" for v in (15, 16, 17, 14, 13))


class PostgresError(RuntimeError):
    """The cluster failed to initialise, start or run a statement."""


def find_pg_bindir() -> Path:
    """The directory holding ``initdb``/``pg_ctl``/``psql`` (PostgreSQL 15 preferred)."""
    env = os.environ.get("POPTUI_PG_BINDIR")
    candidates = ([env] if env else []) + list(_BIN_DIRS)
    for directory in candidates:
        if (Path(directory) / "pg_ctl").is_file() and (Path(directory) / "initdb").is_file():
            return Path(directory)
    which = shutil.which("pg_ctl")
    if which and (Path(which).parent / "initdb").is_file():
        return Path(which).parent
    raise ServerBinaryMissing(
        "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found in "
        "/usr/lib/postgresql/15/bin: the test suite starts a real server itself. "
        f"Install them with: apt-get install {DEBIAN_PACKAGE}"
    )


def quote_ident(name: str) -> str:
    """SQL identifier quoting (``"name"``)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """SQL string literal quoting (``'value'``)."""
    if "\0" in value:
        raise ValueError("NUL in SQL literal")
    return "'" + value.replace("'", "''") + "'"


class PostgresServer:
    """A throw-away PostgreSQL cluster. Context manager, or :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        *,
        tcp_trust_all: bool = False,
        start_timeout: float = 60.0,
        keep_workdir: bool = False,
        durable: bool = False,
    ) -> None:
        """`durable`: fsync, synchronous commit and full-page writes on, as on a real server
        (benchmarks against SQLite's synchronous=FULL); off by default, for test speed."""
        self._bindir = find_pg_bindir()
        self._durable = durable
        self._tcp_trust_all = tcp_trust_all
        self._start_timeout = start_timeout
        self._keep_workdir = keep_workdir
        self._as_postgres = os.geteuid() == 0
        self._dir = make_workdir("poptui-postgres-")
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._initialised = False

    # ------------------------------------------------------------------ facts
    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("PostgreSQL is not running")
        return self._port

    @property
    def superuser(self) -> str:
        return "postgres"

    @property
    def workdir(self) -> Path:
        return self._dir

    @property
    def data_dir(self) -> Path:
        return self._dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self._dir / "sock"

    @property
    def log_path(self) -> Path:
        return self._dir / "postgres.log"

    @property
    def running(self) -> bool:
        return self._port is not None

    def log_text(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")
        return ""

    def url(self, db: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        """``postgresql://user[:password]@127.0.0.1:PORT/db`` (parts percent-encoded)."""
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{HOST}:{self.port}/{quote(db, safe='')}"

    def dsn(self, db: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        """The same as :meth:`url` in libpq ``key=value`` form."""
        parts = [f"host={HOST}", f"port={self.port}", f"dbname={db}", f"user={user}"]
        if password is not None:
            escaped = password.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"password='{escaped}'")
        return " ".join(parts)

    # ------------------------------------------------------------- processes
    def _as_user_kwargs(self) -> dict[str, Any]:
        """Popen arguments that run the child as ``postgres`` when we are root."""
        if not self._as_postgres:
            return {}
        entry = pwd.getpwnam("postgres")
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self._dir,
            **self._as_user_kwargs(),
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                f"\n--- server log ---\n{self.log_text()}"
            )
        return result

    def _initdb(self) -> None:
        self._run(
            str(self._bindir / "initdb"),
            *("-D", str(self.data_dir), "-U", "postgres", "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-sync"),
        )
        tcp_others = "trust" if self._tcp_trust_all else "scram-sha-256"
        hba = (
            "# generated by tests/servers/postgres.py\n"
            "local all all trust\n"
            f"host all postgres {HOST}/32 trust\n"
            f"host all all {HOST}/32 {tcp_others}\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(hba)
        self.socket_dir.mkdir(mode=0o755, exist_ok=True)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.socket_dir, entry.pw_uid, entry.pw_gid)
            os.chown(self.data_dir / "pg_hba.conf", entry.pw_uid, entry.pw_gid)
        self._initialised = True

    def start(self) -> Self:
        """initdb (first time), then run the postmaster as our child on a free port.

        The postmaster is started directly (not daemonised by ``pg_ctl start``) so
        that it dies with the test process even when that is killed.
        """
        if self.running:
            return self
        if not self._initialised:
            self._initdb()
        last_error: PostgresError | None = None
        for _attempt in range(3):
            (port,) = free_tcp_ports(1, HOST)
            self.log_path.unlink(missing_ok=True)
            with self.log_path.open("wb") as log:
                if self._as_postgres:
                    entry = pwd.getpwnam("postgres")
                    os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
                self._proc = subprocess.Popen(
                    [
                        str(self._bindir / "postgres"),
                        *("-D", str(self.data_dir), "-p", str(port), "-k", str(self.socket_dir)),
                        *("-c", f"listen_addresses={HOST}"),
                        *self._durability(),
                        *("-c", "max_connections=100"),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self._dir,
                    start_new_session=True,
                    preexec_fn=die_with_parent_preexec(),
                    **self._as_user_kwargs(),
                )
            try:
                self._wait_ready(port)
            except PostgresError as exc:
                last_error = exc
                self._kill_postmaster()
                if "already in use" in self.log_text():
                    continue
                raise
            self._port = port
            return self
        raise last_error or PostgresError("PostgreSQL did not start")

    def _durability(self) -> list[str]:
        if self._durable:  # the defaults of a packaged server
            return ["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on"]
        return [
            *("-c", "fsync=off", "-c", "synchronous_commit=off"),
            *("-c", "full_page_writes=off", "-c", "shared_buffers=32MB"),
        ]

    def _wait_ready(self, port: int) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._start_timeout
        pid_file = self.data_dir / "postmaster.pid"
        while True:
            if self._proc.poll() is not None:
                raise PostgresError(
                    f"postgres exited with status {self._proc.returncode} during start."
                    f"\n--- server log ---\n{self.log_text()}"
                )
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # Line 8 of postmaster.pid is the postmaster status (PG >= 10).
                if len(lines) >= 8 and lines[7].strip() == "ready" and lines[3] == str(port):
                    return
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"postgres did not become ready on {HOST}:{port} within "
                    f"{self._start_timeout}s.\n--- server log ---\n{self.log_text()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, then SIGKILL the postmaster; delete the directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(PostgresError, subprocess.TimeoutExpired):
                self._run(
                    str(self._bindir / "pg_ctl"),
                    *("stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30"),
                    timeout=40,
                )
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc = proc
                self._kill_postmaster()
        self._port = None
        if not self._keep_workdir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """SIGKILL the postmaster and its backends (they share its process group)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------------- SQL
    def psql(
        self,
        sql: str,
        db: str = "postgres",
        user: str = "postgres",
        *,
        password: str | None = None,
        check: bool = True,
    ) -> str:
        """Run *sql* with ``psql`` as *user*; return its unaligned, tuples-only output.

        Without *password* it connects through the unix socket (trusted: any role,
        no password). With *password* it connects over TCP to 127.0.0.1, so the
        role's password is really checked. Raises :class:`PostgresError` on an SQL
        or connection error when *check* is true (the error text is in the message).
        """
        env = dict(os.environ)
        env.pop("PGPASSWORD", None)
        env["PGCONNECT_TIMEOUT"] = "10"
        host = str(self.socket_dir)
        if password is not None:
            host = HOST
            env["PGPASSWORD"] = password
        result = subprocess.run(
            [
                str(self._bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                host,
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                db,
                "-c",
                sql,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresError(f"psql as {user} on {db} failed: {result.stderr.strip()}")
        return result.stdout.strip() if result.returncode == 0 else result.stderr.strip()

    def create_role(
        self,
        name: str,
        password: str | None = None,
        *,
        login: bool = True,
        superuser: bool = False,
        createdb: bool = False,
    ) -> str:
        """``CREATE ROLE``; returns *name*. A role without password cannot log in on TCP."""
        options = [
            "LOGIN" if login else "NOLOGIN",
            "SUPERUSER" if superuser else "NOSUPERUSER",
            "CREATEDB" if createdb else "NOCREATEDB",
        ]
        if password is not None:
            options.append(f"PASSWORD {quote_literal(password)}")
        self.psql(f"CREATE ROLE {quote_ident(name)} {' '.join(options)}")
        return name

    def drop_role(self, name: str) -> None:
        self.psql(f"DROP ROLE IF EXISTS {quote_ident(name)}")

    def create_database(self, name: str, owner: str | None = None) -> str:
        """``CREATE DATABASE`` (owned by *owner* when given); returns *name*."""
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if owner is not None:
            sql += f" OWNER {quote_ident(owner)}"
        self.psql(sql)
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def __repr__(self) -> str:
        return f"<PostgresServer {HOST}:{self._port} dir={self._dir}>"
