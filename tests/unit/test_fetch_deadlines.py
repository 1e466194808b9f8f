"""Deadlines and steady progress against slow and lying servers (issue #9, item 3), in-process.

A server that drips one byte every half second never trips a per-read timeout; the message
and session deadlines end such a fetch, keep what arrived whole, delete nothing and release
the lock. Mail that arrived whole is committed within seconds even while the next message
crawls. A message shorter than announced is skipped (never deleted) and the rest still come.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import DEFAULT_CAPA, FakePop3Server
from tests.servers.paced_pop3 import PacedPop3Server
from tui.core.net import pop3
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, FetchLog, Message
from tui.core.sync import FetchOptions, fetch_account, summary_line
from tui.core.sync.batch import BATCH_SECONDS, BatchWriter
from tui.core.sync.control import DeadlinePassed, FetchControl, allowance


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/deadlines.db")
    yield db
    db.close()


def account_for(server: FakePop3Server, **changes: Any) -> Account:
    settings = AccountSettings(
        name="Slow",
        email="alice@example.com",
        incoming_host="127.0.0.1",
        incoming_port=server.port,
        incoming_security=Security.NONE,
        username="alice",
        delete_policy=changes.pop("delete_policy", DeletePolicy.AFTER_FETCH),
        **changes,
    )
    return AccountStore("tester").create(settings)


def fetch(account: Account, tmp_path: Path, **options: Any) -> Any:
    chosen = FetchOptions(lock_dir=tmp_path / "locks", timeout=5, **options)
    return fetch_account(Account.get_by_id(account.id), "secret", options=chosen)


def stored_subjects() -> list[str]:
    return sorted(m.subject for m in Message.select())


def deleted_anywhere(server: FakePop3Server) -> set[int]:
    return {n for s in server.sessions for n in s.deleted}


def test_the_allowance_suits_a_one_megabyte_per_second_line() -> None:
    # 20 MB at 1 MB/s takes 20 s; the deadline allows 80 s on top of the fixed minute.
    assert allowance(60, 20 * 1024 * 1024) == pytest.approx(140)
    assert allowance(60, 0) == 60


def test_slow_drip_hits_the_message_deadline(tmp_path: Path) -> None:
    messages = [make_message(i) for i in range(4)]
    with PacedPop3Server(messages, pace={3: (0.5, 1)}) as server:
        account = account_for(server)
        began = time.monotonic()
        result = fetch(account, tmp_path, message_deadline=1.5)
        took = time.monotonic() - began
        assert isinstance(result.error, DeadlinePassed)
        line = summary_line(result)
        assert "message 3 took longer than its deadline" in line
        assert "2 new messages stored, nothing was deleted" in line
        assert took < 5, "the per-read timeout (5 s) never fires on a drip; the deadline must"
        assert stored_subjects() == ["Message number 0", "Message number 1"]
        assert deleted_anywhere(server) == set() and server.committed_deletions == []
        assert "QUIT" not in server.last.verbs
        log = FetchLog.select().order_by(FetchLog.id.desc()).first()
        assert (log.status, log.error_kind, log.new_messages) == ("error", "deadline", 2)

        # The lock was released: the next fetch runs and, the line being fast now, finishes.
        server.pace = {}
        again = fetch(account, tmp_path, message_deadline=1.5)
        assert (again.ok, again.new_messages) == (True, 2), summary_line(again)
        assert len(stored_subjects()) == 4


def test_a_session_that_crawls_hits_the_session_deadline(tmp_path: Path) -> None:
    messages = [make_message(i) for i in range(6)]
    pace = {n: (0.2, 60) for n in range(1, 7)}  # each message ~1 s, every read quick
    with PacedPop3Server(messages, pace=pace) as server:
        account = account_for(server)
        result = fetch(account, tmp_path, session_deadline=2.5)
        assert isinstance(result.error, DeadlinePassed)
        assert "the session took longer than its deadline" in summary_line(result)
        assert 1 <= result.new_messages < 6
        assert len(stored_subjects()) == result.new_messages
        assert server.committed_deletions == []


def test_mail_that_arrived_whole_is_committed_while_the_next_message_crawls(
    tmp_path: Path,
) -> None:
    messages = [make_message(i) for i in range(3)]
    with PacedPop3Server(messages, pace={3: (0.5, 1)}) as server:
        account = account_for(server, delete_policy=DeletePolicy.LEAVE)
        control = FetchControl()
        outcome: list[Any] = []
        worker = threading.Thread(
            target=lambda: outcome.append(
                fetch_account(
                    Account.get_by_id(account.id),
                    "secret",
                    options=FetchOptions(lock_dir=tmp_path / "locks", timeout=5),
                    control=control,
                )
            )
        )
        worker.start()
        try:
            deadline = time.monotonic() + BATCH_SECONDS + 2
            committed = 0
            while time.monotonic() < deadline and committed < 2:
                time.sleep(0.1)
                # Another connection sees only what was committed.
                with sqlite3.connect(tmp_path / "deadlines.db") as other:
                    committed = other.execute("SELECT count(*) FROM message").fetchone()[0]
            assert committed == 2, "messages 1 and 2 arrived whole but were not committed"
            assert worker.is_alive(), "the fetch should still be waiting for message 3"
        finally:
            control.cancel()
            worker.join(timeout=10)
        assert outcome and outcome[0].new_messages == 2


def test_batch_writer_commits_on_time_with_an_injected_clock() -> None:
    account = AccountStore("tester").create(
        AccountSettings(name="Clock", email="a@example.com", incoming_host="h", username="a")
    )
    now = [100.0]
    writer = BatchWriter(account, dedupe_message_id=False, clock=lambda: now[0])
    assert writer.due() is None
    writer.add("u1", make_message(1))
    assert writer.due() == BATCH_SECONDS and writer.stored == 0
    now[0] += 1.5
    assert writer.due() == pytest.approx(0.5)
    now[0] += 0.5
    writer.add("u2", make_message(2))  # the first has waited 2 s: both are committed
    assert (writer.stored, writer.commits, writer.due()) == (2, 1, None)


def test_a_summary_made_ahead_is_used_only_for_the_very_bytes_it_was_made_from() -> None:
    """The reader parses ahead and offers the summary; a summary offered for other bytes (the
    engine stored something else in between) must never label this message."""
    from tui.core.mail.summary import MessageSummary
    from tui.core.storage.models import Message

    account = AccountStore("tester").create(
        AccountSettings(name="Ahead", email="a@example.com", incoming_host="h", username="a")
    )
    writer = BatchWriter(account, dedupe_message_id=False)
    first, second = make_message(1), make_message(2)
    writer.offer(first, MessageSummary(subject="parsed ahead"))
    writer.add("u1", first)
    writer.offer(first, MessageSummary(subject="not this message"))
    writer.add("u2", second)  # other bytes: parsed here
    writer.add("u3", make_message(3))  # nothing offered: parsed here
    writer.flush()
    rows: Any = Message.select(Message.uidl, Message.subject).tuples()
    subjects = dict(rows)
    assert subjects == {"u1": "parsed ahead", "u2": "Message number 2", "u3": "Message number 3"}


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_message_shorter_than_announced_is_skipped_and_the_rest_stored(
    tmp_path: Path, pipelining: bool
) -> None:
    messages = [make_message(i) for i in range(5)]
    capa = DEFAULT_CAPA if pipelining else tuple(c for c in DEFAULT_CAPA if c != "PIPELINING")
    sizes = {2: len(messages[1]) + 40, 4: len(messages[3]) + 7}
    with FakePop3Server(messages, capa=capa, list_sizes=sizes) as server:
        account = account_for(server)
        result = fetch(account, tmp_path)
        assert result.ok, summary_line(result)
        assert result.new_messages == 3
        assert [(e.number, e.expected - e.received) for e in result.size_mismatches] == [
            (2, 40),
            (4, 7),
        ]
        line = summary_line(result)
        assert "2 skipped as not the size the server announced (2 shorter:" in line
        assert "message 2:" in line and "message 4:" in line
        assert stored_subjects() == [f"Message number {i}" for i in (0, 2, 4)]
        assert server.committed_deletions == [1, 3, 5]  # never a skipped one
        log = FetchLog.select().order_by(FetchLog.id.desc()).first()
        assert (log.status, log.error_kind) == ("ok", "size_mismatch")
        assert "message 2" in log.error_message and "message 4" in log.error_message


def test_a_message_far_longer_than_announced_is_skipped_and_the_rest_stored(
    tmp_path: Path,
) -> None:
    body = b"".join(b"line %04d of a long message\r\n" % i for i in range(200))
    messages = [make_message(0), make_message(1, body=body), make_message(2)]
    with FakePop3Server(messages, list_sizes={2: 100}) as server:
        account = account_for(server)
        result = fetch(account, tmp_path)
        assert result.ok, summary_line(result)
        assert "1 skipped as not the size the server announced (1 longer: message 2:" in (
            summary_line(result)
        )
        assert stored_subjects() == ["Message number 0", "Message number 2"]
        assert server.committed_deletions == [1, 3]


def test_a_message_far_past_its_budget_is_read_to_its_end_discarded_and_skipped(
    tmp_path: Path,
) -> None:
    # 1.4 MB where 100 bytes were announced: read on without keeping it, then skipped in step.
    body = b"".join(b"line %06d of a very long message\r\n" % i for i in range(40_000))
    messages = [make_message(0), make_message(1, body=body), make_message(2)]
    with FakePop3Server(messages, list_sizes={2: 100}) as server:
        account = account_for(server)
        result = fetch(account, tmp_path)
        assert result.ok, summary_line(result)
        assert "1 skipped as not the size the server announced" in summary_line(result)
        assert stored_subjects() == ["Message number 0", "Message number 2"]
        assert server.committed_deletions == [1, 3]


def test_a_message_out_of_step_ends_the_session_cleanly(tmp_path: Path) -> None:
    # Past the global ceiling without an end marker: the stream cannot be trusted any more.
    body = (b"x" * 78 + b"\r\n") * (MAX_MESSAGE_BYTES // 80 + 1000)
    messages = [make_message(0), make_message(1, body=body), make_message(2)]
    with FakePop3Server(messages, list_sizes={2: 100}) as server:
        account = account_for(server)
        result = fetch(account, tmp_path)
        assert isinstance(result.error, pop3.ProtocolError), summary_line(result)
        assert "far larger than the 100 bytes announced" in summary_line(result)
        assert stored_subjects() == ["Message number 0"]
        assert "QUIT" not in server.last.verbs  # out of step: aborted, not reused
        assert deleted_anywhere(server) == set() and server.committed_deletions == []
        again = fetch(account, tmp_path)  # the lock was released
        assert isinstance(again.error, pop3.ProtocolError)


def test_a_message_a_little_longer_than_announced_is_kept(tmp_path: Path) -> None:
    # Servers that count stored LF line ends (or add a header after LIST) announce less.
    messages = [make_message(i) for i in range(2)]
    with FakePop3Server(messages, list_sizes={1: len(messages[0]) - 12}) as server:
        account = account_for(server)
        result = fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.size_mismatches) == (True, 2, [])
