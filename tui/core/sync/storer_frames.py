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
import struct
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


class PipeClosed(EOFError):
    """The other process is gone (its end of a pipe closed)."""


def widen(fd: int) -> None:
    """Ask for a `PIPE_BYTES` pipe; the kernel's default stays if it refuses (it may)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, set_size, PIPE_BYTES)


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


def receive(stream: IO[bytes]) -> tuple[bytes, str, bytes, bytes]:
    """The next frame from a buffered stream: (kind, key, extra, body); `PipeClosed` at the
    end."""
    kind, key_length, extra_length, body_length = HEADER.unpack(_exactly(stream, HEADER.size))
    key = _exactly(stream, key_length).decode() if key_length else ""
    extra = _exactly(stream, extra_length) if extra_length else b""
    body = _exactly(stream, body_length) if body_length else b""
    return kind, key, extra, body


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
        data = _framed(("error", [RuntimeError(f"{type(e).__name__}: {e}") for e in chain]))
    send_all(fd, data)


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
