"""poptui into a team PostgreSQL database, for bench/fetch_speed.py.

A private PostgreSQL (tests/servers/postgres.py); before each run (untimed) a fresh database
is prepared as a team would: `poptui admin setup-postgres` as the superuser (row-level
security on), then the benchmark's login adds the account, as in the SQLite runs.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import speed_tools as st

from tests.servers.postgres import PostgresServer

LOGIN = "bench_login"


class PostgresPoptui(st.Poptui):
    stored_as = "PostgreSQL team database (row-level security), same commit cadence"

    def __init__(self, scratch: Path) -> None:
        super().__init__(scratch, "poptui into PostgreSQL")
        self.server = PostgresServer()
        self.password = secrets.token_urlsafe(12)
        self._serial = 0
        self._url = ""

    def __enter__(self) -> Self:
        self.server.start()
        self.server.create_role(LOGIN, self.password)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.stop()

    def database_url(self, workdir: Path) -> str:
        return self._url

    def prepare(self, target: st.Target, workdir: Path) -> tuple[list[str], dict[str, str]]:
        if self._url:
            self.server.drop_database(self._url.rsplit("/", 1)[1])
        self._serial += 1
        name = self.server.create_database(f"poptui_bench_{self._serial}")
        self._url = self.server.url(name)  # the superuser, for the set-up
        setup = [*st.POPTUI, "admin", "setup-postgres", "--user", LOGIN]
        done = subprocess.run(
            setup, env=self.env_for(workdir), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise SystemExit(f"setup-postgres failed: {done.stderr}")
        self._url = self.server.url(name, LOGIN, self.password)
        self.set_up(target, workdir)
        return [*st.POPTUI, "fetch", "--account", "Bench"], self.env_for(workdir)

    def count(self, target: st.Target, workdir: Path, stdout: str) -> tuple[int, int]:
        name = self._url.rsplit("/", 1)[1]
        out = self.server.psql(
            "SELECT count(*), coalesce(sum(octet_length(raw)), 0) FROM message_source", name
        )
        count, size = out.split("|")
        return int(count), int(size)
