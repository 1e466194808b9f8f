"""Issue #9 item 7: database failures in words. Each failure: exit 1, one line on stderr, no
traceback (unless --debug), the file not damaged further and nothing deleted on the server."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import PeeweeException

from tests.conftest import PgDatabase
from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server, FakeSession
from tests.servers.postgres import PostgresServer
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage import failures
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, FetchLog, Message
from tui.core.sync import FetchOptions, fetch_account

POPTUI = [sys.executable, "-m", "tui"]
IS_ROOT = os.geteuid() == 0


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def one_worded_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )


def add_account(env: dict[str, str], server: FakePop3Server, **policy: str) -> None:
    extra = ["--delete-policy", policy["delete"]] if "delete" in policy else []
    added = run(
        env,
        "account",
        "add",
        "Box",
        "--email",
        "box@example.com",
        "--incoming-host",
        server.host,
        "--incoming-port",
        str(server.port),
        "--incoming-security",
        "none",
        "--username",
        "alice",
        "--no-preset",
        *extra,
    )
    assert added.returncode == 0, added.stderr
    chosen = run(env, "secrets", "use", "command", "Box", "--incoming", "printf %s secret")
    assert chosen.returncode == 0, chosen.stderr


def nothing_deleted(server: FakePop3Server) -> None:
    assert server.committed_deletions == []
    assert all("DELE" not in session.verbs for session in server.sessions)


@pytest.mark.parametrize(
    "url",
    ["mysql://host/db", "sqlite://", "postgresql://user@127.0.0.1:1/", "nonsense"],
)
def test_a_malformed_url_is_one_line(env: dict[str, str], url: str) -> None:
    line = one_worded_line(run(env, "--database", url, "account", "list"))
    assert "sqlite:///" in line  # says what a good URL looks like


def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "notes.txt"
    other.write_bytes(b"my notes, not a database\n" * 200)
    before = other.read_bytes()
    one_worded_line(
        run(env, "--database", f"sqlite:///{other}", "account", "list"), "not a poptui database"
    )
    assert other.read_bytes() == before
    doctor = run(env, "--database", f"sqlite:///{other}", "doctor")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert "[fail ] Database: " in doctor.stdout and "not a poptui database" in doctor.stdout


def test_debug_shows_the_traceback(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_bytes(b"x" * 5000)
    shown = run(env, "--debug", "--database", f"sqlite:///{other}", "account", "list")
    assert shown.returncode == 1
    assert "Traceback" in shown.stderr
    assert shown.stderr.strip().splitlines()[-1].startswith("poptui: Cannot open the database")


def _database_with_mail(path: Path, count: int = 400) -> None:
    open_database(f"sqlite:///{path}")
    account = AccountStore("tester").create(
        AccountSettings(name="Box", email="box@example.com", incoming_host="127.0.0.1")
    )
    for i in range(count):
        Message.create(account=account, uidl=f"u{i}", size=100, subject=f"subject {i}" * 20)
    Account._meta.database.close()


def test_a_corrupt_file_is_one_line_and_doctor_finds_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "mail.db"
    _database_with_mail(path)
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = path.stat().st_size // page_size
    with path.open("r+b") as file:  # the middle of the file: message rows and their indexes
        file.seek(page_size * (pages // 2))
        file.write(os.urandom(page_size * 3))
    url = f"sqlite:///{path}"
    doctor = run(env, "--database", url, "doctor")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stdout + doctor.stderr
    assert "[fail ] Database integrity: " in doctor.stdout, doctor.stdout
    # The header page too: nothing can be read any more.
    with path.open("r+b") as file:
        file.seek(100)
        file.write(os.urandom(page_size - 100))
    one_worded_line(run(env, "--database", url, "account", "list"))


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MiB tmpfs (root only), unmounted afterwards: room for an empty database (1.5 MB
    with its 32 KiB pages) and its first write-ahead log, not for a fetch of 8 MB."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = Path(tempfile.mkdtemp(prefix="poptui-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        mountpoint.rmdir()


def test_a_full_disk_during_fetch_is_one_line_and_deletes_nothing(
    env: dict[str, str], small_disk: Path, tmp_path: Path
) -> None:
    body = b"z" * 20_000 + b"\r\n"
    with FakePop3Server([make_message(i, body=body) for i in range(400)]) as server:
        env["POPTUI_DATABASE"] = f"sqlite:///{small_disk}/mail.db"
        add_account(env, server, delete="after_fetch")
        fetched = run(env, "fetch")
        one_worded_line(fetched, "disk", "full")
        nothing_deleted(server)
        doctor = run(env, "doctor")
        assert "[fail ] Free disk space" in doctor.stdout or "full" in doctor.stdout, doctor.stdout
    copy = tmp_path / "copy.db"
    for suffix in ("", "-wal"):
        if (small_disk / f"mail.db{suffix}").exists():
            shutil.copy(small_disk / f"mail.db{suffix}", f"{copy}{suffix}")
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
        assert conn.execute("SELECT status FROM fetch_log").fetchall() == [("running",)]
    # With room again, the next fetch closes the killed fetch's log row and stores everything.
    env["POPTUI_DATABASE"] = f"sqlite:///{copy}"
    with FakePop3Server([make_message(i) for i in range(5)]) as server:
        run(env, "account", "edit", "Box", "--incoming-port", str(server.port))
        refetched = run(env, "fetch")
        assert refetched.returncode == 0, refetched.stderr
    with sqlite3.connect(copy) as conn:
        statuses = sorted(conn.execute("SELECT status FROM fetch_log").fetchall())
    assert statuses == [("interrupted",), ("ok",)]


def test_a_full_database_in_process_raises_disk_full_and_deletes_nothing(tmp_path: Path) -> None:
    """The same without root: SQLite's max_page_count stands in for a full disk."""
    db = open_database(f"sqlite:///{tmp_path}/mail.db")
    body = b"z" * 20_000 + b"\r\n"
    with FakePop3Server([make_message(i, body=body) for i in range(150)]) as server:
        account = AccountStore("tester").create(
            AccountSettings(
                name="Box",
                email="box@example.com",
                incoming_host=server.host,
                incoming_port=server.port,
                incoming_security=Security.NONE,
                username="alice",
                delete_policy=DeletePolicy.AFTER_FETCH,
            )
        )
        pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
        db.execute_sql(f"PRAGMA max_page_count = {pages}")  # not a page more: the mail is in files
        with pytest.raises(PeeweeException) as raised:
            fetch_account(
                account, "secret", options=FetchOptions(lock_dir=tmp_path / "locks", timeout=10)
            )
        worded = failures.explain(raised.value, f"sqlite:///{tmp_path}/mail.db")
        assert isinstance(worded, failures.DiskFull), worded
        nothing_deleted(server)
    assert db.execute_sql("PRAGMA quick_check").fetchone() == ("ok",)


