"""The two pipes between a fetch and its storing process (`sync.storer`): what goes through them.

Fetch → storer: frames of a 15-byte header (kind, key length, extra length, body length), the
key, the extra, the body. ADD carries one whole message: its key, its list fields (the header
summary the fetch read, pickled) and its raw bytes, written with one `writev` so the bytes are
not joined first; FLUSH asks for a durable commit of everything sent; END for the last one.
Storer → fetch: one reply per FLUSH or END, a length and a pickled tuple, or the error that
stopped the storer. The pipes are private to the two processes (never a path, never argv), so
a reply is trusted like the process's own memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import pickle
import select
import struct
import termios
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.mail.parse import MessageSummary

ADD = b"A"
FLUSH = b"F"
END = b"E"
HEADER = struct.Struct("<cHIQ")
"""Kind, key length (UTF-8 bytes), extra length, body length."""
REPLY_LENGTH = struct.Struct("<I")
PIPE_BYTES = 1024 * 1024
"""The data pipe's capacity: a few messages in flight while the storer commits (the kernel's
default, 64 KiB, made the reader wait on every fsync)."""


BACKED_UP = 512 * 1024
"""Bytes waiting in the data pipe from which the storer counts as behind (`backlog`)."""


class PipeClosed(EOFError):
    """The other process is gone (its end of a pipe closed)."""


def widen(fd: int) -> None:
    """Ask for a `PIPE_BYTES` pipe; the kernel's default stays if it refuses (it may)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, set_size, PIPE_BYTES)


def backlog(fd: int) -> int:
    """Bytes written to the pipe and not yet read (0 where the kernel will not say)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def send(fd: int, kind: bytes, key: str = "", extra: bytes = b"", body: bytes = b"") -> None:
    """Write one frame whole (a signal may cut a `writev` short: the rest follows)."""
    name = key.encode()
    parts: list[memoryview] = [
        memoryview(HEADER.pack(kind, len(name), len(extra), len(body)) + name + extra),
        memoryview(body),
    ]
    while parts:
        written = os.writev(fd, parts)
        while parts and written >= len(parts[0]):
            written -= len(parts[0])
            parts.pop(0)
        if parts and written:
            parts[0] = parts[0][written:]


class FrameReader:
    """Frames from the data pipe, read in chunks; it can tell whether a frame is already here
    (`buffered`), so the storer can wait for the next one with a deadline (`select`)."""

    CHUNK = 256 * 1024

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._data = b""
        self._at = 0

    @property
    def buffered(self) -> bool:
        return self._at < len(self._data)

    def wait(self, timeout: float | None) -> bool:
        """Whether a frame (or the pipe's end) can be read within `timeout` seconds."""
        if self.buffered or timeout is None:
            return True
        return bool(select.select([self.fd], [], [], timeout)[0])

    def next(self) -> tuple[bytes, str, bytes, bytes]:
        """The next frame: (kind, key, extra, body); `PipeClosed` at the end."""
        kind, key_length, extra_length, body_length = HEADER.unpack(self._take(HEADER.size))
        key = self._take(key_length).decode() if key_length else ""
        extra = self._take(extra_length) if extra_length else b""
        body = self._take(body_length) if body_length else b""
        return kind, key, extra, body

    def _take(self, size: int) -> bytes:
        end = self._at + size
        if end <= len(self._data):
            piece = self._data[self._at : end]
            self._at = end
            return piece
        pieces = [self._data[self._at :]] if self.buffered else []
        self._data, self._at = b"", 0
        missing = size - len(pieces[0]) if pieces else size
        while missing > 0:
            # A large body is read straight into its own bytes (usually in one read); a small
            # one with the chunk it arrived in, whose rest is kept for the next frames.
            chunk = os.read(self.fd, missing if missing >= self.CHUNK else self.CHUNK)
            if not chunk:
                raise PipeClosed(f"pipe closed {size - missing} bytes into {size}")
            if len(chunk) > missing:
                self._data, self._at = chunk, missing
                chunk = chunk[:missing]
            pieces.append(chunk)
            missing -= len(chunk)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def summary_bytes(summary: MessageSummary) -> bytes:
    """A header summary for an ADD frame (a tuple: no class to look up on either side)."""
    return pickle.dumps(
        (
            summary.from_addr, summary.to_addrs, summary.subject, summary.date,
            summary.message_id, summary.has_attachments, summary.party_domains,
        ),
        protocol=pickle.HIGHEST_PROTOCOL,
    )  # fmt: skip


def summary_from(data: bytes) -> MessageSummary:
    from tui.core.mail.parse import MessageSummary

    return MessageSummary(*pickle.loads(data))


def reply(fd: int, value: tuple[Any, ...]) -> None:
    """Send one reply."""
    send_all(fd, _framed(value))


def reply_error(fd: int, error: BaseException) -> None:
    """Send the error that stopped the storer, with the errors it arose from (pickling keeps
    neither `__cause__` nor `__context__`, and the words for a database failure are often in
    them: SQLite's "disk is full" under peewee's failed rollback). One that will not pickle goes
    as its type's name and its words."""
    chain: list[BaseException] = []
    item: BaseException | None = error
    while item is not None and len(chain) < 8:
        chain.append(item)
        item = item.__cause__ or item.__context__
    try:
        data = _framed(("error", chain))
        pickle.loads(data[REPLY_LENGTH.size :])  # what cannot come back whole goes as words
    except Exception:
        data = _framed(("error", [RuntimeError(f"{type(e).__name__}: {_words(e)}") for e in chain]))
    send_all(fd, data)


def _words(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return "(its message could not be read)"


def read_reply(fd: int) -> tuple[Any, ...]:
    """The next reply; `PipeClosed` when the storer ended without one. An error reply comes
    back as ("error", the error), its chain linked again."""
    with os.fdopen(os.dup(fd), "rb", buffering=0) as stream:
        (length,) = REPLY_LENGTH.unpack(_exactly(stream, REPLY_LENGTH.size))
        value = pickle.loads(_exactly(stream, length))
    if not isinstance(value, tuple):
        raise TypeError(f"reply {value!r} is not a tuple")
    if value[0] == "error":
        chain = value[1]
        for outer, inner in itertools.pairwise(chain):
            outer.__context__ = inner
        return ("error", chain[0])
    return value


def _framed(value: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return REPLY_LENGTH.pack(len(data)) + data


def send_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise PipeClosed(f"pipe closed {len(data)} bytes into {size}")
        data += more
    return data
