"""One fetch per mailbox at a time, across processes: the app and a cron `poptui fetch`."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from tui.core.sync.errors import FetchError

TYPE_CHECKING = False  # the quick "nothing new" check takes `pid_lock` without peewee or typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import IO

    from tui.core.storage.models import Account


class AlreadyFetching(FetchError):
    """Another poptui holds the mailbox's lock."""

    kind = "already_fetching"


def default_lock_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("poptui", appauthor=False) / "locks"


def lock_file(directory: str | os.PathLike[str], secret_key: str) -> str:
    """The file whose flock says a mailbox is being fetched (by the engine or the quick check)."""
    return os.path.join(directory, f"account-{secret_key}.lock")


@contextmanager
def pid_lock(
    path: str | os.PathLike[str], *, busy: Callable[[str], Exception], wait: float = 0.0
) -> Iterator[None]:
    """Hold an flock on `path` for the block, with this process's id written in the file.

    Waits up to `wait` seconds for another process to let go, then raises `busy(holder)`
    (`holder` is the process id the file names, "?" when it names none). The kernel drops an
    flock when the process dies, so a killed holder never leaves a stale lock behind.
    """
    # Opened without O_APPEND or O_TRUNC: the pid overwrites the last one in place. Emptying
    # the file first would make ext4 (auto_da_alloc) start writing it back at every close.
    handle: IO[str] = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o666), "r+")
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise busy(handle.read().strip() or "?") from None
                time.sleep(0.1)
        handle.seek(0)
        handle.write(str(os.getpid()))
        handle.truncate()  # at the pid's end: a longer one before leaves no digits behind
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def account_lock(
    account: Account, *, lock_dir: Path | None = None, wait: float = 0.0
) -> Iterator[None]:
    """Hold the mailbox's lock for the block, waiting up to `wait` seconds for it."""
    directory = lock_dir or default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)

    def busy(_holder: str) -> AlreadyFetching:
        return AlreadyFetching(
            f"{account.name} is already being fetched by another poptui "
            "(the app or a scheduled `poptui fetch`); try again when it finishes"
        )

    with pid_lock(lock_file(directory, account.secret_key), busy=busy, wait=wait):
        yield
