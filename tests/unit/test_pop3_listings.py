"""STAT, then LIST and UIDL in one write (RFC 2449 PIPELINING), and what a hostile server can
do to the pipelined replies: answer out of order, short, with garbage, or refuse one of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.fake_pop3 import DEFAULT_CAPA, HANG, FakePop3Server, Handler
from tui.core.net.pop3 import (
    Mechanism,
    Pop3Client,
    Pop3Timeout,
    ProtocolError,
    ServerTemporaryError,
)
from tui.core.net.pop3.errors import ReplyTooLarge, TooManyMessages, UnlistedMessage
from tui.core.net.pop3.limits import MAX_LISTING_ENTRIES
from tui.core.settings import Security

PASSWORD = "s3cret-Pa55"
PIPELINED = b"LIST\r\nUIDL\r\n"
MESSAGES = [f"Subject: {n}\r\n\r\nbody {n}\r\n".encode() for n in (1, 2, 3)]


@pytest.fixture
def serve() -> Iterator[type[FakePop3Server]]:
    started: list[FakePop3Server] = []

    class _Factory(FakePop3Server):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("users", {"alice": PASSWORD})
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)
            self.start()

    yield _Factory
    for server in started:
        server.stop()


def logged_in(server: FakePop3Server, timeout: float = 5.0) -> Pop3Client:
    client = Pop3Client.connect(server.host, server.port, Security.NONE, timeout=timeout)
    client.login("alice", PASSWORD)
    return client


def reply(data: bytes) -> Handler:
    return lambda _session, _args: data


def test_pipelined_in_one_write_and_parsed(serve: type[FakePop3Server]) -> None:
    server = serve(MESSAGES)
    with logged_in(server) as client:
        listings = client.listings()
        assert (listings.count, listings.octets) == (3, sum(len(m) for m in MESSAGES))
        assert listings.sizes.entries == {n: str(len(MESSAGES[n - 1])) for n in (1, 2, 3)}
        assert listings.uids is not None
        assert listings.uids.entries == {1: "uid0001", 2: "uid0002", 3: "uid0003"}
        # The session is in step: a RETR of a listed message works, then QUIT.
        assert list(client.retrieve([2])) == [(2, MESSAGES[1])]
        client.quit()
    assert PIPELINED in server.last.chunks  # LIST and UIDL arrived in one write
    assert server.last.verbs[-5:] == ["STAT", "LIST", "UIDL", "RETR", "QUIT"]


@pytest.mark.parametrize("capa", [None, [c for c in DEFAULT_CAPA if c != "PIPELINING"]])
def test_lock_step_without_pipelining(serve: type[FakePop3Server], capa: list[str] | None) -> None:
    server = serve(MESSAGES, capa=capa)
    with logged_in(server) as client:
        listings = client.listings()
        assert listings.count == 3 and len(listings.sizes.entries) == 3
        assert listings.uids is not None and len(listings.uids.entries) == 3
        client.quit()
    assert not any(b"LIST\r\nUIDL" in chunk for chunk in server.last.chunks)
    assert [c for c in server.last.chunks if c in (b"STAT\r\n", b"LIST\r\n", b"UIDL\r\n")] == [
        b"STAT\r\n",
        b"LIST\r\n",
        b"UIDL\r\n",
    ]


@pytest.mark.parametrize("pipelining", [True, False])
def test_uidl_refused_leaves_the_session_in_step(
    serve: type[FakePop3Server], pipelining: bool
) -> None:
    capa = list(DEFAULT_CAPA) if pipelining else [c for c in DEFAULT_CAPA if c != "PIPELINING"]
    capa.remove("UIDL")
    server = serve(MESSAGES, capa=capa, handlers={"UIDL": reply(b"-ERR no UIDL here\r\n")})
    with logged_in(server) as client:
        listings = client.listings()
        assert listings.uids is None
        assert len(listings.sizes.entries) == 3
        assert not client.supports_uidl
        assert client.usable
        assert list(client.retrieve([1])) == [(1, MESSAGES[0])]
        client.dele(1)
        client.quit()
    assert server.committed_deletions == [1]


def test_list_refused_with_uidl_in_flight_breaks_the_session(
    serve: type[FakePop3Server],
) -> None:
    server = serve(MESSAGES, handlers={"LIST": reply(b"-ERR [SYS/TEMP] try later\r\n")})
    with logged_in(server) as client:
        with pytest.raises(ServerTemporaryError) as caught:
            client.listings()
        assert not caught.value.in_sync
        assert not client.usable
        with pytest.raises(ProtocolError):
            client.dele(1)
        with pytest.raises(ProtocolError):
            client.quit()
    assert "DELE" not in server.last.verbs and "QUIT" not in server.last.verbs


def test_stat_refused_asks_for_no_listing(serve: type[FakePop3Server]) -> None:
    server = serve(MESSAGES, handlers={"STAT": reply(b"-ERR [SYS/TEMP] try later\r\n")})
    with logged_in(server) as client:
        with pytest.raises(ServerTemporaryError) as caught:
            client.listings()
        assert caught.value.in_sync and client.usable  # nothing was in flight
        client.quit()
    assert "LIST" not in server.last.verbs and "UIDL" not in server.last.verbs


def test_a_count_past_the_cap_asks_for_no_listing(serve: type[FakePop3Server]) -> None:
    count = MAX_LISTING_ENTRIES + 1
    server = serve(MESSAGES, handlers={"STAT": reply(b"+OK %d 999999\r\n" % count)})
    with logged_in(server) as client:
        with pytest.raises(TooManyMessages):
            client.listings()
        client.quit()
    assert "LIST" not in server.last.verbs and "UIDL" not in server.last.verbs


def test_out_of_order_replies_make_no_message_usable(serve: type[FakePop3Server]) -> None:
    """LIST answered with UIDL's reply and UIDL with LIST's: every size line is malformed,
    so no message is both sized and named, and nothing can be fetched or deleted."""
    server = serve(MESSAGES)
    uidl_body = b"+OK\r\n1 uid0001\r\n2 uid0002\r\n3 uid0003\r\n.\r\n"
    list_body = b"+OK 3 messages\r\n1 30\r\n2 30\r\n3 30\r\n.\r\n"
    server.handlers.update({"LIST": reply(uidl_body), "UIDL": reply(list_body)})
    with logged_in(server) as client:
        listings = client.listings()
        assert listings.sizes.entries == {}
        assert listings.sizes.malformed == {1, 2, 3}
        assert listings.uids is not None
        usable = listings.sizes.entries.keys() & listings.uids.entries.keys()
        assert usable == set()
        with pytest.raises(UnlistedMessage):
            client.retrieve([1])  # never asked for: LIST did not name it
        client.quit()
    assert "RETR" not in server.last.verbs


def test_garbage_between_replies_breaks_the_session(serve: type[FakePop3Server]) -> None:
    server = serve(MESSAGES, handlers={"STAT": reply(b"+OK 3 90\r\nhello there\r\n")})
    with logged_in(server) as client:
        with pytest.raises(ProtocolError, match="makes no sense"):
            client.listings()
        assert not client.usable
    assert "QUIT" not in server.last.verbs


def test_garbage_stat_reply_breaks_the_session(serve: type[FakePop3Server]) -> None:
    server = serve(MESSAGES, handlers={"STAT": reply(b"+OK lots\r\n")})
    with logged_in(server) as client:
        with pytest.raises(ProtocolError, match="bad STAT reply"):
            client.listings()
        assert not client.usable


def test_short_listing_times_out_and_breaks_the_session(serve: type[FakePop3Server]) -> None:
    """LIST's reply never ends (no terminator): UIDL's reply is read as more LIST lines, then
    the wait for the rest times out. Nothing is taken from the half-read listing."""
    server = serve(MESSAGES, handlers={"LIST": reply(b"+OK\r\n1 30\r\n")})
    with logged_in(server, timeout=1.0) as client:
        with pytest.raises(Pop3Timeout):
            client.listings()
        assert not client.usable
    assert "QUIT" not in server.last.verbs


def test_more_listing_lines_than_stat_announced_is_refused(serve: type[FakePop3Server]) -> None:
    lines = b"".join(b"%d 30\r\n" % n for n in range(1, 5000))
    server = serve(MESSAGES, handlers={"LIST": reply(b"+OK\r\n" + lines + b".\r\n")})
    with logged_in(server) as client:
        with pytest.raises(ReplyTooLarge):
            client.listings()
        assert not client.usable


def test_server_that_drops_pipelined_commands_times_out(serve: type[FakePop3Server]) -> None:
    """Announces PIPELINING but answers only LIST and then waits: a timeout, never a guess."""
    server = serve(MESSAGES, handlers={"UIDL": lambda _session, _args: HANG})
    with logged_in(server, timeout=1.0) as client:
        with pytest.raises(Pop3Timeout):
            client.listings()
        assert not client.usable


def _adopted(server: FakePop3Server, listed: tuple[int, int, bytes, bytes]) -> Pop3Client:
    """A session logged in by one client, adopted by another with what the first listed."""
    first = logged_in(server)
    sock, first._wire._sock = first._wire._sock, None  # the socket is the second's now
    assert sock is not None
    return Pop3Client.adopt(
        sock, server.host, server.port, Security.NONE, peer_der=None,
        mechanism=first.mechanism or Mechanism.PLAIN, listed=listed,
    )  # fmt: skip


def test_an_adopted_session_reads_the_listing_it_was_handed(
    serve: type[FakePop3Server],
) -> None:
    """The listing a session was handed with is read by the same parser, not asked again;
    once: a later listing is the server's."""
    server = serve(MESSAGES)
    sizes = b"".join(b"%d %d\r\n" % (n, len(m)) for n, m in enumerate(MESSAGES, 1))
    uids = b"1 uid0001\r\n2 bad uid\r\n3 uid0003\r\n"  # one malformed line, as if received
    octets = sum(len(m) for m in MESSAGES)
    with _adopted(server, (3, octets, sizes, uids)) as client:
        listings = client.listings()
        assert server.last.verbs[-1] == "CAPA"  # nothing listed again
        assert (listings.count, listings.octets) == (3, octets)
        assert listings.sizes.entries == {n: str(len(MESSAGES[n - 1])) for n in (1, 2, 3)}
        assert listings.uids is not None
        assert listings.uids.entries == {1: "uid0001", 3: "uid0003"}
        assert listings.uids.malformed == {2}
        assert list(client.retrieve([3])) == [(3, MESSAGES[2])]  # its sizes and count hold
        client.listings()
        assert server.last.verbs.count("STAT") == 1  # the second listing: the server's


def test_a_handed_listing_past_the_cap_is_refused_as_after_stat(
    serve: type[FakePop3Server],
) -> None:
    server = serve(MESSAGES)
    too_many = MAX_LISTING_ENTRIES + 1
    with _adopted(server, (too_many, 1, b"", b"")) as client, pytest.raises(TooManyMessages):
        client.listings()
