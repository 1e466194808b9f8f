"""A POP3 server that attacks the client's memory: one misbehaviour per scenario.

Honest everywhere except in one reply (`Scenario.reply`), where it plays one trick
(`Trick`): a line that never ends, a multi-line reply that never ends, an absurd announced
size, a million-entry listing, a message number it never listed, or a flood before STLS.
Floods are streamed in 64 KiB chunks until the client hangs up, so the server itself stays
small. It records commands and committed deletions like `FakePop3Server`, plain or behind
TLS (implicit or STLS) with a certificate from `tests.servers.certs`.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from tests.servers.fake_pop3 import FakePop3Server, FakeSession, stuff

CHUNK = 64 * 1024
FLOOD_CEILING = 2 * 1024**3
"""A flood stops after this much even if the client keeps reading (a failed cap, not a hang)."""
MILLION = 1_000_000


class Trick(StrEnum):
    ENDLESS_LINE = "endless-line"
    ENDLESS_MULTILINE = "endless-multiline"
    HUGE_SIZE = "huge-size"
    ABSURD_SIZE = "absurd-size"
    """LIST gives message 1 a size larger than STAT's total; RETR of it never ends."""
    MILLION_ENTRIES = "million-entries"
    MANY_ENTRIES = "many-entries"
    """STAT, LIST and UIDL honestly list `entries` messages; the tricked reply (RETR) never
    ends, so the session stops right after the listings were taken in."""
    UNLISTED = "unlisted"
    FLOOD = "flood"
    """Extra bytes pushed right after the reply (before STLS: injected clear text)."""


REPLIES = (
    "GREETING",
    "CAPA",
    "STLS",
    "USER",
    "PASS",
    "AUTH",
    "STAT",
    "LIST",
    "UIDL",
    "TOP",
    "RETR",
)


class Mode(StrEnum):
    PLAIN = "none"
    SSL = "ssl"
    STARTTLS = "starttls"


@dataclass(frozen=True)
class Scenario:
    reply: str
    trick: Trick

    @property
    def id(self) -> str:
        return f"{self.reply.lower()}-{self.trick.value}"


@dataclass
class HostileSession(FakeSession):
    flooded: int = 0
    """Bytes of the trick that the server managed to send."""


