"""Quick ACKs: the POP3 wire acknowledges at once after every read (Linux TCP_QUICKACK).

Old servers such as popa3d write a reply in several small pieces with Nagle's algorithm on, so
each piece waits for the ACK of the one before; with the kernel's delayed ACKs every message
stalls ~40 ms. The kernel falls back to delayed ACKs as soon as the client answers what it
received (it then counts the connection as interactive), so the option must be set again after
every read. A loopback server that answers at once keeps the connection in that interactive
mode, where the option reads 0 unless the wire re-armed it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tui.core.net.pop3.wire import Pop3Wire

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux-only"
)


@pytest.fixture
def echo_wire() -> Iterator[tuple[Pop3Wire, socket.socket]]:
    """A wire to a loopback server that greets, then answers each line with `+OK <line>`."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"+OK hello\r\n")
            for line in lines:
                conn.sendall(b"+OK " + line.strip() + b"\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sock = socket.create_connection(listener.getsockname(), timeout=5)
    wire = Pop3Wire(sock, "127.0.0.1", listener.getsockname()[1], 5)
    try:
        yield wire, sock
    finally:
        wire.close()
        listener.close()
        thread.join(timeout=5)


def _quickack(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK)


def test_every_read_leaves_quick_acks_armed(echo_wire: tuple[Pop3Wire, socket.socket]) -> None:
    wire, sock = echo_wire
    assert wire.read_line() == b"+OK hello"
    seen = []
    for number in range(6):
        wire.send_line(f"NOOP {number}")
        assert wire.read_line() == f"+OK NOOP {number}".encode()
        seen.append(_quickack(sock))
    assert seen == [1] * 6


def test_the_kernel_alone_would_drop_them(echo_wire: tuple[Pop3Wire, socket.socket]) -> None:
    """The control: without re-arming, the same exchange ends in delayed-ACK mode, so the test
    above can fail."""
    wire, sock = echo_wire
    wire._quickack = False
    assert wire.read_line() == b"+OK hello"
    seen = []
    for number in range(6):
        wire.send_line(f"NOOP {number}")
        wire.read_line()
        seen.append(_quickack(sock))
    assert 0 in seen


def test_a_socket_that_refuses_the_option_is_read_all_the_same() -> None:
    """A Unix socket pair is not TCP: the option fails once and is not tried again."""
    ours, theirs = socket.socketpair()
    wire = Pop3Wire(ours, "pair", 1, 5)
    try:
        theirs.sendall(b"+OK one\r\n+OK two\r\n")
        assert wire.read_line() == b"+OK one"
        assert wire.read_line() == b"+OK two"
        assert wire._quickack is False
    finally:
        wire.close()
        theirs.close()
