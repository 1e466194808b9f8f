"""The list's fields of each new message read in a second process: off the fetch's interpreter lock.

A fetch of thousands of messages spends a third of its interpreter time reading header blocks
(`headers.head_summary`, issue #11), on the one lock its reading and storing threads share, while
the machine's other core idles. Here a child Python process reads them: the reader sends each
message's header block (a few KB; never the body, which would cross the pipe twice, as the
storer process of session 7 showed), the storer takes the summaries back in the same order.

Nothing depends on the child. Whatever goes wrong with it (it cannot start, it dies, it answers
nonsense or too late, a pipe breaks) marks it broken and kills it; from then on each message's
summary is read in-process from the message itself, as without the child, so a message is never
stored without its summary or with another message's. The child reads only header blocks from
its pipe, writes only summaries to its other pipe, ignores Ctrl+C (the fetch decides what a
Ctrl+C means) and ends at end of input: a fetch killed outright leaves no child behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from tui.core.mail.blocks import has_attachment, header_block
from tui.core.mail.summary import MessageSummary, read_here
from tui.core.mail.summary_child import FAILED, FRAME, FULL_PARSE, PIPE_BYTES

SUMMARY_PROCESS_MESSAGES = 200
"""From this many new messages on, their header blocks are read in a second process when the
store is SQLite: starting one costs tens of milliseconds of the other core, reading a header
block 55-100 µs. On the bench corpus (5,000 messages, `bench/speed_ab.py`) it took 0.96x the
time plain and 0.99x over TLS (7 rounds; two 5-round runs: 0.95-1.00x and 0.96-0.97x), for
~10 MB more at the peak (the child's interpreter). Into PostgreSQL it took 1.09x the time
(`bench/postgres_poptui.py --baseline`, 3 rounds): there the server's own CPU needs the other
core, and the child's work, more CPU than the same reading in-process, only competes with it.
Nor with a single CPU to run on (`usable_cores`), for the same reason."""
WAIT_SECONDS = 15.0
"""Longest wait for the child to take a header block or give a summary: longer means it hangs."""
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tui.core.mail.summary_child import main; main()"
)
"""The child's program, run isolated (`-I`: neither the working directory, PYTHONPATH nor the
user's site folder on its path), with the folder of this very `tui` package first: a `tui/`
someone left where poptui is started must never become the child's code."""


class SummaryProcess:
    """A child process reading header blocks, used by two threads: `send` on the reader's,
    `summary` on the storer's, each message in the same order on both."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        assert child.stdin is not None and child.stdout is not None
        self._to_child = child.stdin.fileno()
        self._from_child = child.stdout.fileno()
        os.set_blocking(self._to_child, False)  # a write never outlasts `WAIT_SECONDS`
        self._received = bytearray()
        self._lock = threading.Lock()
        self.broken = ""
        """Why the child is no longer used; empty while it is."""

    @classmethod
    def start(cls) -> SummaryProcess | None:
        """A running child, or None when none could be started (then read in-process)."""
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, _package_root()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                bufsize=0,
            )
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
        assert child.stdin is not None and child.stdout is not None
        for pipe in (child.stdin, child.stdout):
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return cls(child)

    def send(self, raw: bytes) -> bool | None:
        """Hand the header block of `raw` to the child, and tell whether `raw` has an
        attachment (the one field that looks past the header block; read here, on the calling
        thread). None when the child is broken (or breaks now): then no summary of this message
        may be asked for."""
        if self.broken:
            return None
        head = header_block(raw)
        data = FRAME.pack(len(head)) + head
        view = memoryview(data)
        deadline = time.monotonic() + WAIT_SECONDS
        try:
            while view:
                with contextlib.suppress(BlockingIOError):  # the pipe is full: wait below
                    view = view[os.write(self._to_child, view) :]
                if view and not _ready(self._to_child, select.POLLOUT, deadline):
                    self._break("it took no more header blocks")
                    return None
        except OSError as error:
            self._break(f"its input failed: {error.strerror or error}")
            return None
        return has_attachment(raw, head)

    def summary(self, raw: bytes, attachment: bool) -> MessageSummary:
        """The summary of `raw`, the next message `send` handed over (`attachment`: what it
        said): the child's, or read here from the whole message when the child needs the full
        parser or is broken."""
        answer = None if self.broken else self._answer()
        if answer is None:
            return read_here(raw)
        if answer == FULL_PARSE:
            from tui.core.mail.parse import summarize  # the email package: a rare block

            return summarize(raw)
        if answer == FAILED:
            return MessageSummary()
        try:
            summary = _decoded(answer)
        except (ValueError, TypeError, EOFError):
            self._break("it answered something that is not a summary")
            return read_here(raw)
        return replace(summary, has_attachments=True) if attachment else summary

    def close(self) -> None:
        """End the child: its input closes, so it ends by itself. It is reaped on a thread of
        its own (killed if it has not ended within a second): its interpreter's tear-down took
        ~15 ms, which the fetch waited for before its QUIT."""
        for pipe in (self._child.stdin, self._child.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        if self._child.poll() is None:
            threading.Thread(target=_reap, args=(self._child,), name="poptui-reap").start()

    def _answer(self) -> bytes | None:
        deadline = time.monotonic() + WAIT_SECONDS
        buffer = self._received
        try:
            while True:
                if len(buffer) >= FRAME.size:
                    (length,) = FRAME.unpack_from(buffer)
                    if len(buffer) >= FRAME.size + length:
                        answer = bytes(buffer[FRAME.size : FRAME.size + length])
                        del buffer[: FRAME.size + length]
                        return answer
                if not _ready(self._from_child, select.POLLIN, deadline):
                    self._break("it gave no summary in time")
                    return None
                chunk = os.read(self._from_child, PIPE_BYTES)
                if not chunk:
                    self._break("it ended")
                    return None
                buffer += chunk
        except OSError as error:
            self._break(f"its output failed: {error.strerror or error}")
            return None

    def _break(self, why: str) -> None:
        with self._lock:
            if not self.broken:
                self.broken = why
                with contextlib.suppress(OSError):
                    self._child.kill()


def worth_starting(new_messages: int) -> bool:
    """Whether a fetch of this many new messages into SQLite reads them in a child process."""
    return new_messages >= SUMMARY_PROCESS_MESSAGES and usable_cores() > 1


def usable_cores() -> int:
    """CPUs this process may run on: with one, a summary process only takes turns with it."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _reap(child: subprocess.Popen[bytes]) -> None:
    try:
        child.wait(timeout=1)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _ready(fd: int, event: int, deadline: float) -> bool:
    """Wait until `fd` can be written (or read) without blocking; False at `deadline`."""
    poller = select.poll()
    poller.register(fd, event)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for _, happened in poller.poll(left * 1000):
            if happened & (event | select.POLLHUP | select.POLLERR | select.POLLNVAL):
                return True


def _decoded(answer: bytes) -> MessageSummary:
    from_addr, to_addrs, subject, stamp, message_id, party_domains = marshal.loads(answer)
    texts = (from_addr, to_addrs, subject, message_id, party_domains)
    if not all(isinstance(text, str) for text in texts):
        raise TypeError("not a summary")
    return MessageSummary(
        from_addr=from_addr,
        to_addrs=to_addrs,
        subject=subject,
        date=None if stamp is None else datetime(*stamp),
        message_id=message_id,
        party_domains=party_domains,
    )


def _package_root() -> str:
    """The folder holding the `tui` package this module belongs to."""
    return str(Path(__file__).resolve().parents[3])