def test_a_read_only_file_is_one_line_and_doctor_finds_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "mail.db"
    env["POPTUI_DATABASE"] = f"sqlite:///{path}"
    assert run(env, "account", "list").returncode == 0
    add = ["account", "add", "X", "--email", "x@example.com", "--incoming-host", "127.0.0.1"]
    if IS_ROOT:  # file modes do not stop root: make the file immutable instead
        if shutil.which("chattr") is None:
            pytest.skip("no chattr")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("this file system has no immutable flag")
        try:
            failed = run(env, *add, "--no-preset")
            doctor = run(env, "doctor")
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        failed = run(env, *add, "--no-preset")
        doctor = run(env, "doctor")
    one_worded_line(failed, "read-only")
    assert "[fail ] Database writable: The database is read-only" in doctor.stdout, doctor.stdout


def test_stale_running_fetch_log_rows_are_closed_as_interrupted(tmp_path: Path) -> None:
    open_database(f"sqlite:///{tmp_path}/mail.db")
    with FakePop3Server([make_message(1)]) as server:
        account = AccountStore("tester").create(
            AccountSettings(
                name="Box",
                email="box@example.com",
                incoming_host=server.host,
                incoming_port=server.port,
                incoming_security=Security.NONE,
                username="alice",
            )
        )
        FetchLog.create(account=account, started_at=account.created_at)  # a killed fetch
        result = fetch_account(
            account, "secret", options=FetchOptions(lock_dir=tmp_path / "locks", timeout=10)
        )
    assert result.error is None
    rows = sorted((row.status, row.finished_at is not None) for row in FetchLog.select())
    assert rows == [("interrupted", True), ("ok", True)]


def _pg_admin(postgres_server: PostgresServer, pg_database: PgDatabase) -> Any:
    def kill(_session: FakeSession, args: list[str]) -> bytes:
        postgres_server.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{pg_database.name}' AND pid <> pg_backend_pid()"
        )
        return b""

    return kill


def test_postgres_connection_killed_mid_fetch_is_one_line_and_deletes_nothing(
    env: dict[str, str], postgres_server: PostgresServer, pg_database: PgDatabase
) -> None:
    messages = [make_message(i) for i in range(150)]
    killed: list[int] = []

    def retr(session: FakeSession, args: list[str]) -> bytes:
        number = int(args[0])
        if number == 120 and not killed:  # after the first batch of 100 was committed
            killed.append(number)
            _pg_admin(postgres_server, pg_database)(session, args)
        message = messages[number - 1]
        from tests.servers.fake_pop3 import stuff

        return f"+OK {len(message)} octets\r\n".encode() + stuff(message)

    with FakePop3Server(messages, handlers={"RETR": retr}) as server:
        env["POPTUI_DATABASE"] = pg_database.url
        add_account(env, server, delete="after_fetch")
        fetched = run(env, "fetch")
        assert killed
        one_worded_line(fetched, "PostgreSQL")
        nothing_deleted(server)


def test_value_too_long_on_postgres_is_worded(pg_database: PgDatabase) -> None:
    open_database(pg_database.url)
    account = AccountStore().create(
        AccountSettings(name="Box", email="box@example.com", incoming_host="127.0.0.1")
    )
    with pytest.raises(PeeweeException) as raised:
        Account.update(last_fetch_status="x" * 40).where(Account.id == account.id).execute()
    worded = failures.explain(raised.value, pg_database.url)
    assert isinstance(worded, failures.ValueTooLong), worded
    assert "***" in worded.message or pg_database.password not in worded.message
