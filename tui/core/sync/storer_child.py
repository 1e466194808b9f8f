"""The storing processes' side (`sync.storer`): a forked standby that forks one storer per fetch.

The standby is forked from `poptui fetch` before its database is opened and before any thread
starts, with the storing code already imported, so a storer costs a fork (no interpreter start,
no imports; its pages are the standby's, shared until written). A storer opens its own
database connection and runs the same `BatchWriter` a fetch runs in-process, fed from a pipe.

Neither process answers signals from the terminal or the service manager (Ctrl+C, SIGTERM,
SIGHUP reach the whole process group): the fetch decides, and says so through the pipes. When
the fetch's end of the data pipe closes without an END (the fetch was killed), the storer exits
without committing, exactly as a killed in-process fetch would lose its open transaction; it
holds the mailbox's lock until then, so no next fetch reads the database before it is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from typing import NoReturn

from tui.core.storage.db import make_database
from tui.core.storage.models import Account, database_proxy
from tui.core.sync import storer_frames as frames
from tui.core.sync.batch import BatchWriter

REQUEST_BYTES = 64


def standby(control: socket.socket, url: str) -> NoReturn:
    """Fork a storer for each request on `control` until the fetch closes it. Never returns
    (whatever happens, a fork must not run on into the fetch's code)."""
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # storers are reaped by the kernel
        _away_from_the_terminal()
        while True:
            request, fds, _flags, _address = socket.recv_fds(control, REQUEST_BYTES, 3)
            if not request:
                break  # the fetch is done (or gone)
            try:
                storer = os.fork()
            except OSError:
                storer = -1  # no process to spare: the fetch hears of it as a closed pipe
            if storer == 0:
                status = 1
                try:
                    control.close()
                    account_id, dedupe = request.decode().split(" ")
                    data, replies, lock = fds
                    status = serve(data, replies, lock, url, int(account_id), dedupe == "1")
                finally:
                    os._exit(status)
            for fd in fds:
                os.close(fd)
    finally:
        os._exit(0)


def serve(
    data_fd: int, reply_fd: int, lock_fd: int, url: str, account_id: int, dedupe: bool
) -> int:
    """Store what arrives on `data_fd` until END; the exit status (0: every message committed).

    `lock_fd` is a copy of the fetch's mailbox lock (the same flock): kept open until END, so
    the lock outlives a killed fetch until this process is gone, and closed before the last
    reply, so a finished fetch's lock is free as soon as the fetch lets go of it.
    """
    reader = frames.FrameReader(data_fd)
    try:
        db = make_database(url)
        db.connect()
        database_proxy.initialize(db)
        writer = BatchWriter(Account(id=account_id), dedupe_message_id=dedupe)
        holding = writer.holding()
        holding.__enter__()  # left only by END: a vanished fetch leaves nothing committed
        while True:
            if not reader.wait(writer.due()):
                # The fetch is waiting for a slow server: what arrived whole is committed
                # within `batch.BATCH_SECONDS`, as in-process.
                writer.flush()
                continue
            kind, key, extra, body = reader.next()
            if kind == frames.ADD:
                if extra:
                    writer.offer(body, frames.summary_from(extra))
                writer.add(key, body)
            elif kind == frames.FLUSH:
                written = writer.flush()
                frames.reply(reply_fd, ("ok", written, *_counts(writer)))
            elif kind == frames.END:
                holding.__exit__(None, None, None)
                db.close()
                os.close(lock_fd)
                frames.reply(reply_fd, ("ok", {}, *_counts(writer)))
                return 0
            else:
                raise ValueError(f"unknown frame {kind!r}")
    except frames.PipeClosed:
        return 1  # the fetch is gone: its open transaction goes with this process
    except BaseException as error:
        with contextlib.suppress(OSError):
            frames.reply_error(reply_fd, error)
        return 1


def _counts(writer: BatchWriter) -> tuple[int, int, int]:
    return writer.stored, writer.duplicates, writer.commits


def _away_from_the_terminal() -> None:
    """Standard streams to /dev/null: a caller reading the fetch's output to its end must not
    wait for these processes, and they have nothing to say there (errors go through the pipes)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
