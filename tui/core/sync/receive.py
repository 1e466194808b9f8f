"""Receiving a session's new messages: RETR on one thread, commits on the engine's.

While a slow server keeps the reading thread waiting, the storing thread (which owns the
database connection) still commits what arrived whole within `batch.BATCH_SECONDS`, so a kill
loses at most seconds of transfer. Each message must be whole within its own deadline
(`control.Watchdog`). A message that is not the size LIST announced is skipped and recorded,
and the messages after it still come, as long as the session is in step.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tui.core.net import pop3
from tui.core.sync.batch import BatchWriter
from tui.core.sync.control import Watchdog, allowance


@dataclass(frozen=True)
class Pacing:
    """The parts of `FetchOptions` the receive loop uses."""

    message_deadline: float
    pipeline_batch: int


def receive(
    client: pop3.Pop3Client,
    numbers: list[int],
    sizes: dict[int, int],
    pacing: Pacing,
    watchdog: Watchdog,
    writer: BatchWriter,
    arrived: Callable[[int, bytes], None],
    skipped: list[pop3.MessageSizeMismatch],
) -> None:
    """RETR `numbers`, handing each whole message to `arrived` in order, and commit on time.

    The socket is read in a second thread and the messages are stored in this one (the
    database connection's), so while a slow server keeps the reader waiting this thread still
    commits what arrived whole within `BATCH_SECONDS`. The queue between them holds two
    messages, so memory stays bounded. Any error on either side aborts the session.
    """
    if not numbers:
        return  # nothing new: no second thread
    Item = tuple[int, bytes] | BaseException | None
    items: queue.Queue[Item] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: Item) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                items.put(item, timeout=0.1)
                return

    def read() -> None:
        try:
            _retrieve_all(client, numbers, sizes, pacing, watchdog, skipped, put)
            put(None)
        except BaseException as error:  # handed to the storing thread
            put(error)

    reader = threading.Thread(target=read, name="poptui-receive", daemon=True)
    reader.start()
    try:
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
            arrived(*item)
    except BaseException:
        stop.set()
        client.abort()  # unblocks the reader; no QUIT, so nothing is deleted
        raise
    finally:
        reader.join(timeout=5)


def _retrieve_all(
    client: pop3.Pop3Client,
    numbers: list[int],
    sizes: dict[int, int],
    pacing: Pacing,
    watchdog: Watchdog,
    skipped: list[pop3.MessageSizeMismatch],
    put: Callable[[tuple[int, bytes]], None],
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
                    put((number, raw))
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


def _far_longer(number: int, raw: bytes, sizes: dict[int, int]) -> pop3.MessageSizeMismatch | None:
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
