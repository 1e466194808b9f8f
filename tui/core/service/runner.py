"""`poptui service run`: fetch every mailbox of the user on its own schedule until stopped.

One loop thread plans (`Scheduler`), a pool of `jobs` threads fetches, each mailbox on its own
POP3 and database connection through the engine's public entry point, so a slow server holds
one thread and the others go on. The loop also re-reads the account list when it changed (a
cheap marker query: ids, edit stamps and disabled flags), writes the heartbeat, and on a stop
request (SIGTERM) lets each fetch end cleanly:

* still connecting, logging in or listing: closed at once (nothing stored yet, nothing lost);
* fetching: stopped after the message being read is committed (the engine's cancel check);
  the connection is closed without QUIT, so the server deletes nothing;
* deleting: DELE and QUIT go on (they take a moment); if the grace runs out the socket is
  closed without QUIT and the server deletes nothing of it.

After `stop_grace` seconds anything still running is closed (the engine's `FetchControl`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from peewee import PeeweeException

from tui.core.errors import PoptuiError
from tui.core.net import pop3
from tui.core.secrets.setup import SETTING_KEY as STORE_CHOICE_KEY
from tui.core.service import records
from tui.core.service.journal import ServiceLog, in_words
from tui.core.service.scheduler import Scheduler, minutes_interval
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, Setting, database_proxy, utcnow
from tui.core.sync.engine import FetchOptions, FetchResult, SyncProgress
from tui.core.sync.errors import FetchCancelled, FetchError
from tui.core.sync.fanout import DEFAULT_JOBS, MailboxJob, clamp_jobs, run_job
from tui.core.sync.lock import default_lock_dir, pid_lock

TICK_SECONDS = 0.5
"""The loop's longest sleep: how soon a stop request or a finished fetch is noticed."""


@dataclass
class ServiceConfig:
    options: FetchOptions = field(default_factory=FetchOptions)
    jobs: int = DEFAULT_JOBS
    check_seconds: float = 10.0
    """How often the account list's change marker is read."""
    heartbeat_seconds: float = records.HEARTBEAT_SECONDS
    stop_grace: float = 20.0
    """After a stop request: how long fetches may take to commit their message and end."""
    interval: Callable[[Account], timedelta] = minutes_interval
    """A mailbox's poll interval (tests shorten it)."""


class _Running:
    """A fetch in the pool: its job, the phase it last reported, and its outcome when done."""

    def __init__(self, job: MailboxJob) -> None:
        self.job = job
        self.phase = "connecting"
        self.outcome: FetchResult | Exception | None = None

    def progress(self, progress: SyncProgress) -> None:
        self.phase = progress.phase


