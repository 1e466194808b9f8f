"""Issue #14 item 1: several mailboxes fetched at once, each on its own POP3 and database
connection, against the suite's real Dovecot, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import pty
import secrets
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PgDatabase
from tests.integration.fetch_helpers import dovecot_account, make_message
from tests.servers.dovecot import DovecotServer
from tui.core.settings import Security
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message, database_proxy
from tui.core.sync import FetchOptions, FetchResult, SyncProgress
from tui.core.sync.fanout import MailboxJob, fetch_many

POPTUI = [sys.executable, "-m", "tui"]
BOXES = 4
PER_BOX = 30


@pytest.fixture
def users(dovecot: DovecotServer) -> Iterator[list[tuple[str, str]]]:
    made = []
    try:
        for box in range(BOXES):
            name, password = f"c{secrets.token_hex(5)}", secrets.token_urlsafe(10)
            dovecot.add_user(name, password)
            made.append((name, password))
            dovecot.deliver_many(
                name,
                [
                    make_message(box * 1000 + i, extra_headers=f"X-Box: {box}\r\n")
                    for i in range(PER_BOX)
                ],
            )
        yield made
    finally:
        for name, _ in made:
            dovecot.clear(name)
            dovecot.remove_user(name)


def _jobs(dovecot: DovecotServer, users: list[tuple[str, str]]) -> list[MailboxJob]:
    return [
        MailboxJob(dovecot_account(dovecot, name, name=f"Box{index}"), password)
        for index, (name, password) in enumerate(users)
    ]


class ConcurrencyProbe:
    """The engine's progress callback: counts fetches logged in at the same moment, and (with
    `gather`) holds each one after login until all of them are logged in at once."""

    def __init__(self, gather: int = 0) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.barrier = threading.Barrier(gather, timeout=60) if gather else None

    def __call__(self, progress: SyncProgress) -> None:
        if progress.phase == "listing":
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
            if self.barrier is not None:
                self.barrier.wait()  # BrokenBarrierError when they never all run together
        elif progress.phase == "done":
            with self.lock:
                self.active -= 1


def _stored_per_box() -> dict[int, int]:
    counts: dict[int, int] = {}
    for message in Message.select(Message.account):
        key = int(message.account_id)  # type: ignore[attr-defined]
        counts[key] = counts.get(key, 0) + 1
    return counts


def _check_all_stored_once(results: list[FetchResult | Exception]) -> None:
    assert all(isinstance(r, FetchResult) and r.ok for r in results), results
    assert [r.new_messages for r in results if isinstance(r, FetchResult)] == [PER_BOX] * BOXES
    assert sorted(_stored_per_box().values()) == [PER_BOX] * BOXES
    total = Message.select().count()
    unique = Message.select(Message.account, Message.uidl).distinct().count()
    assert total == unique == PER_BOX * BOXES


def test_mailboxes_are_fetched_at_the_same_time_each_on_its_own_connection(
    dovecot: DovecotServer, users: list[tuple[str, str]], tmp_path: Path
) -> None:
    open_database(f"sqlite:///{tmp_path}/many.db")
    probe = ConcurrencyProbe(gather=BOXES)  # passes only if all four are logged in at once
    options = FetchOptions(lock_dir=tmp_path / "locks", timeout=20)
    jobs = _jobs(dovecot, users)
    results = fetch_many(jobs, options, limit=BOXES, progress=probe)
    assert probe.most == BOXES
    _check_all_stored_once(results)
    again_jobs = [MailboxJob(Account.get_by_id(j.account.id), j.password) for j in jobs]
    again = fetch_many(again_jobs, options, limit=BOXES)
    assert [r.new_messages for r in again if isinstance(r, FetchResult)] == [0] * BOXES


def test_jobs_1_fetches_one_mailbox_at_a_time(
    dovecot: DovecotServer, users: list[tuple[str, str]], tmp_path: Path
) -> None:
    open_database(f"sqlite:///{tmp_path}/one.db")
    probe = ConcurrencyProbe()
    options = FetchOptions(lock_dir=tmp_path / "locks", timeout=20)
    results = fetch_many(_jobs(dovecot, users), options, limit=1, progress=probe)
    assert probe.most == 1
    _check_all_stored_once(results)


def test_concurrent_fetch_on_postgresql_stores_every_message_once(
    dovecot: DovecotServer, users: list[tuple[str, str]], pg_database: PgDatabase, tmp_path: Path
) -> None:
    open_database(pg_database.url)
    try:
        probe = ConcurrencyProbe(gather=BOXES)
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=20)
        results = fetch_many(_jobs(dovecot, users), options, limit=BOXES, progress=probe)
        assert probe.most == BOXES
        _check_all_stored_once(results)
    finally:
        database_proxy.obj.close()


# ------------------------------------------------------------------ the command


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/cmd.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def add_accounts(
    env: dict[str, str], dovecot: DovecotServer, users: list[tuple[str, str]], names: list[str]
) -> None:
    for name, (user, password) in zip(names, users, strict=True):
        added = run(
            env, "account", "add", name, "--email", f"{user}@example.com",
            "--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port),
            "--incoming-security", Security.NONE.value, "--username", user, "--no-preset",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        chosen = run(env, "secrets", "use", "command", name, "--incoming", f"printf %s {password}")
        assert chosen.returncode == 0, chosen.stderr


def test_fetch_all_summary_is_in_name_order_and_plain_when_not_a_terminal(
    env: dict[str, str], dovecot: DovecotServer, users: list[tuple[str, str]]
) -> None:
    # The last name gets a wrong password: it fails at once, long before the others finish.
    names = ["delta", "alpha", "charlie", "bravo"]
    add_accounts(env, dovecot, users, names)
    assert (
        run(env, "secrets", "use", "command", "bravo", "--incoming", "printf %s wrong").returncode
        == 0
    )
    done = run(env, "fetch", "--all", "--jobs", "4")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["alpha", "charlie", "delta"]
    assert all(f"{PER_BOX} new messages" in line for line in lines)
    assert done.stderr.startswith("poptui: bravo:")
    assert "\x1b" not in done.stdout + done.stderr
    usage = run(env, "fetch", "--all", "--jobs", "0")
    assert usage.returncode == 2 and "between 1 and 64" in usage.stderr


def test_fetch_all_on_a_terminal_draws_one_line_per_mailbox_then_the_summary(
    env: dict[str, str], dovecot: DovecotServer, users: list[tuple[str, str]]
) -> None:
    names = ["one", "two", "three", "four"]
    add_accounts(env, dovecot, users, names)
    pid, fd = pty.fork()
    if pid == 0:  # the child: poptui on a terminal
        os.execvpe(POPTUI[0], [*POPTUI, "fetch", "--all"], env)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    text = output.decode()
    assert "mailboxes fetched" in text  # the board's count line
    assert "\x1b[2K" in text  # lines redrawn in place
    tail = text.rsplit("\x1b[J", 1)[-1]  # after the board was erased: the summary alone
    summary = [line for line in tail.replace("\r", "").splitlines() if line]
    assert [line.split(":")[0] for line in summary] == sorted(names)
