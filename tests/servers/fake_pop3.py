"""A small scriptable POP3 server in a thread, for protocol edges a real server will not produce.

It records everything a client sends (each recv() chunk and each command line) so tests can
assert what crossed the wire: which auth method, whether a password was sent, whether RETRs
were pipelined. Behaviour is adjusted with constructor options or per-command `handlers`.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
DEFAULT_GREETING = "+OK fake POP3 ready <1896.697170952@fake.test>"
DEFAULT_CAPA: tuple[str, ...] = (
    "TOP",
    "UIDL",
    "USER",
    "RESP-CODES",
    "AUTH-RESP-CODE",
    "PIPELINING",
    "SASL PLAIN",
)

HANG = object()
"""Returned by a handler: stop answering (the connection stays open until the server stops)."""
CLOSE = object()
"""Returned by a handler: close the connection without a reply."""

Reply = bytes | object
Handler = Callable[["FakeSession", list[str]], Reply]


def stuff(message: bytes) -> bytes:
    """Dot-stuff a CRLF message and terminate it, as a server sends it after +OK."""
    body = message
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    return body.replace(b"\r\n.", b"\r\n..") + b".\r\n"


@dataclass
class FakeSession:
    """What one client connection did."""

    server: FakePop3Server
    chunks: list[bytes] = field(default_factory=list)
    """Every recv() from the client, in order (after TLS, the decrypted data)."""
    commands: list[str] = field(default_factory=list)
    user: str = ""
    authenticated: bool = False
    tls: bool = False
    deleted: set[int] = field(default_factory=set)
    quit: bool = False
    close_after_reply: bool = False
    ended: bool = False
    """The connection is over (the client left, with or without QUIT)."""
    """Set by a handler to drop the connection right after its reply (e.g. mid-message)."""

    @property
    def verbs(self) -> list[str]:
        return [c.split(" ", 1)[0].upper() for c in self.commands]

    @property
    def raw(self) -> bytes:
        return b"".join(self.chunks)


class FakePop3Server:
    """POP3 on 127.0.0.1:<ephemeral port>. Messages are numbered from 1, CRLF line ends."""

    def __init__(
        self,
        messages: Sequence[bytes] = (),
        *,
        users: dict[str, str] | None = None,
        greeting: str = DEFAULT_GREETING,
        capa: Sequence[str] | None = DEFAULT_CAPA,
        capa_after_tls: Sequence[str] | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        starttls: ssl.SSLContext | None = None,
        stls_extra: bytes = b"",
        auth_error: str = "-ERR [AUTH] Authentication failed.",
        list_sizes: dict[int, int] | None = None,
        uids: dict[int, str] | None = None,
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        self.messages = list(messages)
        self.users = users if users is not None else {"alice": "secret"}
        self.greeting = greeting
        self.capa = None if capa is None else list(capa)
        self.capa_after_tls = None if capa_after_tls is None else list(capa_after_tls)
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.stls_extra = stls_extra
        self.auth_error = auth_error
        self.list_sizes = list_sizes or {}
        self.uids = uids
        self.handlers = {k.upper(): v for k, v in (handlers or {}).items()}
        self.sessions: list[FakeSession] = []
        self.committed_deletions: list[int] = []
        self.port = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return HOST

    @property
    def last(self) -> FakeSession:
        return self.sessions[-1]

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            # close() alone does not wake a thread blocked in accept() on Linux.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    # ------------------------------------------------------------------ session
    def _serve(self, conn: socket.socket) -> None:
        session = FakeSession(self)
        self.sessions.append(session)
        try:
            if self.implicit_tls is not None:
                conn = self.implicit_tls.wrap_socket(conn, server_side=True)
                session.tls = True
                with self._lock:
                    self._conns.append(conn)
            conn.sendall(self.greeting.encode() + b"\r\n")
            buf = b""
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                session.chunks.append(data)
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    text = line.decode("utf-8", errors="replace")
                    session.commands.append(text)
                    words = text.split()
                    verb = words[0].upper() if words else ""
                    if verb == "STLS" and self.starttls is not None and "STLS" not in self.handlers:
                        conn.sendall(b"+OK Begin TLS negotiation\r\n" + self.stls_extra)
                        conn = self.starttls.wrap_socket(conn, server_side=True)
                        session.tls = True
                        with self._lock:
                            self._conns.append(conn)
                        buf = b""
                        break
                    reply = self._reply(session, verb, words[1:])
                    if reply is HANG:
                        self._stop.wait()
                        return
                    if reply is CLOSE:
                        return
                    assert isinstance(reply, bytes)
                    conn.sendall(reply)
                    if session.quit or session.close_after_reply:
                        return
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            session.ended = True

    def _capa_lines(self, session: FakeSession) -> list[str] | None:
        if session.tls and self.capa_after_tls is not None:
            return self.capa_after_tls
        if self.capa is None:
            return None
        lines = list(self.capa)
        if self.starttls is not None and not session.tls and "STLS" not in lines:
            lines.append("STLS")
        return lines

    def size_of(self, number: int) -> int:
        return self.list_sizes.get(number, len(self.messages[number - 1]))

    def _live(self, session: FakeSession) -> list[int]:
        return [n for n in range(1, len(self.messages) + 1) if n not in session.deleted]

    def _reply(self, session: FakeSession, verb: str, args: list[str]) -> Reply:
        handler = self.handlers.get(verb)
        if handler is not None:
            return handler(session, args)
        if verb == "CAPA":
            lines = self._capa_lines(session)
            if lines is None:
                return b"-ERR unknown command\r\n"
            return (
                b"+OK Capability list follows\r\n"
                + "".join(f"{c}\r\n" for c in lines).encode()
                + b".\r\n"
            )
        if verb == "QUIT":
            session.quit = True
            if session.authenticated:
                self.committed_deletions.extend(sorted(session.deleted))
            return b"+OK bye\r\n"
        if verb == "NOOP":
            return b"+OK\r\n"
        if not session.authenticated:
            return self._auth_reply(session, verb, args)
        return self._transaction_reply(session, verb, args)

    def _auth_reply(self, session: FakeSession, verb: str, args: list[str]) -> Reply:
        if verb == "USER":
            session.user = args[0] if args else ""
            return b"+OK\r\n"
        if verb == "PASS":
            password = " ".join(args)
            if self.users.get(session.user) == password:
                session.authenticated = True
                return b"+OK logged in\r\n"
            return self.auth_error.encode() + b"\r\n"
        if verb == "AUTH" and args and args[0].upper() == "PLAIN" and len(args) > 1:
            try:
                _authz, user, password = base64.b64decode(args[1]).decode().split("\0")
            except ValueError:
                return b"-ERR bad base64\r\n"
            if self.users.get(user) == password:
                session.user, session.authenticated = user, True
                return b"+OK logged in\r\n"
            return self.auth_error.encode() + b"\r\n"
        if verb == "APOP":
            return b"-ERR APOP is a trap in this test\r\n"
        return b"-ERR not logged in\r\n"

    def _transaction_reply(self, session: FakeSession, verb: str, args: list[str]) -> Reply:
        live = self._live(session)
        number = int(args[0]) if args and args[0].isdigit() else 0
        exists = number in live
        if verb == "STAT":
            return f"+OK {len(live)} {sum(self.size_of(n) for n in live)}\r\n".encode()
        if verb == "LIST":
            body = "".join(f"{n} {self.size_of(n)}\r\n" for n in live)
            return f"+OK {len(live)} messages\r\n{body}.\r\n".encode()
        if verb == "UIDL":
            uids = self.uids or {n: f"uid{n:04d}" for n in live}
            body = "".join(f"{n} {uids[n]}\r\n" for n in live)
            return f"+OK\r\n{body}.\r\n".encode()
        if verb in ("RETR", "TOP"):
            if not exists:
                return b"-ERR no such message\r\n"
            message = self.messages[number - 1]
            if verb == "TOP":
                head = message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                return b"+OK\r\n" + stuff(head)
            return f"+OK {self.size_of(number)} octets\r\n".encode() + stuff(message)
        if verb == "DELE":
            if not exists:
                return b"-ERR no such message\r\n"
            session.deleted.add(number)
            return b"+OK marked\r\n"
        if verb == "RSET":
            session.deleted.clear()
            return b"+OK\r\n"
        return b"-ERR unknown command\r\n"
