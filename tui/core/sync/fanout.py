"""Fetching several mailboxes at once: one thread, one connection and one database connection
per mailbox, at most `jobs` at a time.

A slow server holds only its own thread; the others go on. The engine is called through its
public entry point (`fetch_account`), exactly as for one mailbox, so the per-mailbox lock, the
batch commits and the auto-disable rule are the same. Each thread opens its own database
connection (peewee keeps one per thread) and closes it when its fetch ends; SQLite writers take
turns through BEGIN IMMEDIATE and the busy timeout, PostgreSQL writers do not collide at all
(each mailbox writes its own rows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tui.core.net import pop3
from tui.core.storage.models import Account, database_proxy
from tui.core.sync.control import FetchControl
from tui.core.sync.engine import FetchOptions, FetchResult, SyncProgress, fetch_account

DEFAULT_JOBS = 4
"""Mailboxes fetched at the same time unless told otherwise: enough to hide the latency of a
few distant servers, few enough that SQLite writers rarely wait for each other."""
MAX_JOBS = 64


@dataclass
class MailboxJob:
    """One mailbox to fetch, with its password already read (secret stores are not all
    thread-safe, and may ask for a passphrase: that happens before any thread starts)."""

    account: Account
    password: pop3.Secret | None
    """The password, or an OAuth2 account's token source."""
    control: FetchControl = field(default_factory=FetchControl)


Outcome = FetchResult | Exception
"""What became of one job: the engine's result, or what it raised (a database failure)."""


def clamp_jobs(jobs: int) -> int:
    return max(1, min(MAX_JOBS, jobs))


def run_job(
    job: MailboxJob,
    options: FetchOptions,
    *,
    progress: Callable[[SyncProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FetchResult:
    """One fetch on a database connection of this thread's own, closed afterwards."""
    with database_proxy.connection_context():
        return fetch_account(
            job.account,
            job.password,
            options=options,
            progress=progress,
            cancelled=cancelled,
            control=job.control,
        )


def fetch_many(
    jobs: Sequence[MailboxJob],
    options: FetchOptions,
    *,
    limit: int = DEFAULT_JOBS,
    progress: Callable[[SyncProgress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    finished: Callable[[MailboxJob, Outcome], None] | None = None,
) -> list[Outcome]:
    """Fetch every job, `limit` at a time; the outcomes in the order of `jobs` (not of
    finishing), so a summary printed from them is the same every run.

    `progress` is called from the worker threads (it must be thread-safe); `finished` too, as
    each job ends. A job not yet started when `cancelled()` turns true is not started.
    """
    outcomes: list[Outcome | None] = [None] * len(jobs)
    lock = threading.Lock()

    def one(index: int) -> None:
        job = jobs[index]
        if cancelled is not None and cancelled():
            outcome: Outcome = _not_started(job)
        else:
            try:
                outcome = run_job(job, options, progress=progress, cancelled=cancelled)
            except Exception as error:  # a database failure: the caller words it
                outcome = error
        with lock:
            outcomes[index] = outcome
        if finished is not None:
            finished(job, outcome)

    workers = min(clamp_jobs(limit), max(1, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poptui-fetch") as pool:
        futures: list[Future[None]] = [pool.submit(one, i) for i in range(len(jobs))]
        try:
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl+C in the caller's thread: stop every fetch (sockets closed without QUIT,
            # nothing deleted, what was stored stays) instead of waiting for them all.
            for future in futures:
                future.cancel()
            for job in jobs:
                job.control.cancel()
            raise
    return [outcome for outcome in outcomes if outcome is not None]


def _not_started(job: MailboxJob) -> FetchResult:
    from tui.core.sync.errors import FetchCancelled

    result = FetchResult(account=job.account.name)
    result.error = FetchCancelled(f"Fetch of {job.account.name} not started: stopped before it")
    return result
