"""The bytes of one POP3 connection: sending commands, reading status lines and dot-terminated
bodies, and the rule that a connection out of step with its server is never used again.

After a timeout, a dropped connection or a reply that does not parse, the wire is *broken*:
`Pop3Client` then refuses every command, so no DELE or QUIT is ever sent on a desynchronised
stream. A password given in `secrets` is blanked from anything decoded while it is set.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import socket
import sys
from typing import TYPE_CHECKING

from tui.core.net.pop3.errors import ConnectionLost, Pop3Timeout, ProtocolError, ReplyTooLarge
from tui.core.net.pop3.limits import (
    CAPA_BUDGET,
    MAX_MESSAGE_BYTES,
    PRE_TLS_LINE,
    Budget,
)
from tui.core.text import human_bytes, one_line

if TYPE_CHECKING:
    import ssl  # imported by whoever builds a TLS context; a plain session never loads it

log = logging.getLogger(__name__)

_BUFFER_SIZE = 1024 * 1024
"""Each connection's receive buffer, allocated once: replies are received into it, scanned and
copied out, so no read allocates (a fresh 256 KiB+ object is an mmap, faulted in and zeroed)."""
_RECV_SIZE = _BUFFER_SIZE
"""At most this many bytes per recv (tests make it tiny to split replies at every byte)."""
_SETTLE = _BUFFER_SIZE // 4
"""A body that fills the buffer with more than this many bytes is moved into its `_Settled`
bytes object instead of to the buffer's start (so no byte is moved twice)."""
_DEFAULT_BUDGET = Budget("a reply", MAX_MESSAGE_BYTES)
_DOT_LINE = re.compile(rb"\r\n\.")
_END_MARKER = re.compile(rb"\r\n\.\r\n")
"""Searched with `re` where `_dot_line` gives up, and by `_discard_rest`: for these needles
CPython's `bytearray.find` is slower still (0.17 s against 0.08 s over the 246 MB of the bench
corpus, with the GIL held)."""
_DOTS_PER_BYTE_SHIFT = 9
"""`_dot_line` looks at up to one dot per 2**9 bytes it searches (plus `_DOTS_BEFORE_RE`)
before it leaves the rest to `_DOT_LINE`: past that many, Python's look at each dot would cost
more than the expression's byte-by-byte search."""
_DOTS_BEFORE_RE = 64
"""Dots (`_dot_line`), or dot-stuffed lines (`_end_marker`), looked at before the expression."""
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
"""Linux: acknowledge what arrives at once instead of up to 40 ms later. Old servers (popa3d)
write each reply in several small pieces with Nagle's algorithm on, so each piece waits for the
ACK of the one before: with delayed ACKs every message stalls ~40 ms (200 messages: 9 s
instead of 0.2 s). The kernel drops back to delayed ACKs by itself, so it is re-armed after
every read; one system call per read of up to 256 KiB."""


def _dot_line(buf: bytearray, start: int, end: int) -> int:
    """Where the first CRLF and dot of `buf[start:end]` begin, or -1: `_DOT_LINE.search`, found
    from the dots (`find` of one byte is C's memchr) instead of by the expression's byte-by-byte
    loop, which was the reading thread's largest cost (~40% of it; 0.16 s against 0.08 s over
    the bench corpus). Text dense with dots goes back to the expression after
    `_DOTS_BEFORE_RE` plus one dot per 2**`_DOTS_PER_BYTE_SHIFT` bytes, so no reply costs much
    more than before."""
    budget = _DOTS_BEFORE_RE + ((end - start) >> _DOTS_PER_BYTE_SHIFT)
    dot = buf.find(b".", start + 2, end)
    while dot >= 0:
        if buf[dot - 1] == 10 and buf[dot - 2] == 13:
            return dot - 2
        budget -= 1
        if not budget:  # every dot up to this one is known not to begin a line
            match = _DOT_LINE.search(buf, dot - 1, end)
            return match.start() if match else -1
        dot = buf.find(b".", dot + 1, end)
    return -1


def _end_marker(buf: bytearray, start: int, end: int) -> int:
    """Where the first CRLF "." CRLF of `buf[start:end]` begins, or -1: `_END_MARKER.search`
    by way of `_dot_line`; a body of many dot-stuffed lines goes back to the expression after
    `_DOTS_BEFORE_RE` of them."""
    for _ in range(_DOTS_BEFORE_RE):
        found = _dot_line(buf, start, end)
        if found < 0 or found + 5 > end:
            return -1  # none, or its CRLF not received yet: found again from `end - 4`
        if buf[found + 3] == 13 and buf[found + 4] == 10:
            return found
        start = found + 3
    match = _END_MARKER.search(buf, start, end)
    return match.start() if match else -1


