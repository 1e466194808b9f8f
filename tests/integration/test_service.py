"""Issue #14 item 2: the fetch service against the suite's real Dovecot, in this process with
short poll intervals (one "minute" of the account's setting lasts a second here).

Gaps between fetches are checked from below only (at least the interval, at least the doubled
interval after failures): a loaded machine makes them longer, never shorter.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import dovecot_account, make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.paced_pop3 import PacedPop3Server
from tui.core.service import records
from tui.core.service.journal import ServiceLog
from tui.core.service.runner import FetchService, ServiceConfig
from tui.core.settings import AccountSettings, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, FetchLog, Message, database_proxy
from tui.core.sync import AUTH_FAILURES_BEFORE_DISABLE, FetchOptions

SECOND_PER_MINUTE: Callable[[Account], timedelta] = lambda a: timedelta(  # noqa: E731
    seconds=max(1, a.poll_minutes)
)


class RunningService:
    """A `FetchService` running in a thread of this process, as `poptui service run` runs it."""

    def __init__(self, tmp_path: Path, passwords: dict[str, str]) -> None:
        self.log = io.StringIO()
        self.passwords = passwords
        config = ServiceConfig(
            options=FetchOptions(lock_dir=tmp_path / "locks", timeout=10),
            jobs=4,
            check_seconds=0.2,
            heartbeat_seconds=0.5,
            stop_grace=2.0,
            interval=SECOND_PER_MINUTE,
        )
        self.service = FetchService(
            AccountStore("tester"),
            lambda account: self.passwords.get(account.name),
            ServiceLog(self.log, journald=True),
            config,
        )
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.service.request_stop()
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], RunningService]]:
    open_database(f"sqlite:///{tmp_path}/service.db")
    started: list[RunningService] = []

    def start(passwords: dict[str, str]) -> RunningService:
        started.append(RunningService(tmp_path, passwords))
        return started[-1]

    yield start
    for service in started:
        if service.thread.is_alive():
            service.stop()
    database_proxy.obj.close()


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def fetch_starts(account: Account) -> list[float]:
    rows = FetchLog.select().where(FetchLog.account == account).order_by(FetchLog.id)
    return [row.started_at.timestamp() for row in rows]


def gaps(starts: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(starts)]


def test_each_mailbox_is_fetched_on_its_own_interval_and_new_mail_arrives_once(
    running: Callable[[dict[str, str]], RunningService],
    dovecot: DovecotServer,
    pop_user: PopUser,
    tmp_path: Path,
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    fast = dovecot_account(dovecot, pop_user.name, name="Fast", poll_minutes=1)
    slow = dovecot_account(dovecot, pop_user.name, name="Slow", poll_minutes=3)
    service = running({"Fast": pop_user.password, "Slow": pop_user.password})
    wait_for(lambda: len(fetch_starts(fast)) >= 3)
    dovecot.deliver(pop_user.name, make_message(99))
    wait_for(lambda: len(fetch_starts(fast)) >= 6)
    wait_for(lambda: Message.select().where(Message.account == slow).count() == 4)
    service.stop()
    fast_starts, slow_starts = fetch_starts(fast), fetch_starts(slow)
    assert all(gap >= 0.95 for gap in gaps(fast_starts)), gaps(fast_starts)
    assert all(gap >= 2.9 for gap in gaps(slow_starts)), gaps(slow_starts)
    assert len(slow_starts) < len(fast_starts)
    for account in (fast, slow):  # both saw all four messages, each stored once
        assert Message.select().where(Message.account == account).count() == 4
    log = service.log.getvalue().splitlines()
    # Every fetch leaves one line. A fetch still connecting when the stop came is cancelled
    # (a warning, "<4>"); the stop lands at any moment, so that may be the last one of each box.
    for name, starts in (("Fast", fast_starts), ("Slow", slow_starts)):
        fetched = [line for line in log if line[3:].startswith(f"fetched {name}: ")]
        assert len(fetched) == len(starts), fetched
        assert all(line.startswith("<6>") for line in fetched[:-1]), fetched
        last = fetched[-1]
        assert last.startswith("<6>") or (
            last.startswith(f"<4>fetched {name}: Fetch") and "stopped" in last
        ), fetched
    assert all("T" not in line.split(" ")[0] for line in log)  # journald: no timestamps
    beat = records.heartbeats("tester")[0]
    assert (beat.pid, beat.mailboxes, beat.host) == (os.getpid(), 2, records.this_host())
    assert beat.stopped_at is not None  # a clean stop says so
    rows = records.service_fetches([fast.id, slow.id])
    for account in (fast, slow):
        last_line = [line for line in log if f"fetched {account.name}: " in line][-1]
        assert rows[account.id].status == ("ok" if last_line.startswith("<6>") else "cancelled")


def test_failures_back_off_exponentially_and_never_sooner_than_the_interval(
    running: Callable[[dict[str, str]], RunningService],
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    box = dovecot_account(dovecot, pop_user.name, name="Box", poll_minutes=1)
    service = running({"Box": "wrong password"})
    wait_for(lambda: len(fetch_starts(box)) >= 4, timeout=90)
    service.stop()
    waited = gaps(fetch_starts(box))
    # After 1, 2 and 3 failures in a row: 1, 2 and 4 intervals.
    assert waited[0] >= 0.95 and waited[1] >= 1.9 and waited[2] >= 3.8, waited
    assert records.service_fetches([box.id])[box.id].failures >= 3
    assert "<4>fetched Box: " in service.log.getvalue()


def test_an_auto_disabled_mailbox_is_left_alone_until_it_is_enabled_again(
    running: Callable[[dict[str, str]], RunningService],
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(2)])
    box = dovecot_account(dovecot, pop_user.name, name="Box", poll_minutes=1)
    Account.update(consecutive_auth_failures=AUTH_FAILURES_BEFORE_DISABLE - 1).where(
        Account.id == box.id
    ).execute()
    passwords = {"Box": "wrong password"}
    service = running(passwords)
    wait_for(lambda: Account.get_by_id(box.id).disabled)
    time.sleep(3.5)  # three intervals: a scheduled mailbox would have been tried again
    assert len(fetch_starts(box)) == 1
    passwords["Box"] = pop_user.password  # the user fixes the password and enables it
    AccountStore("tester").enable("Box")
    wait_for(lambda: Message.select().where(Message.account == box).count() == 2)
    service.stop()
    assert len(fetch_starts(box)) == 2


def test_one_slow_server_does_not_delay_the_other_mailboxes(
    running: Callable[[dict[str, str]], RunningService],
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    # The slow server drips its one message a byte every 0.2 s: its fetch lasts minutes.
    with PacedPop3Server([make_message(1)], pace={1: (0.2, 1)}) as slow_server:
        slow = AccountStore("tester").create(
            AccountSettings(
                name="Slow",
                email="a@example.com",
                incoming_host="127.0.0.1",
                incoming_port=slow_server.port,
                incoming_security=Security.NONE,
                username="alice",
                poll_minutes=1,
            )
        )
        fast = dovecot_account(dovecot, pop_user.name, name="Fast", poll_minutes=1)
        service = running({"Slow": "secret", "Fast": pop_user.password})
        wait_for(lambda: len(fetch_starts(fast)) >= 4)
        statuses = [row.status for row in FetchLog.select().where(FetchLog.account == slow)]
        assert statuses == ["running"]  # still on its first message all along
        service.stop()
    assert Message.select().where(Message.account == slow).count() == 0
