"""`poptui service run` as systemd runs it: a process of its own, stopped with SIGTERM, while
`poptui account add` (another process) changes the account list under it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.paced_pop3 import PacedPop3Server
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, FetchLog, Message, database_proxy
from tui.core.sync import account_lock

POPTUI = [sys.executable, "-m", "tui"]
MESSAGES = 12
SLOW = 5
"""The message the server drips out slowly: the service is stopped while reading it."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/service.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        JOURNAL_STREAM="8:12345",  # as under systemd: priority prefixes, no timestamps
    )


@pytest.fixture
def db(env: dict[str, str]) -> Iterator[None]:
    open_database(env["POPTUI_DATABASE"])
    yield
    database_proxy.obj.close()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def add_account(env: dict[str, str], name: str, port: int, user: str, password: str) -> None:
    added = run(
        env, "account", "add", name, "--email", f"{user}@example.com",
        "--incoming-host", "127.0.0.1", "--incoming-port", str(port),
        "--incoming-security", "none", "--username", user, "--no-preset",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    chosen = run(env, "secrets", "use", "command", name, "--incoming", f"printf %s {password}")
    assert chosen.returncode == 0, chosen.stderr


class ServiceProcess:
    def __init__(self, env: dict[str, str], tmp_path: Path, *args: str) -> None:
        self.log_path = tmp_path / f"service-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*POPTUI, "service", "run", "--check-seconds", "0.3", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


@pytest.fixture
def service(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(*args: str) -> ServiceProcess:
        started.append(ServiceProcess(env, tmp_path, *args))
        return started[-1]

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def wait_for(predicate: Callable[[], object], what: object, timeout: float = 60.0) -> None:
    """Poll `predicate`; fail after `timeout` naming `what` (called, when it can be: a log)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not in time: {what() if callable(what) else what}"
        time.sleep(0.05)


def stored(name: str) -> list[str]:
    account = Account.get(Account.name == name)
    query = Message.select(Message.uidl).where(Message.account == account)
    return sorted(row.uidl for row in query)


def test_the_service_picks_up_an_account_added_from_the_command_line(
    env: dict[str, str],
    db: None,
    service: Callable[..., ServiceProcess],
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    add_account(env, "First", dovecot.plain_port, pop_user.name, pop_user.password)
    running = service()
    wait_for(lambda: len(stored("First")) == 3, "the first mailbox fetched")
    add_account(env, "Second", dovecot.plain_port, pop_user.name, pop_user.password)
    wait_for(lambda: len(stored("Second")) == 3, lambda: f"the added mailbox: {running.log}")
    assert running.terminate() == 0
    log = running.log
    assert "<6>account list changed: 2 mailboxes to fetch (1 added, 0 dropped)" in log
    assert "<6>fetched First: 3 new messages" in log
    assert "<6>fetched Second: 3 new messages" in log
    assert "\x1b" not in log
    again = run(env, "fetch", "--all")  # nothing was left behind or stored twice
    assert again.stdout.count("0 new messages") == 2, again.stdout + again.stderr


def test_a_second_service_of_the_same_user_is_refused(
    env: dict[str, str], db: None, service: Callable[..., ServiceProcess]
) -> None:
    add_account(env, "Box", 9, "alice", "secret")  # a password store to open
    first = service()
    wait_for(lambda: "service started" in first.log, lambda: f"the first service: {first.log}")
    second = run(env, "service", "run")
    assert second.returncode == 1
    assert "already running for this user here" in second.stderr
    assert run(env, "service", "run", "--ensure").returncode == 0  # the crontab line's form
    assert first.terminate() == 0


@pytest.mark.parametrize(
    ("grace", "committed"),
    [
        ("30", SLOW),  # time enough: the message being read is finished and committed
        ("0.5", SLOW - 1),  # no time: it is dropped unfinished, and comes next time
    ],
)
def test_sigterm_mid_fetch_keeps_what_arrived_deletes_nothing_and_releases_the_lock(
    env: dict[str, str],
    db: None,
    service: Callable[..., ServiceProcess],
    tmp_path: Path,
    grace: str,
    committed: int,
) -> None:
    mails = [make_message(i, body=b"x" * 200 + b"\r\n") for i in range(1, MESSAGES + 1)]
    # Message SLOW drips out 10 bytes every 0.1 s (about 5 s): meanwhile the ones before it
    # are committed by time (a batch is committed every 2 s).
    with PacedPop3Server(mails, pace={SLOW: (0.1, 10)}) as server:
        add_account(env, "Box", server.port, "alice", "secret")
        Account.update(delete_policy="after_fetch").where(Account.name == "Box").execute()
        running = service("--stop-grace", grace)
        wait_for(lambda: len(stored("Box")) >= SLOW - 1, "the messages before the slow one")
        assert running.terminate() == 0
        assert len(stored("Box")) == committed
        session = server.last
        assert "DELE" not in session.verbs and "QUIT" not in session.verbs  # nothing deleted
        account = AccountStore(Account.get(Account.name == "Box").owner).get("Box")
        with account_lock(account, lock_dir=tmp_path / "state" / "poptui" / "locks"):
            pass  # the mailbox lock was released with the process
        statuses = [row.status for row in FetchLog.select().where(FetchLog.account == account)]
        assert "running" not in statuses
        assert "<6>poptui service stopped after 1 fetches" in running.log
        server.pace = {}
        rest = run(env, "fetch", "--account", "Box")
        assert rest.returncode == 0, rest.stderr
        assert f"{MESSAGES - committed} new messages" in rest.stdout
        uidls = stored("Box")
        assert len(uidls) == len(set(uidls)) == MESSAGES  # nothing lost, nothing twice