def _is_tls_error(exc: OSError) -> bool:
    """An error of the TLS layer; without `_ssl` loaded (by `ssl`, or by `light_tls` for a
    session the quick check handed over) there is no TLS to fail."""
    tls = sys.modules.get("_ssl")
    return tls is not None and isinstance(exc, tls.SSLError)


class _Settled:
    """A body longer than the receive buffer, written piece by piece, un-stuffed, into one
    growing bytes object that `value` hands over without a copy (`io.BytesIO.getvalue` of a
    buffer nobody else holds); parts joined (and un-stuffed) at the end would hold the body
    two or three times."""

    def __init__(self, count_lines: bool) -> None:
        self._io = io.BytesIO()
        self._count_lines = count_lines
        self.length = 0
        """Bytes as they came on the wire (stuffing included): what the budget is about."""
        self.lines = 0
        self._first = True

    @staticmethod
    def cut(buf: bytearray, start: int, stop: int) -> int:
        """`stop`, or earlier so that no stuffed line start (CRLF..) straddles it: each piece
        is then un-stuffed on its own exactly as the whole body would be."""
        found = buf.find(b"\r\n..", max(start, stop - 3), stop + 3)
        return found if 0 <= found < stop else stop

    def add(
        self, buf: bytearray, view: memoryview, start: int, stop: int, last: bool, stuffed: bool
    ) -> None:
        """`buf[start:stop]`; CRLFs are counted by where their CR is, so one that straddles
        `stop` (its LF in the bytes kept back, `buf[stop]`) is counted once, here."""
        if self._count_lines:
            self.lines += buf.count(b"\r\n", start, stop if last else stop + 1)
        self.length += stop - start
        if self._first and stop > start:
            self._first = False
            if buf.startswith(b"..", start):
                start += 1  # the body's first line was stuffed
        if stuffed:
            self._io.write(bytes(view[start:stop]).replace(b"\r\n..", b"\r\n."))
        else:
            self._io.write(view[start:stop])

    def value(self) -> bytes:
        return self._io.getvalue()


