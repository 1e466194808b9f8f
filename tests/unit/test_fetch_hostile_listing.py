"""A hostile server's listing (issue #9 item 2): never delete what is not stored, never hide
what is there.

Each scenario lies in one way (sizes, swapped or shared UIDLs, malformed lines) and asserts what
crossed the wire: no DELE for a message that is not stored as listed, every well-formed message
stored exactly once, and the summary counting what was skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server, FakeSession
from tui.core.net.pop3.listing import parse_listing
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message, MessageSource, database_proxy
from tui.core.storage.source_files import read_source
from tui.core.sync import FetchOptions, fetch_account, summary_line
from tui.core.sync.outcome import describe_success


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/hostile.db")
    yield db
    db.close()


def account_for(server: FakePop3Server, policy: DeletePolicy) -> Account:
    settings = AccountSettings(
        name="Hostile",
        email="alice@example.com",
        incoming_host="127.0.0.1",
        incoming_port=server.port,
        incoming_security=Security.NONE,
        username="alice",
        delete_policy=policy,
    )
    return AccountStore("tester").create(settings)


def set_policy(account: Account, policy: DeletePolicy) -> None:
    Account.update(delete_policy=policy).where(Account.id == account.id).execute()


def run_fetch(account: Account, tmp_path: Path) -> Any:
    options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
    return fetch_account(Account.get_by_id(account.id), "secret", options=options)


def dele_sent(server: FakePop3Server) -> list[int]:
    """Every message number any session sent DELE for (QUIT or not)."""
    return sorted(
        int(c.split()[1])
        for s in server.sessions
        for c in s.commands
        if c.upper().startswith("DELE")
    )


def stored_bodies() -> list[bytes]:
    ids = [m.id for m in Message.select(Message.id).join(MessageSource)]
    return sorted(read_source(database_proxy.obj, message_id) or b"" for message_id in ids)


def sized(index: int) -> bytes:
    """Messages of clearly different sizes, so a swapped UIDL cannot pass the size check."""
    return make_message(index, body=b"x" * (100 * (index + 1)) + b"\r\n")


# ------------------------------------------------------------------- the parser itself


def test_parse_listing_is_strict() -> None:
    body = (
        b"1 " + b"a" * 71 + b"\r\n"  # too long
        b"2 has space\r\n"
        b"3 ctl\x01x\r\n"
        b"4 uid4\r\n4 uid4b\r\n"  # two lines for one number
        b"5 " + b"b" * 70 + b"\r\n"  # exactly 70: fine
        b"6 uid6\r\n"
        b"9 uid9\r\n"  # out of range
        b"0 uid0\r\n-1 x\r\nx uid\r\n"
        b"7\r\n"  # no unique-id at all
        b"8 \xe9t\xe9\r\n"  # not ASCII
    )
    listing = parse_listing(body, 8, uidl=True)
    assert listing.entries == {5: "b" * 70, 6: "uid6"}
    assert listing.malformed == {1, 2, 3, 4, 7, 8}
    assert listing.stray_lines == 4
    sizes = parse_listing(b"1 10\r\n2 -3\r\n3 1e3\r\n4 12 extra\r\n5 7\r\n", 5, uidl=False)
    assert sizes.entries == {1: "10", 5: "7"} and sizes.malformed == {2, 3, 4}


# ---------------------------------------------------------------- malformed UIDL lines


def malformed_uidl(session: FakeSession, args: list[str]) -> bytes:
    lines = [
        b"1 " + b"a" * 71,
        b"2 has space",
        b"3 ctl\x01x",
        b"4 uid4",
        b"4 uid4b",
        b"5 uid0005",
        b"9 uid0009",  # out of range: message 6 has no line of its own
        b"7 uid0007",
    ]
    return b"+OK\r\n" + b"".join(line + b"\r\n" for line in lines) + b".\r\n"


def test_malformed_uidl_lines_skip_those_messages_only(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(7)]
    with FakePop3Server(messages, handlers={"UIDL": malformed_uidl}) as server:
        account = account_for(server, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert result.ok, result.error
        assert (result.new_messages, result.skipped_malformed) == (2, 5)
        assert "5 messages skipped: the server's listing line was malformed" in summary_line(result)
        notice = describe_success("Hostile", result, None, manual=True)
        assert notice.severity == "warning" and "listing line was malformed" in notice.text
        assert stored_bodies() == sorted([messages[4], messages[6]])
        assert dele_sent(server) == [5, 7]
        # Next time: nothing new, nothing more deleted, the malformed ones still counted.
        again = run_fetch(account, tmp_path)
        assert (again.ok, again.new_messages, again.skipped_malformed) == (True, 0, 5)
        assert Message.select().count() == 2
        assert set(dele_sent(server)) == {5, 7}


def malformed_list(session: FakeSession, args: list[str]) -> bytes:
    sizes = session.server.size_of
    body = f"1 {sizes(1)}\r\n2 -{sizes(2)}\r\n3 {sizes(3)} octets\r\n4 {sizes(4)}\r\n"
    return f"+OK\r\n{body}.\r\n".encode()


def test_malformed_list_lines_skip_those_messages_only(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(4)]
    with FakePop3Server(messages, handlers={"LIST": malformed_list}) as server:
        account = account_for(server, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.skipped_malformed) == (True, 2, 2)
        assert dele_sent(server) == [1, 4]
        assert stored_bodies() == sorted([messages[0], messages[3]])


# ------------------------------------------------------------------ sizes that lie


def test_a_size_listed_unlike_the_bytes_delivered_is_never_deleted(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(3)]
    lying = {2: len(messages[1]) - 1}  # delivers one byte more than LIST says
    with FakePop3Server(messages, list_sizes=lying) as server:
        account = account_for(server, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages) == (True, 3)
        assert (result.deleted_on_server, result.not_deleted_unconfirmed) == (2, 1)
        assert dele_sent(server) == [1, 3]
        assert "1 not deleted on the server" in summary_line(result)
        assert stored_bodies() == sorted(messages)


def test_a_stored_message_listed_with_another_size_later_is_kept(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(3)]
    with FakePop3Server(messages) as server:
        account = account_for(server, DeletePolicy.LEAVE)
        assert run_fetch(account, tmp_path).new_messages == 3
        server.list_sizes = {1: len(messages[0]) + 40}
        set_policy(account, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.deleted_on_server) == (True, 0, 2)
        assert dele_sent(server) == [2, 3]


# ----------------------------------------------------------- UIDLs swapped or renumbered


def test_swapped_uidls_aim_no_dele_at_the_wrong_message(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(3)]
    with FakePop3Server(messages) as server:
        account = account_for(server, DeletePolicy.LEAVE)
        assert run_fetch(account, tmp_path).new_messages == 3
        # The server now names message 1 with message 2's UIDL and the other way round.
        server.uids = {1: "uid0002", 2: "uid0001", 3: "uid0003"}
        set_policy(account, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages) == (True, 0)
        assert (result.deleted_on_server, result.not_deleted_unconfirmed) == (1, 2)
        assert dele_sent(server) == [3]
        assert stored_bodies() == sorted(messages)


def test_uidl_listing_other_numbers_than_list(tmp_path: Path) -> None:
    # UIDL names messages 1 and 3 and a number LIST never had; LIST names 1, 2 and 3.
    def uidl(session: FakeSession, args: list[str]) -> bytes:
        return b"+OK\r\n1 uid0001\r\n3 uid0003\r\n4 uid0004\r\n.\r\n"

    messages = [sized(i) for i in range(3)]
    with FakePop3Server(messages, handlers={"UIDL": uidl}) as server:
        account = account_for(server, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.skipped_malformed) == (True, 2, 1)
        assert dele_sent(server) == [1, 3]
        assert "RETR 4" not in server.last.commands and "DELE 4" not in server.last.commands


# ------------------------------------------------------------------------ shared UIDLs


def test_a_new_message_reusing_a_stored_uidl_is_fetched_and_told_apart(tmp_path: Path) -> None:
    first = [sized(i) for i in range(2)]
    with FakePop3Server(first) as server:
        account = account_for(server, DeletePolicy.LEAVE)
        assert run_fetch(account, tmp_path).new_messages == 2
        # popa3d-style: a different message arrives under message 1's UIDL.
        newcomer = sized(5)
        server.messages = [*first, newcomer]
        server.uids = {1: "uid0001", 2: "uid0002", 3: "uid0001"}
        result = run_fetch(account, tmp_path)
        assert (result.ok, result.new_messages, result.shared_uidl) == (True, 1, 1)
        assert stored_bodies() == sorted([*first, newcomer])
        assert dele_sent(server) == []
        # Leaving mail on the server: the next session recognises both, stores nothing.
        again = run_fetch(account, tmp_path)
        assert (again.ok, again.new_messages) == (True, 0)
        assert "RETR" not in server.last.verbs
        # Deleting after fetching: this session's bytes tell them apart, so both can go.
        set_policy(account, DeletePolicy.AFTER_FETCH)
        last = run_fetch(account, tmp_path)
        assert (last.ok, last.new_messages, last.deleted_on_server) == (True, 0, 3)
        assert sorted(server.last.deleted) == [1, 2, 3]
        assert Message.select().count() == 3


def test_shared_uidl_whose_bytes_change_is_not_deleted(tmp_path: Path) -> None:
    messages = [sized(0), sized(1)]
    with FakePop3Server(messages, uids={1: "same", 2: "same"}) as server:
        account = account_for(server, DeletePolicy.LEAVE)
        assert run_fetch(account, tmp_path).new_messages == 2
        # Same UIDL, same sizes listed, but message 2 now delivers other bytes of its size.
        altered = messages[1][:-5] + b"ZZZ\r\n"
        server.messages = [messages[0], altered]
        set_policy(account, DeletePolicy.AFTER_FETCH)
        result = run_fetch(account, tmp_path)
        assert result.ok, result.error
        # The altered one is new (stored apart); the original copy of message 2 is not on
        # the server any more as far as bytes go, so only message 1 and the new copy go.
        assert result.new_messages == 1
        assert 2 in server.last.deleted and 1 in server.last.deleted
        assert sorted(stored_bodies()) == sorted([*messages, altered])
