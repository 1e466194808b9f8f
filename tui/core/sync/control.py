"""Stopping a fetch or a connection check from another thread, at once (quitting the app).

A fetch is stopped between messages, and by closing its socket when it is blocked in a read.
Closing without QUIT deletes nothing; messages already committed stay stored. The same closing
enforces the overall deadlines (`Watchdog`) that per-read timeouts cannot: a server that sends
one byte every few seconds never trips a read timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tui.core.net import pop3
from tui.core.sync.errors import Abandoned, FetchError

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


DEADLINE_RATE = 256 * 1024
"""Bytes per second a deadline allows on top of its fixed part: a quarter of a 1 MB/s link,
so an honest but busy server or a shared line never hits it, while a server that drips one
byte at a time (each read well inside the per-read timeout) cannot hold a fetch for ever."""
MESSAGE_DEADLINE = 60.0
"""Seconds per message before its size is counted: round trips, a slow start, a TLS record."""
SESSION_DEADLINE = 30 * 60.0
"""Seconds per session before the announced sizes are counted: login, listing, thousands of
small messages, DELE and QUIT; half an hour is far beyond any honest fetch of that kind."""


def allowance(base: float, size: int, rate: int = DEADLINE_RATE) -> float:
    """Seconds a transfer of `size` bytes may take: `base` plus the size at `rate`."""
    return base + max(0, size) / rate


class DeadlinePassed(FetchError):
    """A message or the whole session took longer than its overall deadline; the connection
    was closed without QUIT, so nothing was deleted, and what arrived whole is stored."""

    kind = "deadline"


class Watchdog:
    """Closes the connection when a message or the session runs past its deadline.

    Per-read timeouts catch a server that stops; this catches one that keeps sending a byte
    now and then. One daemon thread per fetch sleeps until the nearest deadline; arming a new
    one is a lock and an assignment, cheap enough for every message. Closing the socket makes
    the blocked read raise `ConnectionLost`, which the engine turns into `error()`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._wake = threading.Condition()
        self._client: pop3.Pop3Client | None = None
        self._session: float | None = None
        self._message: float | None = None
        self._what = ""
        self._stopped = False
        self._until = 0.0
        """Until when the watcher sleeps (infinity: until notified)."""
        self.expired: str = ""
        """What ran out ("" while nothing has): worded for the user."""
        self._thread = threading.Thread(target=self._watch, name="poptui-deadline", daemon=True)
        self._thread.start()

    def attach(self, client: pop3.Pop3Client) -> None:
        with self._wake:
            self._client = client
            late = bool(self.expired)
        if late:
            client.abort()

    def session(self, seconds: float) -> None:
        """The session ends `seconds` from now at the latest."""
        self._arm(session=self._clock() + seconds)

    def message(self, seconds: float, what: str) -> None:
        """The message now being read (`what`, e.g. "message 7 (2.1 MB)") must be whole within
        `seconds`; replaces the previous message's deadline."""
        with self._wake:
            self._message = self._clock() + seconds
            self._what = what
            if self._message < self._until:
                # Only an earlier deadline needs the watcher now; a later one (the common case,
                # every message) it finds when it wakes: no thread switch per message.
                self._wake.notify()

    def no_message(self) -> None:
        with self._wake:
            self._message = None

    def _arm(self, *, session: float) -> None:
        with self._wake:
            self._session = session
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def error(self, account: str, stored: int) -> DeadlinePassed:
        messages = f"{stored} new message{'' if stored == 1 else 's'}"
        return DeadlinePassed(
            f"Fetch of {account} stopped: {self.expired}; {messages} stored, "
            "nothing was deleted on the server",
            hint="the server is sending very slowly; the rest comes with the next fetch "
            "(raise the limit with --message-deadline / --session-deadline if the line is slow)",
        )

    def _watch(self) -> None:
        with self._wake:
            while not self._stopped:
                now = self._clock()
                if self._message is not None and now >= self._message:
                    self._expire(f"{self._what} took longer than its deadline")
                    return
                if self._session is not None and now >= self._session:
                    self._expire("the session took longer than its deadline")
                    return
                due = [d for d in (self._message, self._session) if d is not None]
                self._until = min(due) if due else float("inf")
                self._wake.wait(self._until - now if due else None)

    def _expire(self, reason: str) -> None:
        self.expired = reason
        if self._client is not None:
            self._client.abort()
