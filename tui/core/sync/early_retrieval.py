"""RETR sent, and the answers read into an unnamed file, while `poptui fetch` loads its engine.

Between the quick check's listing and the engine's first RETR, the process spends ~0.17 s
importing the engine (peewee, the models, the POP3 client): one core busy, the other idle, and
the server idle too. Here a thread goes on with the handed session (`sync.session_handover`)
in that time: it sends CAPA and pipelined RETRs for the first messages the engine will want and
writes the bytes as they come, unread, into a file with no name (O_TMPFILE, mode 0600, beside
the database, where the same mail is stored anyway) — not into memory, which stays flat.

The engine stops it (`stop`), then reads that file before the socket (`Pop3Wire.prime`) with
its own parser, budgets and checks, as if the bytes had just arrived: CAPA's answer first, then
the RETR answers, whose numbers `Pop3Client.adopt(early=...)` takes as already sent. Nothing
is parsed or trusted here, and nothing is deleted. Should the engine want other messages first,
it reads and drops those answers (`Pop3Client._begin_command`). Anything that goes wrong here
(a write refused, the server closing) makes `stop` say so, and the engine logs in afresh.

Standard library only: the quick check loads this module.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from bisect import bisect_right

TYPE_CHECKING = False  # not `typing`'s: the quick check imports this module
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

SPOOL_CAP = 64 << 20
"""The most read ahead into the file: past it the thread stops reading (the server waits)."""
WINDOW = 50
"""RETR commands in flight at once, as the engine's `pipeline_batch`: refilled at half."""
_ANSWER_OVERHEAD = 40
"""Bytes an answer adds to its message's listed size, near enough: "+OK n octets", ".", CRLFs
(dot-stuffing adds more; the estimate only paces the commands)."""
_READ_SIZE = 1 << 20
_FREE_SHARE = 8
"""The file takes at most this fraction of the free space: on a disk nearly full, the space
goes to the database (whose failure says "disk full" and loses nothing), not to read-ahead."""
_LEAST_ROOM = 1 << 20
"""Less room than this for the file: no reading ahead at all."""


def _free_octets(directory: str) -> int:
    """Free space for an unprivileged writer on the file system of `directory`."""
    found = os.statvfs(directory)
    return found.f_bavail * found.f_frsize


MOST_MESSAGES = 5_000
"""The most messages asked for early: far more than arrive while the engine loads, and few
enough that the numbers held for them (here, then in the engine's client) stay small."""


def wanted_prefix(
    sizes: Sequence[int],
    new: Sequence[bool],
    limit: int,
    cap: int,
    *,
    most: int = MOST_MESSAGES,
    octets: int = SPOOL_CAP,
) -> list[int]:
    """The numbers (1-based) the engine's plan starts with, as far as the check can tell: the
    new messages in order, stopping before the first one over `limit` octets (the plan skips
    it) and after `cap` of them (0: no cap). A different plan only wastes what was read. At
    most `most` of them, and no more than `octets` of mail."""
    numbers: list[int] = []
    total = 0
    for number, (size, is_new) in enumerate(zip(sizes, new, strict=True), 1):
        if not is_new:
            continue
        total += size
        if size > limit or (cap and len(numbers) >= cap) or len(numbers) >= most:
            break
        if total > octets:
            break
        numbers.append(number)
    return numbers


class EarlyRetrieval:
    """A thread reading the first RETR answers of a logged-in session into an unnamed file."""

    def __init__(
        self,
        sock: Any,
        numbers: Sequence[int],
        sizes: Sequence[int],
        directory: str,
        *,
        spool_cap: int = SPOOL_CAP,
    ) -> None:
        """`numbers`: the messages to ask for, in order; `sizes`: LIST's, 1..n. Raises
        OSError when the file cannot be made (no O_TMPFILE there): then nothing started."""
        self.sock = sock
        self.numbers = list(numbers)
        self._ends: list[int] = []
        total = 256  # CAPA's answer
        for number in self.numbers:
            total += sizes[number - 1] + _ANSWER_OVERHEAD
            self._ends.append(total)
        unnamed = getattr(os, "O_TMPFILE", None)  # Linux's
        if unnamed is None:
            raise OSError("no unnamed files here")
        room = _free_octets(directory) // _FREE_SHARE
        if room < _LEAST_ROOM:
            raise OSError("too little free space to read ahead: the database needs it")
        self._cap = min(spool_cap, room)
        self.fd = os.open(directory, unnamed | os.O_RDWR, 0o600)
        try:
            self._wake_read, self._wake_write = os.pipe()
        except OSError:
            os.close(self.fd)
            raise
        self._sent = 0
        self.spooled = 0
        """Bytes written to the file (tests, and the debug log)."""
        self._failed: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="poptui-early-retr", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def discard(self) -> None:
        """Close the file and the wake-up pipe of a reader that was never started."""
        for fd in (self.fd, self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def stop(self) -> tuple[int, list[int]] | None:
        """Stop reading: (the file, rewound, now the caller's to read and close; the numbers
        whose RETR was sent), or None when the session is unusable (the file closed)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)
        if self._failed is not None:
            os.close(self.fd)
            return None
        os.lseek(self.fd, 0, os.SEEK_SET)
        return self.fd, self.numbers[: self._sent]

    def _run(self) -> None:
        try:
            self._read()
        except BaseException as error:  # the engine starts its own session
            self._failed = error

    def _send_more(self) -> None:
        """Keep about `WINDOW` answers in flight, none past the file's cap."""
        done = bisect_right(self._ends, self.spooled)
        if self._sent - done > WINDOW // 2 or self._sent >= len(self.numbers):
            return
        commands = []
        while (
            self._sent < len(self.numbers)
            and self._sent - done < WINDOW
            and self._ends[self._sent] <= self._cap
        ):
            commands.append(b"RETR %d\r\n" % self.numbers[self._sent])
            self._sent += 1
        if commands:
            self.sock.sendall(b"".join(commands))

    def _read(self) -> None:
        sock, fd = self.sock, self.fd
        sock.sendall(b"CAPA\r\n")
        self._send_more()
        buffer = bytearray(_READ_SIZE)
        view = memoryview(buffer)
        pending = getattr(sock, "pending", None)
        watched = [sock, self._wake_read]
        while not self._stopping and self.spooled < self._cap:
            if not (pending and pending()):
                readable, _, _ = select.select(watched, [], [])
                if self._stopping or sock not in readable:
                    break
            count = sock.recv_into(view, _READ_SIZE)
            if not count:
                raise ConnectionError("the server closed the connection")
            written = 0
            while written < count:
                written += os.write(fd, view[written:count])
            self.spooled += count
            self._send_more()
