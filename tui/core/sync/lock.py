"""One fetch per mailbox at a time, across processes: the app and a cron `poptui fetch`."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from platformdirs import user_state_path

from tui.core.storage.models import Account
from tui.core.sync.errors import FetchError


class AlreadyFetching(FetchError):
    """Another poptui holds the mailbox's lock."""

    kind = "already_fetching"


def default_lock_dir() -> Path:
    return user_state_path("poptui", appauthor=False) / "locks"


@contextmanager
def account_lock(
    account: Account, *, lock_dir: Path | None = None, wait: float = 0.0
) -> Iterator[None]:
    """Hold the mailbox's lock for the block, waiting up to `wait` seconds for it.

    An flock on a file: the kernel drops it when the process dies, so a killed fetch never
    leaves a stale lock behind.
    """
    directory = lock_dir or default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"account-{account.secret_key}.lock"
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AlreadyFetching(
                        f"{account.name} is already being fetched by another poptui "
                        "(the app or a scheduled `poptui fetch`); try again when it finishes"
                    ) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
