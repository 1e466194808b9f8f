"""A man-in-the-middle TCP proxy on 127.0.0.1 for POP3 tests.

``TcpProxy(target_host, target_port)`` listens on a free port and forwards every
connection to the target. Hooks:

* :meth:`TcpProxy.strip_capability` -- remove capability lines (e.g. ``STLS``)
  from the server's reply to ``CAPA`` (a "STLS stripping" attacker, or a server
  without STLS). The proxy follows the POP3 dialogue (pipelined commands, AUTH
  continuations, multi-line replies) to find the CAPA replies; once the client
  issues ``STLS`` or either side speaks TLS, it forwards bytes untouched.
* :meth:`TcpProxy.cut_after_server_bytes` -- after *n* bytes server->client (counted
  from the start of the connection, or from the end of a marker such as
  ``b" octets\\r\\n"``), reset both connections abruptly (RST, no FIN, no QUIT
  reaches the server): "the connection dropped in the middle of RETR".
* :attr:`TcpProxy.client_bytes` -- every byte any client sent, to assert that a
  password never crossed in clear (:attr:`server_bytes` for the other way).

Also :func:`free_tcp_ports`, used by the server helpers.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
_TLS_HANDSHAKE = 0x16
_MULTILINE_ALWAYS = {b"CAPA", b"RETR", b"TOP"}
_MULTILINE_WITHOUT_ARG = {b"LIST", b"UIDL", b"AUTH"}


def free_tcp_ports(count: int = 1, host: str = HOST) -> tuple[int, ...]:
    """*count* distinct TCP ports that were free on *host* a moment ago."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return tuple(sock.getsockname()[1] for sock in socks)
    finally:
        for sock in socks:
            sock.close()


def _abort(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) so the peer sees a reset, not an orderly end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class _CutRule:
    limit: int
    after: bytes | None
    remaining_connections: int | None


@dataclass
class ProxyConnection:
    """One proxied connection and what crossed it."""

    client_bytes: bytearray = field(default_factory=bytearray)
    server_bytes: bytearray = field(default_factory=bytearray)
    """What the server sent (before any capability was stripped)."""
    forwarded_server_bytes: int = 0
    cut: bool = False
    closed: threading.Event = field(default_factory=threading.Event)


