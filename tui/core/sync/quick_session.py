"""The quick "nothing new" check's POP3 session (`tui.core.sync.quick_check`): CAPA, TLS,
login, STAT/LIST/UIDL, QUIT, held to the strictest reading. Any surprise raises `Unsure`, and
the engine, with the full client (`tui.core.net.pop3`), runs instead and words what happened.
"""

from __future__ import annotations

import _socket
import contextlib
import time


class Unsure(Exception):
    """The check cannot prove there is nothing to do: leave everything to the engine."""


class Refused(Unsure):
    """The server answered the login with -ERR: `reply` is its text after "-ERR ", as the
    engine's wire decodes it (UTF-8, the password and its SASL token masked). The engine words
    it rather than logging in again with the same password (`session_handover.refused`)."""

    def __init__(self, reply: str) -> None:
        super().__init__("the login was refused: the engine words the server's reply")
        self.reply = reply


TYPE_CHECKING = False  # not `typing`'s: that import is a few ms of a "nothing new" run
if TYPE_CHECKING:
    import _ssl
    from collections.abc import Mapping
    from typing import Any

_MAX_MESSAGES = 100_000
"""A STAT count above this is left to the engine, which refuses it from STAT alone
(`net.pop3.limits.MAX_LISTING_ENTRIES`, not imported: that would load the POP3 package).
Reading a million-line LIST and UIDL here first took 300 MB (tests/integration/
test_hostile_memory.py, stat-million-entries)."""

_LINE_LIMIT = 1024
"""A status or listing line longer than this is not what a sane server sends here."""


class Listing:
    """STAT's count, LIST's sizes and UIDL's unique-ids, each listed 1..n in order."""

    __slots__ = ("count", "sizes", "uidls")

    def __init__(self, count: int, sizes: list[int], uidls: list[str]) -> None:
        self.count = count
        self.sizes = sizes
        self.uidls = uidls

    def new_beside(self, stored: Mapping[str, object]) -> int:
        """How many listed UIDLs are not among `stored`'s keys: the new mail, near enough."""
        return sum(uidl not in stored for uidl in self.uidls)