class HostilePop3Server(FakePop3Server):
    """POP3 on 127.0.0.1:<ephemeral port> with messages numbered from 1; the lifecycle
    (start, stop, accept loop) is FakePop3Server's, every reply is this class's own."""

    def __init__(
        self,
        scenario: Scenario,
        messages: list[bytes],
        *,
        mode: Mode = Mode.PLAIN,
        tls: ssl.SSLContext | None = None,
        sasl: bool = True,
        users: dict[str, str] | None = None,
        entries: int = 0,
    ) -> None:
        super().__init__(messages, users=users)
        self.scenario = scenario
        self.entries = entries
        self.mode = mode
        self.tls = tls
        self.sasl = sasl
        self.hostile: list[HostileSession] = []
        """The sessions, with how much of each trick was sent."""
        if mode is not Mode.PLAIN and tls is None:
            raise ValueError("a TLS mode needs a server context")

    def _keep(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.append(conn)

    # ------------------------------------------------------------------- tricks
    def _is(self, reply: str) -> bool:
        return self.scenario.reply == reply

    def _trick_bytes(self, status: bytes) -> Iterator[bytes]:
        """What the tricked reply sends: `status` first, then its flood, chunk by chunk."""
        trick = self.scenario.trick
        if trick is Trick.ENDLESS_LINE:
            if self.scenario.reply in ("CAPA", "LIST", "UIDL", "TOP", "RETR"):
                yield status + b"\r\n"  # a multi-line body whose first line never ends
            else:
                yield status + b" "
            while True:
                yield b"A" * CHUNK
        elif trick is Trick.ENDLESS_MULTILINE:
            yield status + b"\r\n"
            line = b"+OK " + b"B" * 60 + b"\r\n"
            block = line * (CHUNK // len(line))
            while True:
                yield block
        elif trick in (Trick.FLOOD, Trick.MANY_ENTRIES):
            yield status + b"\r\n"
            while True:
                yield b"\0" * CHUNK

    def _send_trick(self, conn: socket.socket, session: HostileSession, status: bytes) -> bool:
        """Stream the trick; False when the client hung up (always, for an honest client)."""
        for chunk in self._trick_bytes(status):
            if self._stop.is_set() or session.flooded > FLOOD_CEILING:
                return False
            try:
                conn.sendall(chunk)
            except (OSError, ssl.SSLError):
                return False
            session.flooded += len(chunk)
        return False

    def _streams(self) -> bool:
        endless = (Trick.ENDLESS_LINE, Trick.ENDLESS_MULTILINE, Trick.FLOOD, Trick.MANY_ENTRIES)
        return self.scenario.trick in endless

    # ------------------------------------------------------------------ session
    def _serve(self, conn: socket.socket) -> None:
        session = HostileSession(self)
        self.sessions.append(session)
        self.hostile.append(session)
        try:
            if self.mode is Mode.SSL:
                assert self.tls is not None
                conn = self.tls.wrap_socket(conn, server_side=True)
                session.tls = True
                self._keep(conn)
            greeting = b"+OK hostile POP3 ready"
            if self._is("GREETING") and self._streams():
                self._send_trick(conn, session, greeting)
                return
            conn.sendall(greeting + b"\r\n")
            buf = b""
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    text = line.decode("utf-8", errors="replace")
                    session.commands.append(text)
                    words = text.split()
                    verb = words[0].upper() if words else ""
                    if self._is(verb) and self._streams():
                        status = b"+OK" if verb != "STAT" else b"+OK 2 200"
                        self._send_trick(conn, session, status)
                        return
                    if verb == "STLS" and self.mode is Mode.STARTTLS and not session.tls:
                        assert self.tls is not None
                        conn.sendall(b"+OK Begin TLS negotiation\r\n")
                        conn = self.tls.wrap_socket(conn, server_side=True)
                        session.tls = True
                        self._keep(conn)
                        buf = b""
                        break
                    if not self._answer(conn, session, verb, words[1:]):
                        return
        except (OSError, ssl.SSLError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _answer(
        self, conn: socket.socket, session: HostileSession, verb: str, args: list[str]
    ) -> bool:
        """Answer one command honestly (or with a listing trick); False to hang up."""
        if verb == "CAPA":
            caps = ["TOP", "UIDL", "USER", "PIPELINING"] + (["SASL PLAIN"] if self.sasl else [])
            if self.mode is Mode.STARTTLS and not session.tls:
                caps.append("STLS")
            conn.sendall(b"+OK\r\n" + "".join(f"{c}\r\n" for c in caps).encode() + b".\r\n")
            return True
        if verb == "QUIT":
            if session.authenticated:
                self.committed_deletions.extend(sorted(session.deleted))
            conn.sendall(b"+OK bye\r\n")
            return False
        if not session.authenticated:
            conn.sendall(self._login(session, verb, args))
            return True
        for chunk in self._transaction(session, verb, args):
            conn.sendall(chunk)
        return True

    def _login(self, session: HostileSession, verb: str, args: list[str]) -> bytes:
        if verb == "USER":
            session.user = args[0] if args else ""
            return b"+OK\r\n"
        if verb == "PASS":
            if self.users.get(session.user) == " ".join(args):
                session.authenticated = True
                return b"+OK logged in\r\n"
            return b"-ERR [AUTH] no\r\n"
        if verb == "AUTH" and len(args) > 1:
            _authz, user, password = base64.b64decode(args[1]).decode().split("\0")
            if self.users.get(user) == password:
                session.user, session.authenticated = user, True
                return b"+OK logged in\r\n"
            return b"-ERR [AUTH] no\r\n"
        return b"-ERR not logged in\r\n"

    # ------------------------------------------------------------- transaction
    def _count(self) -> int:
        if self.scenario.trick is Trick.MANY_ENTRIES:
            return self.entries
        million = self.scenario.trick is Trick.MILLION_ENTRIES
        return MILLION if million and self._is("STAT") else len(self.messages)

    def _listed(self) -> Iterator[tuple[int, int, str]]:
        """(number, size, unique-id) as LIST/UIDL show them, tricks included."""
        trick = self.scenario.trick
        for n in range(1, self._count() + 1):
            size = len(self.messages[(n - 1) % len(self.messages)])
            if trick is Trick.HUGE_SIZE and n == 1 and self._is("LIST"):
                size = 10**12
            if trick is Trick.ABSURD_SIZE and n == 1:
                size = 10**7
            yield n, size, f"uid{n:07d}"

    def _listing(self, verb: str) -> Iterator[bytes]:
        trick = self.scenario.trick
        yield b"+OK\r\n"
        lines: list[str] = []
        for n, size, uid in self._listed():
            if trick is Trick.UNLISTED and self._is(verb) and n == 1:
                continue  # message 1 exists, but this listing does not name it
            lines.append(f"{n} {size if verb == 'LIST' else uid}\r\n")
            if len(lines) >= 2000:
                yield "".join(lines).encode()
                lines = []
        if trick is Trick.MILLION_ENTRIES and self._is(verb):
            start = len(self.messages) + 1
            for n in range(start, start + MILLION):
                lines.append(f"{n} {100 if verb == 'LIST' else f'uid{n:07d}'}\r\n")
                if len(lines) >= 2000:
                    yield "".join(lines).encode()
                    lines = []
        if trick is Trick.UNLISTED and self._is(verb):
            extra = len(self.messages) + 1
            lines.append(f"{extra} {100 if verb == 'LIST' else f'uid{extra:07d}'}\r\n")
        yield "".join(lines).encode() + b".\r\n"

    def _transaction(self, session: HostileSession, verb: str, args: list[str]) -> Iterator[bytes]:
        number = int(args[0]) if args and args[0].isdigit() else 0
        exists = 1 <= number <= len(self.messages)
        if verb == "STAT":
            total = sum(len(m) for m in self.messages)
            if self.scenario.trick is Trick.HUGE_SIZE and self._is("STAT"):
                total = 10**15
            yield f"+OK {self._count()} {total}\r\n".encode()
        elif verb in ("LIST", "UIDL") and not args:
            yield from self._listing(verb)
        elif verb in ("RETR", "TOP"):
            if not exists:
                yield b"-ERR no such message\r\n"
                return
            message = self.messages[number - 1]
            if self.scenario.trick in (Trick.HUGE_SIZE, Trick.ABSURD_SIZE) and self._is(verb):
                # "+OK <huge> octets", then a body that never ends.
                yield b"+OK 999999999999 octets\r\n"
                block = (b"C" * 78 + b"\r\n") * (CHUNK // 80)
                sent = 0
                while not self._stop.is_set() and sent < FLOOD_CEILING:
                    yield block
                    sent += len(block)
                return
            if verb == "TOP":
                message = message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            yield b"+OK\r\n" + stuff(message)
        elif verb == "DELE":
            if exists:
                session.deleted.add(number)
                yield b"+OK marked\r\n"
            else:
                yield b"-ERR no such message\r\n"
        elif verb in ("NOOP", "RSET"):
            if verb == "RSET":
                session.deleted.clear()
            yield b"+OK\r\n"
        else:
            yield b"-ERR unknown command\r\n"