class _Pop3Tracker:
    """Follows a POP3 dialogue to rewrite the replies to CAPA.

    Fed with client lines (commands) and server bytes; returns the server bytes
    to forward, minus the stripped capability lines.
    """

    def __init__(self, strip: frozenset[bytes]) -> None:
        self.strip = strip
        self.passthrough = False
        self._lock = threading.Lock()
        self._commands: deque[bytes] = deque()
        self._client_buf = b""
        self._client_tls_pending = False
        self._server_buf = b""
        self._greeting_done = False
        self._in_multiline: bytes | None = None  # verb of the multi-line reply in progress
        self._first_server_byte = True

    # client -> server
    def feed_client(self, data: bytes) -> None:
        with self._lock:
            if self.passthrough or self._client_tls_pending:
                return
            if self._client_buf == b"" and data[:1] == bytes([_TLS_HANDSHAKE]):
                self.passthrough = True
                return
            self._client_buf += data
            while b"\n" in self._client_buf:
                line, self._client_buf = self._client_buf.split(b"\n", 1)
                self._commands.append(line.rstrip(b"\r"))
                if line.strip().upper() == b"STLS":
                    # Whatever follows is (probably) a TLS handshake; stop parsing
                    # client bytes, and go transparent after the reply to STLS.
                    self._client_tls_pending = True
                    self._client_buf = b""
                    break

    # server -> client
    def feed_server(self, data: bytes) -> bytes:
        with self._lock:
            if self.passthrough:
                return data
            if self._first_server_byte:
                self._first_server_byte = False
                if data[:1] == bytes([_TLS_HANDSHAKE]):
                    self.passthrough = True
                    return data
            self._server_buf += data
            out = bytearray()
            while not self.passthrough and b"\n" in self._server_buf:
                line, self._server_buf = self._server_buf.split(b"\n", 1)
                line += b"\n"
                if self._keep_line(line):
                    out += line
            if self.passthrough:
                out += self._server_buf
                self._server_buf = b""
            return bytes(out)

    def _keep_line(self, line: bytes) -> bool:
        text = line.rstrip(b"\r\n")
        if self._in_multiline is not None:
            if text == b".":
                self._in_multiline = None
                return True
            if self._in_multiline == b"CAPA":
                words = text.split()
                if words and words[0].upper() in self.strip:
                    return False
            return True
        if not self._greeting_done:
            self._greeting_done = True
            return True
        command = self._commands.popleft() if self._commands else b""
        words = command.split()
        verb = words[0].upper() if words else b""
        if verb == b"STLS" and text.startswith(b"+OK"):
            self.passthrough = True
            return True
        if text.startswith(b"+OK") and (
            verb in _MULTILINE_ALWAYS or (verb in _MULTILINE_WITHOUT_ARG and len(words) == 1)
        ):
            self._in_multiline = verb
        if verb == b"STLS":
            self._client_tls_pending = False  # STLS refused: keep parsing
        return True


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port`` with test hooks."""

    def __init__(self, target_host: str, target_port: int, *, host: str = HOST) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._strip: frozenset[bytes] = frozenset()
        self._cut: _CutRule | None = None
        self._stopping = threading.Event()
        self.connections: list[ProxyConnection] = []

    # ----------------------------------------------------------------- hooks
    def strip_capability(self, *names: str) -> None:
        """Drop these capability lines (e.g. ``"STLS"``) from CAPA replies.

        Applies to connections accepted afterwards. Calling it with no names
        turns stripping off.
        """
        with self._lock:
            self._strip = frozenset(name.upper().encode("ascii") for name in names)

    def cut_after_server_bytes(
        self, n: int, *, after: bytes | None = None, connections: int | None = None
    ) -> None:
        """Reset both sides once *n* server->client bytes have been forwarded.

        :param after: count from the end of the first occurrence of this marker in
            the server's bytes instead of from the start of the connection
            (e.g. ``b"octets\\r\\n"`` for "n bytes into the RETR body").
        :param connections: apply to this many future connections only
            (``None``: all of them until :meth:`clear_cut`).
        """
        with self._lock:
            self._cut = _CutRule(limit=n, after=after, remaining_connections=connections)

    def clear_cut(self) -> None:
        with self._lock:
            self._cut = None

    def reset_records(self) -> None:
        with self._lock:
            self.connections = []

    @property
    def client_bytes(self) -> bytes:
        """Everything every client sent through this proxy, concatenated."""
        with self._lock:
            return b"".join(bytes(c.client_bytes) for c in self.connections)

    @property
    def server_bytes(self) -> bytes:
        """Everything the server sent (unmodified), concatenated."""
        with self._lock:
            return b"".join(bytes(c.server_bytes) for c in self.connections)

    @property
    def cut_count(self) -> int:
        with self._lock:
            return sum(1 for c in self.connections if c.cut)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        # Connection threads notice _stopping within 0.1 s and close their sockets.
        for thread in self._threads:
            thread.join(timeout=40)
        self._threads = []
        with self._lock:
            leftovers = list(self._sockets)
            self._sockets.clear()
        for sock in leftovers:
            _abort(sock)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- workers
    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.target_host, self.target_port), 10)
            except OSError:
                _abort(client)
                continue
            with self._lock:
                conn = ProxyConnection()
                self.connections.append(conn)
                self._sockets.update((client, upstream))
                cut = None
                if self._cut is not None:
                    cut = _CutRule(self._cut.limit, self._cut.after, None)
                    if self._cut.remaining_connections is not None:
                        self._cut.remaining_connections -= 1
                        if self._cut.remaining_connections <= 0:
                            self._cut = None
                tracker = _Pop3Tracker(self._strip) if self._strip else None
            thread = threading.Thread(
                target=self._serve,
                args=(client, upstream, conn, tracker, cut),
                name=f"tcp-proxy-{self.port}-conn",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(
        self,
        client: socket.socket,
        upstream: socket.socket,
        conn: ProxyConnection,
        tracker: _Pop3Tracker | None,
        cut: _CutRule | None,
    ) -> None:
        """Pump both directions of one connection (one thread, so a cut is immediate)."""
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(30)
        budget = cut.limit if cut is not None and cut.after is None else None
        window = b""  # tail of the server stream while looking for the cut marker
        broken = False
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, "client")
        sel.register(upstream, selectors.EVENT_READ, "server")
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select(timeout=0.1):
                    sock = client if key.data == "client" else upstream
                    data = sock.recv(65536)
                    if key.data == "client":
                        if not data:  # client closed: pass the FIN on, keep reading
                            sel.unregister(client)
                            upstream.shutdown(socket.SHUT_WR)
                            continue
                        with self._lock:
                            conn.client_bytes += data
                        if tracker is not None:
                            tracker.feed_client(data)
                        upstream.sendall(data)
                        continue
                    if not data:  # server closed: we are done
                        return
                    with self._lock:
                        conn.server_bytes += data
                    if tracker is not None:
                        data = tracker.feed_server(data)
                    if cut is not None and budget is None and cut.after is not None:
                        window += data
                        index = window.find(cut.after)
                        if index < 0:
                            window = window[-len(cut.after) :]
                        else:
                            after_marker = len(window) - (index + len(cut.after))
                            budget = len(data) - after_marker + cut.limit
                    if budget is not None and len(data) >= budget:
                        client.sendall(data[:budget])
                        conn.forwarded_server_bytes += budget
                        conn.cut = True
                        return
                    client.sendall(data)
                    conn.forwarded_server_bytes += len(data)
                    if budget is not None:
                        budget -= len(data)
        except OSError:
            broken = True  # a reset or error on one side: reset the other one too
        finally:
            sel.close()
            if conn.cut or broken:
                _abort(client)
                _abort(upstream)
            else:
                for sock in (client, upstream):
                    with contextlib.suppress(OSError):
                        sock.close()
            conn.closed.set()
            with self._lock:
                self._sockets.discard(client)
                self._sockets.discard(upstream)
