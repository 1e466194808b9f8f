"""Pop3Client against a hostile server, reply by reply: each cap ends the reply with
ReplyTooLarge (or refuses to ask at all) instead of buffering what the server sends."""

from __future__ import annotations

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.hostile_pop3 import REPLIES, HostilePop3Server, Scenario, Trick
from tui.core.net.pop3.client import Pop3Client
from tui.core.net.pop3.errors import ReplyTooLarge, TooManyMessages, UnlistedMessage
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES, message_budget, trusted_size
from tui.core.settings import Security


def serve(reply: str, trick: Trick) -> HostilePop3Server:
    assert reply in REPLIES
    return HostilePop3Server(Scenario(reply, trick), [make_message(1), make_message(2)])


def session(server: HostilePop3Server) -> Pop3Client:
    client = Pop3Client.connect(server.host, server.port, Security.NONE, timeout=10)
    client.login("alice", "secret")
    return client


@pytest.mark.parametrize("trick", [Trick.ENDLESS_LINE, Trick.ENDLESS_MULTILINE, Trick.HUGE_SIZE])
def test_top_is_capped_by_the_listed_size(trick: Trick) -> None:
    with serve("TOP", trick) as server, session(server) as client:
        client.list_sizes()
        with pytest.raises(ReplyTooLarge, match=r"headers \(TOP\) of message 1"):
            client.top(1, 0)
        assert not client.usable
        assert all(s.flooded < 16 * 1024 * 1024 for s in server.hostile)


def test_top_and_retr_of_an_unlisted_message_send_nothing() -> None:
    with serve("LIST", Trick.UNLISTED) as server, session(server) as client:
        assert 1 not in client.list_sizes()
        with pytest.raises(UnlistedMessage, match="did not list message 1"):
            client.top(1, 0)
        with pytest.raises(UnlistedMessage):
            client.retrieve([2, 1])
        assert client.usable
        assert not {"TOP", "RETR"} & set(server.sessions[0].verbs)


def test_stat_bounds_the_listings() -> None:
    with serve("STAT", Trick.MILLION_ENTRIES) as server, session(server) as client:
        with pytest.raises(TooManyMessages, match="1,000,000 messages"):
            client.uidl()
        assert "UIDL" not in server.sessions[0].verbs


def test_an_absurd_listed_size_is_not_a_budget() -> None:
    assert trusted_size(10, 100) == 10
    assert trusted_size(101, 100) is None  # more than the whole mailbox
    assert trusted_size(MAX_MESSAGE_BYTES + 1, None) is None
    assert message_budget("m", 10**12, None).max_bytes == MAX_MESSAGE_BYTES
    assert message_budget("m", 1000, 5000).max_bytes == 2 * 1000 + 1024


def test_a_message_larger_than_the_mailbox_stops_at_the_ceiling() -> None:
    with serve("RETR", Trick.ABSURD_SIZE) as server, session(server) as client:
        sizes = client.list_sizes()
        assert sizes[1] > client.stat()[1]
        with pytest.raises(ReplyTooLarge, match=r"over 15\.0 MB"):
            list(client.retrieve([1], expected_sizes=sizes))
        assert "DELE" not in server.sessions[0].verbs
