"""Fetch behaviour on server quirks a real Dovecot will not produce, via the fake POP3 server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server, FakeSession
from tui.core.net import pop3
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message, UidlAlias
from tui.core.sync import FetchOptions, UidlRequired, fetch_account, summary_line


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/edges.db")
    yield db
    db.close()


def account_for(server: FakePop3Server, *, username: str = "alice", **changes: Any) -> Account:
    settings = AccountSettings(
        name="Fake",
        email="alice@example.com",
        incoming_host="127.0.0.1",
        incoming_port=server.port,
        incoming_security=Security.NONE,
        username=username,
        **changes,
    )
    return AccountStore("tester").create(settings)


def run_fetch(account: Account, tmp_path: Path, password: str = "secret") -> Any:
    options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
    return fetch_account(Account.get_by_id(account.id), password, options=options)


def deleted_numbers(server: FakePop3Server) -> list[int]:
    return sorted(n for s in server.sessions for n in s.deleted)


def no_uidl(session: FakeSession, args: list[str]) -> bytes:
    return b"-ERR UIDL not supported\r\n"


def test_without_uidl_only_delete_after_fetch_is_allowed(tmp_path: Path) -> None:
    messages = [make_message(i) for i in range(3)]
    capa = ("USER", "RESP-CODES", "PIPELINING")
    with FakePop3Server(messages, capa=capa, handlers={"UIDL": no_uidl}) as server:
        keep = account_for(server)
        result = run_fetch(keep, tmp_path)
        assert isinstance(result.error, UidlRequired)
        assert "delete from the server after fetching" in summary_line(result).lower()
        assert Message.select().count() == 0
        AccountStore("tester").remove("Fake", keep_mail=False)
        delete = account_for(server, delete_policy=DeletePolicy.AFTER_FETCH)
        result = run_fetch(delete, tmp_path)
        assert (result.ok, result.new_messages, result.deleted_on_server) == (True, 3, 3)
        quit_sessions = [s for s in server.sessions if "QUIT" in s.verbs]
        assert quit_sessions and sorted(quit_sessions[-1].deleted) == [1, 2, 3]


def test_duplicate_uidls_are_all_fetched_and_deleted_once_told_apart(tmp_path: Path) -> None:
    # popa3d-style: two different messages share one unique-id. Both are stored (apart, by a
    # digest of their bytes); with this session's bytes matching the stored copies they can be
    # told apart for certain, so "delete after fetching" deletes them too.
    messages = [make_message(i) for i in range(4)]
    uids = {1: "same", 2: "same", 3: "u3", 4: "u4"}
    with FakePop3Server(messages, uids=uids) as server:
        account = account_for(server, delete_policy=DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.shared_uidl) == (True, 4, 2)
        assert "2 messages shared a unique-id" in summary_line(result)
        last = [s for s in server.sessions if "QUIT" in s.verbs][-1]
        assert sorted(last.deleted) == [1, 2, 3, 4]
        keys = sorted(m.uidl for m in Message.select())
        assert keys[2:] == ["u3", "u4"] and all(k.startswith("same sha256:") for k in keys[:2])


def test_identical_messages_under_one_uidl_are_stored_once_and_kept(tmp_path: Path) -> None:
    twin = make_message(7)
    with FakePop3Server([twin, twin], uids={1: "same", 2: "same"}) as server:
        account = account_for(server, delete_policy=DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages) == (True, 1)
        assert deleted_numbers(server) == []  # which of the two is stored? cannot tell


def test_gmail_recent_mode_deduplicates_on_message_id(tmp_path: Path) -> None:
    first = [make_message(i) for i in range(3)]
    with FakePop3Server(first, users={"recent:alice@gmail.com": "secret"}) as server:
        account = account_for(server, username="recent:alice@gmail.com")
        assert run_fetch(account, tmp_path).new_messages == 3
    # Gmail serves the same mail again under new UIDLs, plus one new message.
    again = [*first, make_message(3)]
    uids = {n: f"again{n}" for n in range(1, 5)}
    with FakePop3Server(again, uids=uids, users={"recent:alice@gmail.com": "secret"}) as server:
        Account.update(incoming_port=server.port).where(Account.id == account.id).execute()
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.duplicates_by_message_id) == (True, 1, 3)
        assert Message.select().count() == 4
        assert UidlAlias.select().count() == 3
        third = run_fetch(account, tmp_path)
        assert (third.new_messages, third.duplicates_by_message_id) == (0, 0)
        retr = [c for s in server.sessions for c in s.commands if c.upper().startswith("RETR")]
        assert len(retr) == 4  # the third fetch retrieved nothing


@pytest.mark.parametrize(
    ("reply", "error_type", "words"),
    [
        ("-ERR [AUTH] Invalid credentials", pop3.AuthenticationFailed, "password"),
        ("-ERR [IN-USE] Mailbox locked", pop3.MailboxInUse, "in use"),
        ("-ERR [SYS/TEMP] try later", pop3.ServerTemporaryError, ""),
        ("-ERR [SYS/PERM] account closed", pop3.ServerPermanentError, ""),
        ("-ERR [LOGIN-DELAY] wait", pop3.LoginDelay, ""),
    ],
)
def test_response_codes_become_distinct_errors(
    tmp_path: Path, reply: str, error_type: type[Exception], words: str
) -> None:
    with FakePop3Server([make_message(1)], auth_error=reply) as server:
        account = account_for(server)
        result = run_fetch(account, tmp_path, password="whatever-wrong")
    assert isinstance(result.error, error_type)
    assert words in summary_line(result).lower()
    assert "whatever-wrong" not in summary_line(result)
    fresh = Account.get_by_id(account.id)
    auth_failure = error_type is pop3.AuthenticationFailed
    assert fresh.consecutive_auth_failures == (1 if auth_failure else 0)


def test_refused_connection_counts_towards_disabling(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    with FakePop3Server([]) as server:
        account = account_for(server)
    Account.update(incoming_port=port).where(Account.id == account.id).execute()
    result = run_fetch(account, tmp_path)
    assert isinstance(result.error, pop3.ConnectFailed)
    assert f"127.0.0.1:{port}" in summary_line(result)
    assert Account.get_by_id(account.id).consecutive_connect_failures == 1


def test_retrievals_are_pipelined_when_advertised(tmp_path: Path) -> None:
    messages = [make_message(i) for i in range(20)]
    with FakePop3Server(messages) as server:
        account = account_for(server)
        assert run_fetch(account, tmp_path).new_messages == 20
        session = [s for s in server.sessions if "QUIT" in s.verbs][-1]
        chunks_with_many_retr = [c for c in session.chunks if c.count(b"RETR ") > 1]
        assert chunks_with_many_retr, "RETR commands were sent one at a time"
        assert not any(b"DELE" in c and b"RETR" in c for c in session.chunks)


def test_control_cancel_interrupts_a_blocked_read_at_once(tmp_path: Path) -> None:
    """Quitting the app mid-fetch: the socket is closed, stored mail stays, nothing deleted."""
    import threading
    import time

    from tests.servers.fake_pop3 import HANG
    from tui.core.sync import FetchCancelled, FetchControl

    messages = [make_message(i) for i in range(5)]
    served: list[int] = []

    def retr(session: FakeSession, args: list[str]) -> object:
        number = int(args[0])
        if number == 4:
            return HANG  # the server stops answering mid-session
        served.append(number)
        from tests.servers.fake_pop3 import stuff

        return f"+OK {len(messages[number - 1])} octets\r\n".encode() + stuff(messages[number - 1])

    capa = ("UIDL", "USER", "RESP-CODES")  # no pipelining: one RETR at a time
    with FakePop3Server(messages, capa=capa, handlers={"RETR": retr}) as server:
        account = account_for(server, delete_policy=DeletePolicy.AFTER_FETCH)
        control = FetchControl()
        results: list[Any] = []
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=60)
        worker = threading.Thread(
            target=lambda: results.append(
                fetch_account(
                    Account.get_by_id(account.id), "secret", options=options, control=control
                )
            )
        )
        worker.start()
        deadline = time.monotonic() + 10
        while len(served) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # now blocked reading message 4
        started = time.monotonic()
        control.cancel()
        worker.join(timeout=5)
        elapsed = time.monotonic() - started
        assert not worker.is_alive()
        assert elapsed < 1.0, elapsed
        result = results[0]
        assert isinstance(result.error, FetchCancelled)
        assert result.new_messages == 3
        assert Message.select().count() == 3
        assert not any("QUIT" in s.verbs for s in server.sessions)
        assert not any(s.deleted for s in server.sessions)