class BodyTooLong(Exception):
    """A message body went past its budget but ended within `Budget.skip_up_to`: it was read
    and discarded, the session is still in step. `length` is the body's real size."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length


class Pop3Wire:
    """A socket (plain or TLS) with a read buffer, speaking POP3's line format."""

    def __init__(self, sock: socket.socket, host: str, port: int, timeout: float) -> None:
        self._sock: socket.socket | None = sock
        self.host = host
        self.port = port
        self.timeout = timeout
        self.broken = ""
        """Why the stream is out of step with the server; empty while it is usable."""
        self.secrets: tuple[str, ...] = ()
        """Texts replaced by asterisks in everything `decode` returns (set during login)."""
        self._buf = bytearray(max(16, _BUFFER_SIZE))
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._quickack = _QUICKACK is not None
        self._failed_read: OSError | None = None
        """A read that failed while TLS records were taken without waiting (`_take_records`)."""
        self._spool: int | None = None
        """A file of bytes this session received before this wire (`prime`), read first."""
        self.line_limit = PRE_TLS_LINE
        """The longest status line read now: tight until the session is encrypted or logged
        in (`Pop3Client` raises it), so nobody before STLS can make poptui buffer much."""

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def start_tls(self, context: ssl.SSLContext) -> bytes:
        """Wrap the socket in TLS; returns the server's DER certificate (b"" if it sent none).

        On failure the socket is closed and the `ssl`/`OSError` exception is left to the caller
        to put into words.
        """
        sock, self._sock = self._sock, None
        if sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        try:
            tls = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._sock = tls
        tls.settimeout(self.timeout)
        return tls.getpeercert(binary_form=True) or b""

    def discard_buffered(self) -> int:
        """Drop whatever arrived but was not read yet; returns how many bytes that was."""
        count = self._end - self._start
        self._start = self._end = 0
        return count

    def prime(self, spool: int) -> None:
        """Read the file `spool` (its descriptor, now this wire's) before the socket: what an
        earlier reader of this session received and did not parse (`sync.early_retrieval`)."""
        self._spool = spool

    def close(self) -> None:
        """Close without a word to the server. Never raises; safe from another thread."""
        spool, self._spool = self._spool, None
        if spool is not None:
            with contextlib.suppress(OSError):
                os.close(spool)
        sock, self._sock = self._sock, None
        if sock is not None:
            # shutdown() (unlike close()) wakes a recv() blocked in another thread, so abort()
            # also works as a cancel button. A FIN is not a QUIT: nothing gets deleted.
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def mark_broken(self, reason: str) -> None:
        if not self.broken:
            self.broken = reason
            log.debug("POP3 session with %s broken: %s", self.host, reason)

    def desync(self, what: str) -> ProtocolError:
        """Mark the wire broken; the error to raise for a reply that makes no sense."""
        self.mark_broken(what)
        return ProtocolError(f"{self.host} sent a reply that makes no sense: {what}")

    def too_large(self, what: str, limit: int, unit: str = "") -> ReplyTooLarge:
        """Mark the wire broken; the error to raise for a reply past its cap."""
        shown = f"{limit:,} {unit}" if unit else human_bytes(limit)
        self.mark_broken(f"{what} longer than {shown}")
        return ReplyTooLarge(
            f"{self.host} sent more than poptui reads for {what}: over {shown}. poptui stopped "
            "reading, closed the connection without QUIT and deleted nothing on the server."
        )

    def decode(self, data: bytes) -> str:
        text = data.decode("utf-8", errors="replace")
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    # ------------------------------------------------------------------------ sending

    def send_line(self, command: str, *, shown: str | None = None) -> None:
        """Send one command; `shown` is what the debug log says instead (for passwords)."""
        self.send(command.encode("utf-8") + b"\r\n", shown=shown or command)

    def send(self, data: bytes, *, shown: str) -> None:
        sock = self._sock
        if sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        log.debug("C: %s", shown)
        try:
            sock.sendall(data)
        except TimeoutError:
            self.mark_broken("write timed out")
            raise Pop3Timeout(
                f"{self.host}:{self.port} stopped accepting data for {self.timeout:g} s"
            ) from None
        except (OSError, ValueError) as exc:
            self.mark_broken("connection lost while sending")
            raise ConnectionLost(
                f"The connection to {self.host}:{self.port} was lost: {exc}"
            ) from None

    # ------------------------------------------------------------------------ reading
    # Unread bytes are `_buf[_start:_end]`: received in place (recv_into the free tail), scanned
    # in place with bounded finds, and copied out once, as the reply the caller gets.

    def _fill(self, room: int = _RECV_SIZE) -> None:
        """Receive at most `room` more bytes (at least one) after the unread ones, making room
        at the buffer's end first when it is full."""
        sock = self._sock
        if sock is None:
            raise ProtocolError(f"The connection to {self.host} is closed.")
        if self._failed_read is not None:
            raise self._read_failed(self._failed_read) from None
        if self._end == len(self._buf):
            self._make_room()
        free = len(self._buf) - self._end
        room = max(1, min(room, _RECV_SIZE, free))
        if self._spool is not None and self._from_spool(room):
            return
        try:
            count = sock.recv_into(self._view[self._end :], room)
        except TimeoutError:
            self.mark_broken("read timed out")
            raise Pop3Timeout(
                f"{self.host}:{self.port} stopped answering (nothing for {self.timeout:g} s)"
            ) from None
        except OSError as exc:
            raise self._read_failed(exc) from None
        if not count:
            self.mark_broken("connection closed by the server")
            raise ConnectionLost(
                f"{self.host}:{self.port} closed the connection in the middle of the session"
            )
        self._end += count
        if count < room and hasattr(sock, "pending"):  # TLS: one record per read
            self._take_records(sock, room - count)
        if self._quickack:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)  # type: ignore[arg-type]
            except OSError:  # not TCP (a test's socketpair), or the option is refused
                self._quickack = False

    def _from_spool(self, room: int) -> bool:
        """Up to `room` bytes from the primed file; False (the file closed) once it is read."""
        assert self._spool is not None
        try:
            count = os.readv(self._spool, [self._view[self._end : self._end + room]])
        except OSError as exc:
            self.mark_broken("could not read the bytes received earlier")
            raise ConnectionLost(
                f"Reading what {self.host} sent earlier failed: "
                f"{(exc.strerror or str(exc)).lower()}"
            ) from None
        if count:
            self._end += count
            return True
        spool, self._spool = self._spool, None
        with contextlib.suppress(OSError):
            os.close(spool)
        return False

    def _read_failed(self, exc: OSError) -> ConnectionLost:
        """A failed read, in words; the wire is out of step from here on."""
        if _is_tls_error(exc):
            self.mark_broken("TLS error")
            return ConnectionLost(
                f"The TLS connection to {self.host}:{self.port} failed: "
                f"{getattr(exc, 'reason', None) or exc}"
            )
        self.mark_broken("connection lost")
        return ConnectionLost(
            f"The connection to {self.host}:{self.port} was lost: "
            f"{(exc.strerror or str(exc)).lower()}"
        )

    def _take_records(self, sock: socket.socket, room: int) -> None:
        """Read, without waiting, the TLS records that have arrived already, up to `room` bytes.
        A TLS read gives one record, and Dovecot's are ~4 KB: a 5,000-message fetch took 66,000
        turns of the reading loop (a scan, a `_fill`, a TCP_QUICKACK each) where a plain one
        takes ~700. An end of stream or a failure is left to the next `_fill`, which words it."""
        tls = sys.modules["_ssl"]  # `ssl`'s exceptions are `_ssl`'s
        would_block = (BlockingIOError, tls.SSLWantReadError, tls.SSLWantWriteError)
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            while room > 0:
                count = sock.recv_into(self._view[self._end :], room)
                if not count:
                    return
                self._end += count
                room -= count
        except would_block:
            pass
        except OSError as exc:  # said by the next `_fill`: what arrived before it is read first
            self._failed_read = exc
        finally:
            with contextlib.suppress(OSError):  # closed meanwhile (`close`): the next read says so
                sock.settimeout(timeout)

    def _make_room(self) -> None:
        """Move the unread bytes to the buffer's start; a buffer full of unread bytes (a status
        line longer than it) is doubled instead. Offsets into the buffer change: callers keep
        theirs relative to `_start`."""
        start, end = self._start, self._end
        if start:
            self._view[: end - start] = self._view[start:end]  # memmove, no allocation
        else:
            self._view.release()
            self._buf += bytes(len(self._buf))
            self._view = memoryview(self._buf)
        self._start, self._end = 0, end - start

    def _unread(self) -> int:
        return self._end - self._start

    def read_line(self, limit: int | None = None, what: str = "a reply line") -> bytes:
        """One line without its CRLF, at most `limit` bytes (default `line_limit`).

        Reads no more than the line may still need, so a short cap also means a short read.
        """
        limit = self.line_limit if limit is None else limit
        scanned = 0  # bytes after `_start` known to hold no CRLF
        while True:
            start = self._start
            end = self._buf.find(b"\r\n", start + scanned, self._end)
            if end >= 0:
                if end - start > limit:
                    raise self.too_large(what, limit)
                line = bytes(self._view[start:end])
                self._start = end + 2
                return line
            if self._unread() > limit:
                raise self.too_large(what, limit)
            scanned = max(0, self._unread() - 1)
            self._fill(limit + 2 - self._unread())

    def read_status(self, *, allow_continuation: bool = False) -> tuple[bool | None, str]:
        """Read one status line: (True, text) for +OK, (False, text) for -ERR.

        With `allow_continuation`, a SASL `+ ` continuation gives (None, text).
        Anything else means the stream is out of step: the wire is broken.
        """
        line = self.read_line()
        if line[:3] == b"+OK" and (len(line) == 3 or line[3:4] in b" \t"):
            return True, self.decode(line[4:])
        if line[:4] == b"-ERR" and (len(line) == 4 or line[4:5] in b" \t"):
            return False, self.decode(line[5:])
        if allow_continuation and (line == b"+" or line.startswith(b"+ ")):
            return None, self.decode(line[2:])
        raise self.desync(f"unexpected reply {one_line(self.decode(line), 60)!r}")

    def read_multiline(self, budget: Budget = _DEFAULT_BUDGET) -> bytes:
        """Read a dot-terminated body after its status line; returns it un-stuffed, CRLF kept.

        Each received chunk is scanned once, in the buffer it was received into, for the end
        marker and dot-stuffing together (one search for CRLF and a dot; most mail has no line
        starting with a dot); the body is copied out of the buffer once. A body longer than the
        buffer goes, piece by piece and un-stuffed, into one growing bytes object (`_Settled`),
        not into parts joined at the end. Past the budget's bytes (checked per chunk) or lines
        (counted per piece, in C), the wire is broken and ReplyTooLarge says which reply it was.
        """
        limit = budget.max_bytes
        while self._unread() < 3:
            self._fill()
        buf = self._buf
        if buf.startswith(b".\r\n", self._start):
            self._start += 3
            return b""
        settled: _Settled | None = None
        scanned = 0
        """Bytes after `_start` searched already: relative, since `_make_room` moves them."""
        stuffed = False
        """A line after the first starts with a dot: from there on the end marker itself is
        searched for, and the body (or each settled piece) is un-stuffed."""
        while True:
            start, end = self._start, self._end
            if stuffed:
                found = _end_marker(buf, start + scanned, end)
                if found >= 0:
                    break
                scanned = max(0, end - start - 4)
            else:
                found = _dot_line(buf, start + scanned, end)
                if found >= 0 and found + 5 <= end:
                    if buf[found + 3] == 13 and buf[found + 4] == 10:
                        break
                    stuffed = True
                    scanned = found - start
                    continue
                scanned = found - start if found >= 0 else max(0, end - start - 2)
            length = end - start + (settled.length if settled else 0)
            if length > limit:
                if budget.skip_up_to is not None:
                    raise BodyTooLong(self._discard_rest(budget, length))
                raise self.too_large(budget.what, limit)
            if end == len(buf) and (start == 0 or end - start > _SETTLE):
                # Keep the last 4 bytes: an end marker may start there (and `scanned` is in them).
                settled = settled or _Settled(budget.max_lines is not None)
                cut = settled.cut(buf, start, end - 4)
                settled.add(buf, self._view, start, cut, last=False, stuffed=stuffed)
                self._start = cut
                scanned = max(0, scanned - (cut - start))
            self._fill()
        start = self._start
        length = found + 2 - start + (settled.length if settled else 0)
        if length > limit:
            if budget.skip_up_to is not None:
                self._start = found + 5
                raise BodyTooLong(length)
            raise self.too_large(budget.what, limit)
        if settled is not None:
            settled.add(buf, self._view, start, found + 2, last=True, stuffed=stuffed)
            self._start = found + 5
            if budget.max_lines is not None and settled.lines > budget.max_lines:
                raise self.too_large(budget.what, budget.max_lines, "lines")
            return settled.value()
        lines = buf.count(b"\r\n", start, found + 2) if budget.max_lines is not None else 0
        body = bytes(self._view[start : found + 2])
        self._start = found + 5
        if budget.max_lines is not None and lines > budget.max_lines:
            raise self.too_large(budget.what, budget.max_lines, "lines")
        if body[:2] == b"..":
            body = body[1:]
        if stuffed:
            body = body.replace(b"\r\n..", b"\r\n.")
        return body

    def _discard_rest(self, budget: Budget, seen: int) -> int:
        """Read on to the end marker without keeping the bytes; the body's length in all.

        Keeps only the last 4 bytes between reads (the marker may straddle two), so a message
        far longer than announced costs no memory. Past `budget.skip_up_to` the wire is broken.
        """
        assert budget.skip_up_to is not None
        buf = self._buf
        total = seen
        """The body's bytes so far: all before `_end`."""
        while True:
            match = _END_MARKER.search(buf, self._start, self._end)
            found = match.start() if match else -1
            if found >= 0:
                total -= self._end - (found + 2)
            if total > budget.skip_up_to:
                raise self.too_large(budget.what, budget.skip_up_to)
            if found >= 0:
                self._start = found + 5
                return total
            self._start = max(self._start, self._end - 4)
            before = self._end - self._start
            self._fill()
            total += self._end - self._start - before

    def capa(self, *, sent: bool = False) -> dict[str, list[str]] | None:
        """Send CAPA (RFC 2449): `{"SASL": ["PLAIN"], "PIPELINING": [], ...}`, keys upper-case.

        None when the server answers -ERR (it has no CAPA). With `sent`, an earlier reader of
        this session sent it: only the answer is read.
        """
        if not sent:
            self.send_line("CAPA")
        ok, _text = self.read_status()
        if not ok:
            return None
        caps: dict[str, list[str]] = {}
        body = self.read_multiline(CAPA_BUDGET)
        if any(len(raw) > PRE_TLS_LINE for raw in body.split(b"\r\n")):
            raise self.too_large("a capability line", PRE_TLS_LINE)
        for raw in body.split(b"\r\n"):
            words = self.decode(raw).split()
            if words:
                caps[words[0].upper()] = words[1:]
        return caps
