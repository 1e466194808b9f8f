"""Blocking calls that may never return (a locked keyring, a probe) run with a deadline.

A daemon thread, not an executor: a call that never returns must not keep the process alive at
exit. The caller stops waiting at the deadline, or as soon as its own worker is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

POLL_S = 0.05
"""How often a cancellable wait looks at `cancelled`."""


class CallTimedOut(Exception):
    """The call did not return within the timeout; its thread is left behind."""


class CallCancelled(Exception):
    """The caller was cancelled while waiting; the call's thread is left behind."""


def call_in_thread(
    fn: Callable[[], _T],
    timeout: float | None,
    *,
    cancelled: Callable[[], bool] | None = None,
    name: str = "poptui-secret-store",
) -> _T:
    """Run fn in a daemon thread and wait at most timeout seconds (None: run it here).

    Raises `CallTimedOut`, `CallCancelled` (when `cancelled()` turns true meanwhile), or
    re-raises what fn raised.
    """
    if timeout is None and cancelled is None:
        return fn()
    box: list[tuple[bool, Any]] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the waiting thread
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        step = left if cancelled is None else POLL_S if left is None else min(left, POLL_S)
        if done.wait(None if step is None else max(step, 0)):
            break
        if cancelled is not None and cancelled():
            raise CallCancelled
        if deadline is not None and time.monotonic() >= deadline:
            raise CallTimedOut
    ok, value = box.pop()
    if ok:
        result: _T = value
        return result
    raise value
