"""Receiving a session's new messages: RETR on one thread, storing on the engine's, overlapped.

The reading thread keeps the socket busy while the storing thread (which owns the database
connection) inserts and commits; between them a conveyor bounded in bytes and in messages, so
memory stays flat however large the mailbox. Each message's header block (the list's fields,
`mail.headers`) is read, for a large fetch, by a child process (`mail.summary_process`: off the
interpreter lock the two threads share); otherwise, or once that child fails, by whichever
thread has time: the reader while the storer is behind (a backlog on the conveyor: plain
connections, where SQLite and the fsyncs are the slow part), the storer while it waits for the
reader (TLS, where decryption keeps the reader busy). While a
slow server keeps the reading thread waiting, the storing thread still commits what arrived whole
within `batch.BATCH_SECONDS`, so a kill loses at most seconds of transfer. Each message must be
whole within its own deadline (`control.Watchdog`). A message that is not the size LIST announced is
skipped and recorded, and the messages after it still come, as long as the session is in step.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from tui.core.net import pop3
from tui.core.sync.batch import BatchWriter
from tui.core.sync.control import Watchdog, allowance
from tui.core.sync.heap import fix_mmap_threshold, release_free_memory

if TYPE_CHECKING:
    from typing import TypeAlias

    from tui.core.mail.summary import MessageSummary
    from tui.core.mail.summary_process import SummaryProcess

    _Item: TypeAlias = tuple[int, bytes, MessageSummary | None, bool | None] | BaseException | None
    """What the reader hands over: a message, its summary (or None) and, when the summary
    process has its header block, whether it has an attachment; its error; or None at the end."""

CONVEYOR_BYTES = 8 * 1024 * 1024
"""Received bytes waiting for the storing thread; a larger message is let through alone. Four
batches (`batch.BATCH_BYTES`): the storing thread stops for every commit's fsync and every
checkpoint (tens of ms each on a real disk), and with room for only one batch the reader stopped
with it. On the quiet bench machine (issue #11, bench/speed_ab.py, 5 interleaved rounds) 8 MB
fetched the 246 MB corpus in 2.24 s instead of 2.43 s over plain POP3 and 3.20 s instead of
3.41 s over TLS, for 5-7 MB more at the peak (the whole process's PSS 42-45 MB instead of
36-38); 16 MB was no faster again. (Measured on a loaded machine, 4 MB had seemed no faster.)"""
CONVEYOR_MESSAGES = 1024
"""...and at most this many messages: the bytes bound the memory; this only keeps a mailbox of
tiny messages from holding many thousand items."""
PARSE_AHEAD_BACKLOG = 512 * 1024
"""The reader reads a message's header block itself while at least this many bytes wait for
the storer; below, it hands the message over unparsed."""

T = TypeVar("T")


class Conveyor(Generic[T]):
    """A hand-over queue bounded by the bytes of what it holds, not only by a count: the reader
    runs ahead of the storer by up to `max_bytes`, never by a whole mailbox."""

    def __init__(self, max_bytes: int = CONVEYOR_BYTES, max_items: int = CONVEYOR_MESSAGES):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._changed = threading.Condition()

    def put(self, item: T, size: int, stop: threading.Event) -> None:
        """Wait for room (an empty conveyor always has room), unless `stop` is set."""
        with self._changed:
            while self._items and (
                self._bytes + size > self.max_bytes or len(self._items) >= self.max_items
            ):
                if stop.is_set():
                    return
                self._changed.wait(0.1)
            self._items.append((item, size))
            self._bytes += size
            self._changed.notify_all()

    @property
    def backlog(self) -> int:
        """Bytes waiting now (read without the lock: a hint, not a promise)."""
        return self._bytes

    def get(self, timeout: float | None) -> T:
        """The oldest item; `queue.Empty` when none came within `timeout` (None: wait)."""
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            item, size = self._items.popleft()
            self._bytes -= size
            self._changed.notify_all()
            return item


@dataclass(frozen=True)
class Pacing:
    """The parts of `FetchOptions` the receive loop uses."""

    message_deadline: float
    pipeline_batch: int


def receive(
    client: pop3.Pop3Client,
    numbers: Sequence[int],
    sizes: Mapping[int, int],
    pacing: Pacing,
    watchdog: Watchdog,
    writer: BatchWriter,
    arrived: Callable[[int, bytes], None],
    skipped: list[pop3.MessageSizeMismatch],
    prestarted: SummaryProcess | None = None,
) -> None:
    """RETR `numbers`, handing each whole message to `arrived` in order, and commit on time.

    The socket is read in a second thread and the messages are stored in this one (the
    database connection's): while this thread parses and commits a batch the reader goes on
    receiving into the `Conveyor`, and while a slow server keeps the reader waiting this thread
    still commits what arrived whole within `BATCH_SECONDS`. Any error on either side aborts
    the session. `prestarted` is a summary process started before the plan was known (by the
    quick check, for the new mail its listing showed): used if the plan wants one, else ended.
    """
    process = _summary_process(len(numbers), writer.on_postgres, prestarted)
    if not numbers:
        return  # nothing new: no second thread
    from tui.core.mail.summary import read_here  # on new mail only (the mail package)

    if process is None:
        from tui.core.mail import headers  # noqa: F401  the email package, loaded before RETR
    _hand_over_sooner()
    items: Conveyor[_Item] = Conveyor()
    stop = threading.Event()

    def put(item: _Item) -> None:
        items.put(item, len(item[1]) if isinstance(item, tuple) else 0, stop)

    def parsed(number: int, raw: bytes) -> None:
        attachment = None if process is None else process.send(raw)
        if attachment is not None:
            put((number, raw, None, attachment))
            return
        # Parse here only while the storer is behind (its conveyor holds a backlog): then this
        # thread has time to spare. Otherwise the storer waits for messages and parses them
        # itself (over TLS the reader is the busier one: decryption and all).
        ahead = items.backlog >= PARSE_AHEAD_BACKLOG
        put((number, raw, read_here(raw) if ahead else None, None))

    def read() -> None:
        try:
            _retrieve_all(client, numbers, sizes, pacing, watchdog, skipped, parsed)
            put(None)
        except BaseException as error:  # handed to the storing thread
            put(error)

    reader = threading.Thread(target=read, name="poptui-receive", daemon=True)
    reader.start()
    fix_mmap_threshold()  # large messages reuse the heap pages of those stored (after RETR)
    try:
        with writer.holding():  # whatever was written is committed on the way out
            while True:
                try:
                    item = items.get(timeout=writer.due())
                except queue.Empty:
                    writer.flush()
                    continue
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                number, raw, summary, attachment = item
                if attachment is not None:
                    assert process is not None
                    summary = process.summary(raw, attachment)
                if summary is not None:
                    writer.offer(raw, summary)
                arrived(number, raw)
    except BaseException:
        stop.set()
        client.abort()  # unblocks the reader; no QUIT, so nothing is deleted
        raise
    finally:
        reader.join(timeout=5)
        if process is not None:
            process.close()
        release_free_memory()  # the app and the service live on after the fetch


SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it (Python's default: 5 ms)."""


def _summary_process(
    messages: int, on_postgres: bool, prestarted: SummaryProcess | None
) -> SummaryProcess | None:
    """The child to read the header blocks of `messages` new messages (`prestarted` if there
    is one), or None when they are read in-process (and `prestarted` is ended)."""
    if prestarted is None and (on_postgres or not messages):
        return None
    from tui.core.mail.summary_process import SummaryProcess, worth_starting

    if on_postgres or not worth_starting(messages):
        if prestarted is not None:
            prestarted.close()
        return None
    return prestarted or SummaryProcess.start()


def _hand_over_sooner() -> None:
    """Let a thread back on the GIL within 1 ms instead of 5 ms.

    The reader gives up the GIL for every recv (over TLS: every 16 KB record) and then waits
    for it while the storer parses; the storer waits the same way after each SQLite step. With
    the default interval each wait can last 5 ms, and a pipeline of two threads that keep
    handing the GIL to each other spends that time with neither running (measured on the bench
    corpus, 5,000 messages, 8 interleaved rounds on a loaded machine: plain 6.2 s instead of
    6.7 s, TLS 8.1 s instead of 8.6 s, the same CPU). It is a process-wide setting: it is only
    ever lowered, never restored, so concurrent fetches need no bookkeeping, and the app's own
    thread (Textual) is the better for it too.
    """
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


def _retrieve_all(
    client: pop3.Pop3Client,
    numbers: Sequence[int],
    sizes: Mapping[int, int],
    pacing: Pacing,
    watchdog: Watchdog,
    skipped: list[pop3.MessageSizeMismatch],
    put: Callable[[int, bytes], None],
) -> None:
    """The reader's side: RETR in pipelines, each message within its own deadline. A message
    shorter or far longer than announced is recorded in `skipped` and skipped while the session
    is still in step (after a short one the rest follow in a new pipeline); out of step (the
    terminator never came within the client's limit), the error ends the session."""

    def expect(number: int) -> None:
        size = sizes.get(number, 0)
        watchdog.message(allowance(pacing.message_deadline, size), f"message {number}")

    todo = numbers
    while todo:
        retrieved = client.retrieve(todo, expected_sizes=sizes, batch=pacing.pipeline_batch)
        position = 0
        try:
            expect(todo[0])
            for number, raw in retrieved:
                position += 1
                longer = _far_longer(number, raw, sizes)
                if longer is None:
                    put(number, raw)
                else:
                    skipped.append(longer)
                if position < len(todo):
                    expect(todo[position])
            todo = []
        except pop3.MessageSizeMismatch as error:
            if not (error.in_sync and client.usable):
                raise
            skipped.append(error)
            todo = todo[position + 1 :]
        finally:
            watchdog.no_message()
            close = getattr(retrieved, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()


def _far_longer(
    number: int, raw: bytes, sizes: Mapping[int, int]
) -> pop3.MessageSizeMismatch | None:
    """A message that arrived whole but far longer than LIST said (more than the client's own
    tolerance for LF-counting servers: twice the size and 1 KB) is not what was announced."""
    expected = sizes.get(number)
    if expected is None or len(raw) <= 2 * expected + 1024:
        return None
    return pop3.MessageSizeMismatch(
        f"Message {number} is {len(raw)} bytes but the server announced {expected}",
        number=number,
        expected=expected,
        received=len(raw),
    )
