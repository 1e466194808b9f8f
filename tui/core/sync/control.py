"""Stopping a fetch or a connection check from another thread, at once (quitting the app).

A fetch is stopped between messages, and by closing its socket when it is blocked in a read.
Closing without QUIT deletes nothing; messages already committed stay stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from tui.core.net import pop3
from tui.core.sync.errors import Abandoned

_T = TypeVar("_T")


class FetchControl:
    """Handed to `fetch_account` or `check_incoming`; `cancel` stops it from any thread."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._client: pop3.Pop3Client | None = None
        self.attached = threading.Event()
        """Set once the job has a connection: before that it is inside `Pop3Client.connect`,
        where `cancel` cannot reach it, and it has stored nothing."""

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            client = self._client
        if client is not None:
            client.abort()

    def attach(self, client: pop3.Pop3Client) -> None:
        with self._lock:
            self._client = client
        self.attached.set()
        if self.cancelled:
            client.abort()


def run_stoppable(
    work: Callable[[], _T],
    *,
    stop_requested: Callable[[], bool],
    stop: Callable[[], None],
    grace: float | Callable[[], float],
    poll: float = 0.05,
    tick: Callable[[], None] | None = None,
) -> _T:
    """Run `work` in a daemon thread; when `stop_requested()`, call `stop()` and wait `grace`
    seconds (a function: asked at that moment).

    Returns what `work` returned (or raises what it raised); raises `Abandoned` when it is still
    running `grace` seconds after the stop. A daemon thread never delays the process exit.
    `tick` is called every `poll` seconds while waiting.
    """
    outcome: list[tuple[bool, object]] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:  # handed to the caller's thread
            outcome.append((False, error))
        finally:
            done.set()

    threading.Thread(target=target, name="poptui-engine", daemon=True).start()
    while not done.wait(poll):
        if tick is not None:
            tick()
        if stop_requested():
            stop()
            if not done.wait(grace() if callable(grace) else grace):
                raise Abandoned("stopped; the connection was left to close with the app")
            break
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    assert isinstance(value, BaseException)
    raise value