class Session:
    """One POP3 session held to the strictest reading: any surprise is Unsure.

    Made in two steps: connecting (here), then `open` (ssl loaded, the TLS context built, the
    handshake, the greeting, CAPA), the caller running the password command in between: a
    server like Dovecot starts a login process for each connection, ready by then.
    """

    def __init__(self, account: dict[str, Any], timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self._secrets: tuple[str, ...] = ()
        self.listed: tuple[int, int, bytes, bytes] | None = None
        """STAT's count and octets, LIST's and UIDL's bodies as received, when the session is
        kept open after its listing: the engine goes on with this very listing
        (`net.pop3.Pop3Client.adopt`), valid for the whole session (RFC 1939)."""
        self.host = str(account["incoming_host"]).strip()
        self.security = account["incoming_security"]
        if self.security not in ("none", "ssl", "starttls"):
            raise Unsure("unknown security")
        self.pinned = account["pinned_fingerprint"]
        # An ASCII name as bytes, as `net.pop3.connect` does: no `idna` codec on a plain run.
        address: Any = self.host.encode("ascii") if self.host.isascii() else self.host
        self.sock: Any = _connected(address, int(account["incoming_port"]), timeout)
        try:
            self.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except BaseException:
            self.sock.close()
            raise

    def open(self) -> None:
        """TLS as the account asks, the greeting and CAPA."""
        context, pin = None, ""
        if self.security != "none":
            from tui.core.net.light_tls import client_context
            from tui.core.net.tls_context import pin_from_setting

            pin = pin_from_setting(self.pinned)
            context = client_context(pin)
        self.quitted = False
        self.buffer = bytearray()  # appended to in place: a 5,000-line UIDL comes in 16 KiB
        # Read into one buffer: a fresh 256 KiB bytes object per read is an mmap, page faults
        # and an mremap in glibc (above its mmap threshold), 80 times for a listing over TLS.
        self.chunk = memoryview(bytearray(1 << 18))
        self.peer_der: bytes | None = None
        self.mechanism = ""
        if self.security == "ssl":
            self._start_tls(context, pin)
        self._expect_ok()  # the greeting
        self.capabilities = self._capa()
        if self.security == "starttls":
            if "STLS" not in self.capabilities:
                raise Unsure("no STLS: the engine words it")
            self._send(b"STLS\r\n")
            self._expect_ok()
            if self.buffer:
                raise Unsure("bytes injected after STLS")
            self._start_tls(context, pin)
            self.capabilities = self._capa()

    def close(self) -> None:
        self.sock.close()

    def _start_tls(self, context: _ssl._SSLContext | None, pin: str) -> None:
        assert context is not None
        from tui.core.net.light_tls import TlsSocket

        self.sock = TlsSocket.handshake(context, self.sock, self.host)
        der = self.sock.getpeercert(binary_form=True)
        if not der:
            raise Unsure("no certificate: the engine says so")
        self.peer_der = der
        if pin:
            import hashlib  # only for a pin: a verified chain needs no fingerprint

            if hashlib.sha256(der).hexdigest() != pin:
                raise Unsure("the certificate is not the pinned one: the engine says so")

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _until(self, marker: bytes, *, limit: int) -> bytes:
        """Everything before the next `marker` (removed with it), read as it comes."""
        searched = 0
        while (end := self.buffer.find(marker, searched)) < 0:
            searched = max(0, len(self.buffer) - len(marker) + 1)
            if len(self.buffer) > limit:
                raise Unsure("a reply too long for a quick check")
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Unsure("too slow for a quick check")
            self.sock.settimeout(left)
            received = self.sock.recv_into(self.chunk)
            if not received:
                raise Unsure("the server closed the connection")
            self.buffer += self.chunk[:received]
        reply = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return reply

    def _expect_ok(self, *, login: bool = False) -> bytes:
        line = self._until(b"\r\n", limit=_LINE_LIMIT)
        one_line = b"\n" not in line and b"\r" not in line
        if line.startswith(b"+OK") and one_line:
            return line
        if login and one_line and line[:4] == b"-ERR" and line[4:5] in (b"", b" ", b"\t"):
            raise Refused(self._masked(line[5:].decode("utf-8", errors="replace")))
        raise Unsure("not +OK: the engine words the server's reply")

    def _masked(self, text: str) -> str:
        """`text` with what was sent to log in replaced, as `Pop3Wire.decode` does."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "********")
        return text

    def _body(self, *, limit: int = 64 * _LINE_LIMIT) -> bytes:
        """A multi-line reply after its +OK, up to the lone dot: its lines, each ending CRLF
        (nothing dot-stuffed: no line of a listing or of CAPA begins with a dot)."""
        if self.buffer.startswith(b".\r\n"):
            del self.buffer[:3]
            return b""
        body = self._until(b"\r\n.\r\n", limit=limit) + b"\r\n"
        if body.startswith(b".") or b"\r\n." in body:
            raise Unsure("a dot-stuffed line")
        return body

    def _capa(self) -> set[str]:
        self._send(b"CAPA\r\n")
        self._expect_ok()
        words: set[str] = set()
        for line in self._body().decode("ascii").splitlines():
            name, _, rest = line.upper().partition(" ")
            words.add(name)
            if name == "SASL":
                words.update(f"SASL {mechanism}" for mechanism in rest.split())
        return words

    def send_login(self, username: str, password: str) -> None:
        """SASL PLAIN when CAPA offers it, else USER/PASS: what `pop3.auth.login` picks. The
        last reply is left for `logged_in`: the caller reads its database while the server
        checks the password and opens the mailbox (Dovecot starts a process for it)."""
        from binascii import b2a_base64

        token = b"\0" + username.encode() + b"\0" + password.encode()
        initial = b2a_base64(token, newline=False)
        self._secrets = (password, initial.decode("ascii"))  # masked as the engine masks
        if "SASL PLAIN" in self.capabilities:
            self._send(b"AUTH PLAIN " + initial + b"\r\n")
            self.mechanism = "PLAIN"
        else:
            self.mechanism = "USER/PASS"
            self._send(b"USER " + username.encode() + b"\r\n")
            self._expect_ok(login=True)
            self._send(b"PASS " + password.encode() + b"\r\n")

    def logged_in(self) -> None:
        """The server's answer to `send_login`: +OK; `Refused` for a -ERR, which the engine
        words; Unsure for anything else (a SASL challenge, say: the engine's to answer)."""
        self._expect_ok(login=True)

    def listing(self, *, keep_open: bool = False, columns: bool = True) -> Listing:
        """STAT, then LIST and UIDL; when the server pipelines, those two in one write with
        QUIT after them (nothing is ever deleted here: a round trip less), unless `keep_open`:
        then the session stays logged in, to be handed to the engine (`hand_over`) or ended by
        `quit_unanswered`. STAT goes alone so that a count the engine refuses is never
        followed by a listing request. Without `columns` the replies are only kept
        (`listed`, `keep_open` being needed for that) and not checked line by line: the
        engine reads them with its own parser, and the Listing is empty but for the count."""
        self._send(b"STAT\r\n")
        stat = self._expect_ok().split(b" ")
        if len(stat) < 3 or not stat[1].isdigit() or not stat[2].isdigit():
            raise Unsure("a malformed STAT")
        count = int(stat[1])
        if count > _MAX_MESSAGES:
            raise Unsure("a mailbox too large for a quick check: the engine refuses it")
        # Each command, what its second words are made of, and their longest (as
        # `net.pop3.listing` reads them): a size, or a UIDL (RFC 1939: 1 to 70 of 0x21-0x7E).
        asked = ((b"LIST\r\n", _DIGITS, 18), (b"UIDL\r\n", _GRAPHIC, 70))
        pipelined = "PIPELINING" in self.capabilities
        quit_too = pipelined and not keep_open
        if pipelined:
            self._send(b"LIST\r\nUIDL\r\nQUIT\r\n" if quit_too else b"LIST\r\nUIDL\r\n")
        words: list[list[bytes]] = []
        bodies = []
        for command, characters, longest in asked:
            if not pipelined:
                self._send(command)
            self._expect_ok()
            # The longest well-formed line: 9 digits, a space, 70 characters, CRLF. Checked as
            # it comes: LIST's while the server is still making UIDL's.
            body = self._body(limit=(count + 1) * 82)
            if columns:
                words.append(_column(body, count, characters, longest))
            bodies.append(body)
        if quit_too:
            self._expect_ok()  # QUIT's
            self.quitted = True
        if keep_open:
            self.listed = (count, int(stat[2]), bodies[0], bodies[1])
        if not columns:
            return Listing(count, [], [])
        sizes, uidls = words
        return Listing(count, [int(size) for size in sizes], [u.decode() for u in uidls])

    def quit(self) -> None:
        if not self.quitted:
            self._send(b"QUIT\r\n")
            self._expect_ok()

    def quit_unanswered(self) -> None:
        """QUIT without waiting for its answer, and close: the end of a session kept open
        that deleted nothing (its answer would change nothing, and waiting costs a round
        trip to a remote server)."""
        try:
            if not self.quitted:
                self.quitted = True
                with contextlib.suppress(OSError):
                    self.sock.settimeout(1.0)
                    self._send(b"QUIT\r\n")
        finally:
            self.close()

    def hand_over(self) -> Any:
        """The logged-in socket, for the engine to go on with, or Unsure when something came
        that nobody asked for (nothing may be pending on a session handed over)."""
        if self.quitted or self.buffer or self._more_waiting():
            raise Unsure("bytes nobody asked for: the engine starts its own session")
        return _full_socket(self.sock)

    def _more_waiting(self) -> bool:
        """Whether bytes came after the last reply: decrypted ones TLS holds, or any the
        socket has (on TLS, possibly a record of its own: then a fresh session, as before)."""
        import select

        pending = getattr(self.sock, "pending", None)
        if pending is not None and pending():
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)


class _Socket(_socket.socket):
    """`_socket.socket` with the weak reference that `_ssl` keeps to the socket it wraps."""

    __slots__ = ("__weakref__",)


def _connected(host: bytes | str, port: int, timeout: float) -> Any:
    """`socket.create_connection((host, port), timeout)` made with `_socket`, the C module under
    `socket`: importing `socket` (its enums, `selectors`) was ~13 ms of a ~58 ms "nothing new"
    run on a plain connection, which needs none of what it adds."""
    error: OSError | None = None
    for family, kind, proto, _name, address in _socket.getaddrinfo(
        host, port, 0, _socket.SOCK_STREAM
    ):
        sock = _Socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address for {host!r}")


def _full_socket(sock: Any) -> Any:
    """A `socket.socket` for the same connection (what the engine reads; it loads `socket`
    anyway), its timeout kept; a TLS session's `light_tls.TlsSocket` as it is."""
    import socket

    if isinstance(sock, socket.socket) or not isinstance(sock, _socket.socket):
        return sock
    timeout = sock.gettimeout()
    full = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    full.settimeout(timeout)
    return full


_DIGITS = b"0123456789"
_GRAPHIC = bytes(range(0x21, 0x7F))
"""What a LIST size and a UIDL (RFC 1939: 1 to 70 characters 0x21-0x7E) are made of."""


def _lines_of_two_words(body: bytes, count: int, characters: bytes) -> bool:
    """`count` CRLF lines of `characters` with one space each (a word may still be empty)."""
    return not (
        body.translate(None, characters + b" \r\n")
        or body.count(b"\r") != count
        or body.count(b"\n") != count
        or body.count(b" ") != count
        or body.count(b"\r\n") != count
        or (not body.endswith(b"\r\n") and count)
    )


def well_formed(body: bytes, which: str, count: int) -> bool:
    """Whether a LIST (`which` "LIST") or UIDL reply names exactly messages 1..`count` in
    order, each line well formed, as `_column` requires, without a Python object per line:
    a first download's early reader asks only for messages the engine's plan will fetch,
    and the engine's plan fetches none whose listing line is malformed."""
    import re

    characters, longest = (_DIGITS, 18) if which == "LIST" else (_GRAPHIC, 70)
    if not _lines_of_two_words(body, count, characters):
        return False
    # Each line is now `word word\r\n` with one space: the second words non-empty and short
    # enough, and the first ones 1..count in order.
    if re.search(rb" (?:\r|[^\r]{%d})" % (longest + 1), body) or body.startswith(b" "):
        return False
    numbers = re.sub(rb" [^\r]*", b"", body)
    # Compared a thousand lines at a time: `join` lists its items first, and 50,000 small
    # objects made beside the engine's imports stay behind as fragmented heap.
    position = 0
    for first in range(1, count + 1, 1000):
        lines = b"".join(b"%d\r\n" % n for n in range(first, min(first + 1000, count + 1)))
        if not numbers.startswith(lines, position):
            return False
        position += len(lines)
    return position == len(numbers)


def _column(body: bytes, count: int, characters: bytes, longest: int) -> list[bytes]:
    """The second words of a listing that names exactly messages 1..`count`, in order, one
    per CRLF line: a number, one space, 1 to `longest` of `characters` (as `net.pop3.listing`
    reads each line). Whole-reply checks, not a regex per line: a tenth of the time."""
    if not _lines_of_two_words(body, count, characters):
        raise Unsure("a malformed listing line: the engine counts it")
    # Now each of the `count` lines has one space and no other blank: two words each, unless
    # a word is empty, and then there are fewer than 2 * count.
    words = body.split()
    values = words[1::2]
    if len(values) != count or words[0::2] != [b"%d" % number for number in range(1, count + 1)]:
        raise Unsure("STAT, LIST and UIDL disagree, or a listing is out of order")
    if count and max(map(len, values)) > longest:
        raise Unsure("a listing word too long: the engine words it")
    return values
