"""The summary process's own side: header blocks in, the list's fields out (`mail.summary_process`
starts it and talks to it).

A module of its own so that the child imports only what it runs. Its start-up is time the
fetch's storer waits for the first summary: ~60 ms from the spawn, of which ~20 ms went into the
parent side's imports (subprocess, pathlib, threading, select, typing) and `site`, which it is now
started without (`-I -S`: it needs nothing beyond the standard library and this package).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import struct
import sys

TYPE_CHECKING = False  # not `typing`'s: its import is a few ms of the child's start-up
if TYPE_CHECKING:
    from tui.core.mail.summary import MessageSummary

FRAME = struct.Struct("<I")
"""Every frame, either way: its payload's length, then the payload."""
PIPE_BYTES = 1024 * 1024
"""Pipe buffers asked for (Linux `F_SETPIPE_SZ`; the default is 64 KiB): room for the summaries
of a whole conveyor of messages, so the child seldom waits for the storer."""
FULL_PARSE = b"F"
"""The child's answer when the block needs the full parser (`head_summary` gave None)."""
FAILED = b"E"
"""...and when reading it raised: the message gets the empty summary, as in-process."""


def encoded(summary: MessageSummary) -> bytes:
    date = summary.date
    stamp = (
        None
        if date is None
        else (date.year, date.month, date.day, date.hour, date.minute, date.second,
              date.microsecond)
    )  # fmt: skip
    return marshal.dumps(
        (
            summary.from_addr,
            summary.to_addrs,
            summary.subject,
            stamp,
            summary.message_id,
            summary.party_domains,
        )
    )


def serve(source: int, sink: int) -> None:
    """The child's loop: a summary frame out for each header-block frame in, until end of
    input (or a pipe that fails: the parent has gone)."""
    from tui.core.mail.headers import head_summary

    received = bytearray()
    while True:
        chunk = os.read(source, PIPE_BYTES)
        if not chunk:
            return
        received += chunk
        answers = []
        while len(received) >= FRAME.size:
            (length,) = FRAME.unpack_from(received)
            if len(received) < FRAME.size + length:
                break
            head = bytes(received[FRAME.size : FRAME.size + length])
            del received[: FRAME.size + length]
            try:
                summary = head_summary(head)
                answer = FULL_PARSE if summary is None else encoded(summary)
            except Exception:
                answer = FAILED
            answers.append(FRAME.pack(len(answer)) + answer)
        if answers:
            data = memoryview(b"".join(answers))
            while data:
                data = data[os.write(sink, data) :]


def main() -> None:
    """The child: Ctrl+C is the fetch's to handle; a pipe that fails means the fetch is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        serve(sys.stdin.fileno(), sys.stdout.fileno())