class FetchService:
    """The long-running fetcher. `run()` blocks until `request_stop()` (a signal handler may
    call it: it only sets flags)."""

    def __init__(
        self,
        store: AccountStore,
        password: Callable[[Account], pop3.Secret | None],
        log: ServiceLog,
        config: ServiceConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        changed: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.password = password
        self.log = log
        self.config = config or ServiceConfig()
        self.clock = clock
        self.changed = changed
        """Called when the accounts or the password store choice changed (reopen the store)."""
        self.scheduler = Scheduler(self.config.interval)
        self.running: dict[int, _Running] = {}
        self.fetches = 0
        self._stop = False
        self._soft_stop = False
        self._finished = threading.Event()
        self._marker: Any = None
        self._force_reload = False
        self._started_at = clock()

    # ------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Ask the loop to stop: plain assignments, safe inside a signal handler."""
        self._stop = True

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        """Fetch until stopped; the number of fetches made."""
        jobs = clamp_jobs(self.config.jobs)
        self.log.info(f"poptui service started for {self.store.owner}: {jobs} fetches at once")
        next_check = next_beat = 0.0
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="poptui-service") as pool:
            try:
                while not self._stop:
                    self._collect()
                    tick = time.monotonic()
                    if tick >= next_check:
                        self._guarded(self._reload)
                        next_check = tick + self.config.check_seconds
                    if tick >= next_beat:
                        self._guarded(self._beat)
                        next_beat = tick + self.config.heartbeat_seconds
                    self._start_due(pool, jobs)
                    self._finished.wait(self._sleep_seconds(next_check, next_beat))
                    self._finished.clear()
            finally:
                self._shut_down()
        self._guarded(lambda: records.stopped(self.store.owner, self.clock()))
        self.log.info(f"poptui service stopped after {self.fetches} fetches")
        return self.fetches

    def _sleep_seconds(self, next_check: float, next_beat: float) -> float:
        now = self.clock()
        wake = self.scheduler.next_wake(now)
        seconds = min(next_check, next_beat) - time.monotonic()
        if wake is not None:
            seconds = min(seconds, (wake - now).total_seconds())
        return max(0.01, min(TICK_SECONDS, seconds))

    def _guarded(self, work: Callable[[], None]) -> None:
        """Database trouble (a restarted PostgreSQL, a full disk) is logged, not fatal: the
        next round tries again."""
        try:
            work()
        except PeeweeException as error:
            self.log.error(f"database: {error}")
            # A connection PostgreSQL dropped stays broken: close it, the next query reconnects.
            with contextlib.suppress(Exception):
                database_proxy.close()

    def _reload(self) -> None:
        marker = self._account_marker()
        if marker == self._marker and not self._force_reload:
            return
        previous, self._marker, self._force_reload = self._marker, marker, False
        first = previous is None
        # A change the user made (an edit, a new account, another password store, a mailbox
        # enabled again) may fix failing mailboxes; the engine disabling one does not.
        by_user = not first and (
            previous[0] != marker[0] or previous[2] != marker[2] or bool(previous[1] - marker[1])
        )
        if by_user and self.changed is not None:
            try:
                self.changed()
            except Exception as error:  # the password store: the old one stays in use
                self.log.error(f"password store: {error}")
        accounts = self.store.list()
        before = {p.account_id for p in self.scheduler.plans.values()}
        now = self.clock()
        self.scheduler.sync(accounts, now)
        if by_user:
            self.scheduler.retry_failing(now)
        after = {p.account_id for p in self.scheduler.plans.values()}
        if first:
            self.log.info(f"{len(after)} mailboxes to fetch")
        elif before != after:
            self.log.info(
                f"account list changed: {len(after)} mailboxes to fetch "
                f"({len(after - before)} added, {len(before - after)} dropped)"
            )

    def _account_marker(self) -> Any:
        """What changes whenever an account is added, removed, edited, disabled or enabled,
        or the password store choice changes: a few narrow columns of the user's own rows.
        (edits, ids of the disabled mailboxes, the store choice)."""
        query: Any = (
            Account.select(Account.id, Account.updated_at, Account.disabled, Account.poll_minutes)
            .where((Account.owner == self.store.owner) & Account.archived_at.is_null())
            .order_by(Account.id)
            .tuples()
        )
        rows: list[tuple[int, datetime, bool, int]] = list(query)
        store = Setting.select(Setting.value).where(
            (Setting.owner == self.store.owner) & (Setting.key == STORE_CHOICE_KEY)
        )
        edits = tuple((key, updated, minutes) for key, updated, _off, minutes in rows)
        disabled = frozenset(key for key, _updated, off, _minutes in rows if off)
        return edits, disabled, tuple(store.tuples())

    def _beat(self) -> None:
        records.beat(self.store.owner, self._started_at, self.clock(), len(self.scheduler.plans))

    def _start_due(self, pool: Any, jobs: int) -> None:
        for plan in self.scheduler.due(self.clock()):
            if len(self.running) >= jobs or self._stop:
                return
            try:
                account = self.store.get_by_id(plan.account_id)
                password = self.password(account)
            except Exception as error:  # removed meanwhile, or the password store failed
                self.log.error(f"{plan.name}: {error}")
                self.scheduler.forget(plan.account_id)
                self._force_reload = True  # re-read the list next round
                continue
            running = _Running(MailboxJob(account, password))
            self.running[plan.account_id] = running
            self.scheduler.started(plan.account_id)
            pool.submit(self._fetch, running)

    def _fetch(self, running: _Running) -> None:
        """In a pool thread: one fetch on a database connection of its own."""
        try:
            running.outcome = run_job(
                running.job,
                self.config.options,
                progress=running.progress,
                cancelled=lambda: self._soft_stop,
            )
        except Exception as error:
            running.outcome = error
        finally:
            self._finished.set()

    def _collect(self) -> None:
        """Plan the next fetch of every mailbox whose fetch has ended, and log it."""
        for account_id, running in list(self.running.items()):
            outcome = running.outcome
            if outcome is None:
                continue
            del self.running[account_id]
            self.fetches += 1
            result = outcome if isinstance(outcome, FetchResult) else _failed(running, outcome)
            now = self.clock()
            plan = self.scheduler.finished(account_id, result, now)
            next_in = in_words((plan.next_at - now).total_seconds()) if plan else ""
            self.log.fetched(result, next_in="" if self._stop else next_in)
            self._guarded(partial(self._record, account_id, result, now, plan))
            if result.error is not None and not isinstance(result.error, FetchCancelled):
                self._force_reload = True  # an auto-disable drops it from the list: now

    def _record(self, account_id: int, result: FetchResult, now: datetime, plan: Any) -> None:
        status = "ok" if result.ok else "error"
        if isinstance(result.error, FetchCancelled):
            status = "cancelled"
        records.record_fetch(
            account_id,
            status,
            result.new_messages,
            plan.failures if plan is not None else 0,
            now,
            plan.next_at if plan is not None else None,
        )

    def _shut_down(self) -> None:
        """Stop every running fetch as the module docstring says, then collect them."""
        self._stop = True
        self._soft_stop = True
        for running in self.running.values():
            if running.phase in ("connecting", "listing"):
                running.job.control.cancel()
        deadline = time.monotonic() + self.config.stop_grace
        while self._pending() and time.monotonic() < deadline:
            self._finished.wait(0.1)
            self._finished.clear()
        for running in self.running.values():
            if running.outcome is None:
                running.job.control.cancel()
        deadline = time.monotonic() + 10.0
        while self._pending() and time.monotonic() < deadline:
            self._finished.wait(0.1)
            self._finished.clear()
        self._collect()
        for running in self.running.values():
            self.log.error(f"{running.job.account.name}: still running at exit, left behind")

    def _pending(self) -> bool:
        return any(r.outcome is None for r in self.running.values())


def _failed(running: _Running, error: Exception) -> FetchResult:
    result = FetchResult(account=running.job.account.name)
    result.error = FetchError(f"{type(error).__name__}: {error}")
    return result


class ServiceAlreadyRunning(PoptuiError):
    """A second `poptui service run` of the same user on the same machine."""


@contextmanager
def single_instance(lock_dir: Path | None = None) -> Iterator[None]:
    """Hold the user's service lock on this machine for the block: two services would fetch
    the same mailboxes in turns and overwrite each other's heartbeat. The kernel drops an
    flock when the process dies, so a killed service never blocks the next one."""
    directory = lock_dir or default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)

    def busy(pid: str) -> ServiceAlreadyRunning:
        return ServiceAlreadyRunning(
            f"poptui service is already running for this user here (process {pid})",
            hint="`poptui service status` shows it; stop it before starting another",
        )

    with pid_lock(directory / "service.lock", busy=busy):
        yield
