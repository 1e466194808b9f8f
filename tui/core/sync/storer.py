"""Storing a fetch's mail in a second process, so reading and storing run on two cores.

In one process the socket reader and the storer share one interpreter lock: on the bench
corpus (5,000 messages, 246 MB) 1.8 s of their CPU took 1.9 s of wall time, hardly overlapped
(issue #11). `poptui fetch` therefore forks a standby (`storer_child.standby`) before it opens
the database or starts a thread, and each mailbox's fetch asks it for a storer: a process of
its own, fed whole messages through a pipe, running the very `BatchWriter` the in-process path
runs (the same batches, commits, aliases and statements). The engine sees a `StorerWriter`, which
answers as a `BatchWriter` does; its `flush` returns only once the storer's commit is durable,
so "commit before DELE" holds across the two processes.

The app (threads of its own) and in-process callers store on the fetching thread as before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tui.core.sync import storer_frames as frames
from tui.core.sync.errors import FetchError
from tui.core.sync.heap import fix_mmap_threshold

if TYPE_CHECKING:
    from tui.core.mail.parse import MessageSummary


class StorerLost(FetchError, kind="storer_lost"):
    """The storing process ended without a word; what it had not committed comes next time."""


class StoringService:
    """A handle on the standby process: one per `poptui fetch`, closed when it ends."""

    def __init__(self, control: socket.socket, pid: int) -> None:
        self._control = control
        self._pid = pid
        self._lock = threading.Lock()

    @classmethod
    def start(cls, url: str) -> StoringService | None:
        """Fork the standby for the database at `url`; None where that is not safe (a thread
        already runs, whose locks a fork would copy held) or not possible (no fork here)."""
        if not hasattr(os, "fork") or threading.active_count() != 1:
            return None
        from tui.core.sync import storer_child  # the storage side, in the standby's pages

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fix_mmap_threshold()  # for the storers too: a stored message's memory goes back
        gc.freeze()  # the collector must not write to every object's header in the forks
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                storer_child.standby(theirs, url)
            finally:
                os._exit(1)  # never back into the fetch's code
        # Not unfrozen: collecting would write to every page the standby shares with us.
        theirs.close()
        return cls(ours, pid)

    def writer(self, account_id: int, *, dedupe_message_id: bool, lock_fd: int) -> StorerWriter:
        """A storer for one mailbox's fetch, holding (a copy of) that mailbox's lock."""
        data_read, data_write = os.pipe()
        reply_read, reply_write = os.pipe()
        frames.widen(data_write)
        try:
            request = f"{account_id} {int(dedupe_message_id)}".encode()
            with self._lock:
                socket.send_fds(self._control, [request], [data_read, reply_write, lock_fd])
        except OSError as error:
            for fd in (data_write, reply_read):
                os.close(fd)
            raise StorerLost(f"Cannot start the storing process: {error.strerror}") from error
        finally:
            os.close(data_read)
            os.close(reply_write)
        return StorerWriter(data_write, reply_read)

    def close(self) -> None:
        """End the standby (storers still at work finish on their own) and reap it."""
        self._control.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)


class StorerWriter:
    """A `BatchWriter` whose batches are written and committed by a storing process.

    Messages stream to the storer as they arrive; it commits by bytes, count and time exactly
    as in-process (waiting for the next message no longer than the oldest uncommitted one
    may wait). `flush` is a round trip that returns once the storer's commit is durable.
    Header blocks are read by whichever side has time (`receive._stream`).
    """

    parses_ahead = True
    streams = True

    def __init__(self, data_fd: int, reply_fd: int) -> None:
        self._data = data_fd
        self._replies = reply_fd
        self._closed = False
        self._offered: tuple[bytes, MessageSummary] | None = None
        self.stored = 0
        self.duplicates = 0
        self.commits = 0

    def offer(self, raw: bytes, summary: MessageSummary) -> None:
        """The summary of `raw`, read ahead by the reader: sent with it by the next `add`."""
        self._offered = (raw, summary)

    def add(self, key: str, raw: bytes) -> None:
        """Send one message, with its header summary when the reader read it ahead (it does
        while the storer is behind: the pipe is full, messages wait on the conveyor); else
        the storer reads the header block itself (the reader is behind: over TLS)."""
        offered, self._offered = self._offered, None
        summary = b""
        if offered is not None and offered[0] is raw:
            summary = frames.summary_bytes(offered[1])
        self._send(frames.ADD, key, summary, raw)

    def due(self) -> float | None:
        """Never: the storer commits on time by itself (`storer_child.serve`)."""
        return None

    def behind(self) -> bool:
        """Whether the storer has a backlog (the pipe holds `BACKED_UP` bytes or more): then
        the fetch has time to read header blocks for it."""
        return frames.backlog(self._data) >= frames.BACKED_UP

    def flush(self) -> dict[str, int]:
        """Commit everything sent; key → stored id of the messages this commit made durable."""
        self._send(frames.FLUSH)
        return self._answer()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """The storer holds its batches in one transaction anyway; left normally, flush."""
        yield
        self.flush()

    def close(self) -> None:
        """END: the storer commits the rest and lets go of its copy of the mailbox lock
        before this returns; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._send(frames.END)
            self._answer()
        finally:
            os.close(self._data)
            os.close(self._replies)

    def _send(self, kind: bytes, key: str = "", extra: bytes = b"", body: bytes = b"") -> None:
        try:
            frames.send(self._data, kind, key, extra, body)
            return
        except BrokenPipeError:
            pass
        self._answer()  # the storer stopped: its reply says why (raised, outside the except)
        raise StorerLost("The storing process stopped reading")

    def _answer(self) -> dict[str, int]:
        try:
            reply = frames.read_reply(self._replies)
        except (frames.PipeClosed, OSError) as error:
            raise StorerLost(
                "The storing process ended unexpectedly; nothing it had not committed was "
                "deleted on the server, and those messages come again next time"
            ) from error
        if reply[0] == "error":
            raise reply[1]
        _ok, written, self.stored, self.duplicates, self.commits = reply
        return dict(written)
