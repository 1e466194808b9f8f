"""Fetching from the app: what the app's thread workers run, and the status bar between fetches.

`FetchCoordinator.run` and `.test` run in the app's thread workers. Each starts the core job
(`tui.core.sync.fetch_account`, `check_incoming`) in a daemon thread of its own and posts what
happens as typed messages: `FetchProgress` while it runs, then `FetchFinished` or `FetchFailed`
(a fetch) or `ConnectionTested` (the test, t). The words come from `tui.core.sync.outcome`; the
schedule from `tui.core.sync.schedule`.

Quitting stops a job at once through `FetchControl` (the socket is closed without QUIT, so
nothing is deleted and every stored message stays). A job still connecting (inside
`Pop3Client.connect`, which `FetchControl` cannot reach yet) has stored nothing and is left
behind at once, and one still busy `quit_grace_seconds` after the stop too: a daemon thread
dies with the process instead of holding the exit up for the socket timeout. Everything here
except `run`/`test` runs on the UI thread.

`f` fetches the *highlighted* mailbox once, active or not (the key's promise on the list); only
the active mailbox is fetched on the poll timer. Different mailboxes are fetched at the same time,
each in a worker thread with a database connection of its own (as `poptui fetch --all` does), at
most `FetchSettings.jobs` at once; one asked for beyond that waits for a free slot.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar

from textual.message import Message

from tui.core.settings import Security
from tui.core.storage.models import Account, database_proxy
from tui.core.sync.schedule import PollSchedule
from tui.core.text import describe_age
from tui.messages import ConnectionTested, FetchFailed, FetchFinished, FetchProgress
from tui.widgets.fetch_status import PHASE_WORDS, FetchStatusLine, StatusKind

if TYPE_CHECKING:
    # The engine and what it needs are imported by the first fetch or test, not at start-up
    # (the app's first frame does not wait for them).
    from tui.core.net.pop3 import Secret
    from tui.core.sync import CheckReport, FetchControl, FetchOptions, FetchResult, SyncProgress
    from tui.services import Services

FETCH_GROUP = "fetch"
TEST_GROUP = "connection-test"

_T = TypeVar("_T")
Post = Callable[[Message], object]


class ProgressFigures(TypedDict):
    """The figures a progress report carries, passed on as keywords from one report to the next."""

    total: int
    done: int
    bytes_done: int
    bytes_total: int
    rate: float


def progress_figures(progress: SyncProgress) -> ProgressFigures:
    """The figures of the core's `SyncProgress`, as keywords for the status line."""
    return ProgressFigures(
        total=progress.total,
        done=progress.done,
        bytes_done=progress.bytes_done,
        bytes_total=progress.bytes_total,
        rate=progress.rate,
    )


@dataclass(frozen=True)
class FetchSettings:
    """How the app fetches; `make_app` takes one so tests choose the lock folder and polling."""

    poll: bool = False
    """Fetch the active mailbox on its schedule. On in `poptui`; off by default so tests and
    screenshots never reach for the network on their own."""
    check_seconds: float = 15.0
    """How often the poll timer re-reads the active mailbox to see whether a fetch is due."""
    options: FetchOptions | None = None
    """The engine's options; None: its defaults."""
    test_timeout: float = 20.0
    """Seconds the connection test (t) waits for a silent server."""
    quit_grace_seconds: float = 0.5
    """After a stop, how long a fetch may take to store what it has before it is left behind.
    A fetch still connecting has nothing to store and is left behind at once."""
    progress_interval: float = 0.1
    """At most this often a progress message is posted (the last one of a phase always is)."""
    jobs: int | None = None
    """Mailboxes fetched at the same time; None: the same default as `poptui fetch --jobs`."""


@dataclass(frozen=True)
class FetchJob:
    account_id: int
    account_name: str
    manual: bool
    """True when the user pressed f (or t); False for the poll timer."""


class ProgressForwarder:
    """The engine's progress callback: posts `FetchProgress` messages, at most every `interval`
    seconds within a phase; phase changes and the last message always go through, and one
    held back is posted by `flush` (so a fetch that stalls still shows its true count)."""

    def __init__(
        self,
        job: FetchJob,
        post: Post,
        *,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._job = job
        self._post = post
        self._interval = interval
        self._clock = clock
        self._phase = ""
        self._last = 0.0
        self._held: FetchProgress | None = None
        self._lock = threading.Lock()

    def __call__(self, progress: SyncProgress) -> None:
        message = FetchProgress(self._job.account_id, self._job.account_name, progress.snapshot())
        with self._lock:
            now = self._clock()
            same_phase = progress.phase == self._phase
            last_one = progress.total > 0 and progress.done >= progress.total
            if same_phase and not last_one and now - self._last < self._interval:
                self._held = message
                return
            self._phase, self._last, self._held = progress.phase, now, None
        _send(self._post, message)

    def flush(self) -> None:
        """Post the progress held back by the throttle, once `interval` has passed."""
        with self._lock:
            message = self._held
            if message is None or self._clock() - self._last < self._interval:
                return
            self._held, self._last = None, self._clock()
        _send(self._post, message)


def _send(post: Post, message: Message) -> None:
    # RuntimeError: the app's loop closed under us (quitting), so there is nobody to tell.
    with contextlib.suppress(RuntimeError):
        post(message)


class FetchCoordinator:
    """What is being fetched or tested, what is due, and how to stop it all at quit.

    `run` and `test` are called in the app's thread workers; everything else on the UI thread.
    """

    def __init__(self, services: Services, settings: FetchSettings) -> None:
        self.services = services
        self.settings = settings
        self.running: dict[int, FetchJob] = {}
        """The fetches the app is running, by account id (set and cleared on the UI thread)."""
        self.waiting: list[FetchJob] = []
        """Asked for while `jobs` fetches ran: started in order as slots free up."""
        self.progress: dict[int, FetchStatusLine] = {}
        """The latest progress line of each running fetch."""
        self.testing: FetchJob | None = None
        """The connection test that is running."""
        self.last_line: FetchStatusLine | None = None
        """What the status bar shows; kept here so a bar created later shows the same."""
        self.schedule = PollSchedule()
        self._announced: dict[int, str] = {}
        """The failure last shown as a notification per account, so a poll that keeps failing
        the same way does not raise the same toast every few minutes."""
        self._controls: set[FetchControl] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- UI thread

    @property
    def limit(self) -> int:
        from tui.core.sync.fanout import DEFAULT_JOBS, clamp_jobs

        jobs = self.settings.jobs
        return clamp_jobs(DEFAULT_JOBS if jobs is None else jobs)

    def has_slot(self) -> bool:
        """Whether one more fetch may start now without passing the bound."""
        return len(self.running) < self.limit

    def is_pending(self, account_id: int) -> bool:
        """Running, or waiting for a slot."""
        return account_id in self.running or any(j.account_id == account_id for j in self.waiting)

    def next_waiting(self) -> FetchJob | None:
        """The longest-waiting job, taken off the queue, when a slot is free."""
        while self.waiting and self.has_slot():
            job = self.waiting.pop(0)
            if job.account_id not in self.running:
                return job
        return None

    def start(self, job: FetchJob) -> None:
        """Record `job` as running (the caller starts its worker)."""
        self.running[job.account_id] = job
        self.progress[job.account_id] = FetchStatusLine.busy(
            job.account_name, PHASE_WORDS["connecting"]
        )

    def end(self, account_id: int) -> None:
        self.running.pop(account_id, None)
        self.progress.pop(account_id, None)

    def running_line(self) -> FetchStatusLine | None:
        """The bar while fetching: one fetch's own progress, or for several a summary (each
        mailbox's own progress is on its row of the list)."""
        lines = [self.progress[i] for i in self.running if i in self.progress]
        if not lines:
            return None
        if len(lines) == 1 and not self.waiting:
            return lines[0]
        return FetchStatusLine.many(len(lines), len(self.waiting))

    def due_job(self) -> FetchJob | None:
        """The active mailbox, when its poll interval has passed since its last fetch (by
        anyone: a cron `poptui fetch` counts), it is not disabled, not already running or
        waiting, and a slot is free (other mailboxes may be fetching meanwhile)."""
        account = self.services.accounts.active()
        if account is None or self.is_pending(int(account.id)) or not self.has_slot():
            return None
        if not self.schedule.is_due(account, self.services.clock()):
            return None
        if self.service_running():
            return None  # `poptui service` polls this user's mailboxes: not twice
        return FetchJob(int(account.id), account.name, manual=False)

    def service_running(self) -> bool:
        """Whether a `poptui service` of this user beat recently (on any machine)."""
        from tui.core.service.records import live_service

        owner = self.services.accounts.owner
        return live_service(owner, self.services.clock()) is not None

    def should_announce(self, account_id: int, failure: str | None, *, manual: bool) -> bool:
        """Whether to notify about this outcome: always when asked for (f, t); for the poll
        timer only when the failure is new. `failure` None records a success."""
        if failure is None:
            self._announced.pop(account_id, None)
            return True
        repeated = self._announced.get(account_id) == failure
        self._announced[account_id] = failure
        return manual or not repeated

    def retry_after(self, account_id: int, seconds: float) -> None:
        """Do not poll `account_id` again before `seconds` from now (a server's LOGIN-DELAY)."""
        self.schedule.retry_after(account_id, self.services.clock(), seconds)

    def idle_line(self) -> FetchStatusLine | None:
        """The bar between fetches when polling: the active mailbox and its next fetch."""
        if not self.settings.poll:
            return self.last_line
        account = self.services.accounts.active()
        if account is None and not self.services.accounts.list():
            return None  # the empty list says what to do
        if account is None:
            return FetchStatusLine.idle(
                "No active mailbox: nothing is fetched automatically (s makes one active)."
            )
        if account.disabled:
            return FetchStatusLine.error(
                account.name, "disabled, not fetched until fixed (p for the password, e to edit)"
            )
        now = self.services.clock()
        wait = self.schedule.next_fetch_at(account, now) - now
        minutes = int(max(0.0, wait.total_seconds()) // 60)
        upcoming = "next fetch within a minute" if minutes < 1 else f"next fetch in {minutes} min"
        by_service = self.service_running()
        if by_service:
            upcoming = "poptui service fetches it in the background"
        if account.last_fetch_status == "error":
            mine = self.last_line
            if mine is not None and mine.kind is StatusKind.ERROR and mine.account == account.name:
                reason = mine.text  # this session's short wording
            else:  # failed in another process (a cron `poptui fetch`): its stored words
                reason = account.last_fetch_error or "the last fetch failed"
            return FetchStatusLine.error(account.name, f"{reason} · {upcoming}")
        parts = []
        if account.last_fetch_at is not None:
            from tui.core.service.records import fetched_by_service

            ago = describe_age(account.last_fetch_at, now)
            who = " by the service" if by_service and fetched_by_service([account]) else ""
            parts.append(f"fetched{who} {ago}, {account.last_fetch_new} new")
        parts.append(upcoming)
        return FetchStatusLine.idle(" · ".join(parts), account.name)

    @property
    def busy(self) -> bool:
        """True while a fetch or test is still running in a worker thread."""
        with self._lock:
            return bool(self._controls)

    def stop(self) -> None:
        """Stop every fetch and test now (quitting): sockets closed without QUIT; the ones
        waiting for a slot are not started."""
        self.waiting.clear()
        with self._lock:
            controls = list(self._controls)
        for control in controls:
            control.cancel()

    # ---------------------------------------------------------------- worker threads

    def run(self, job: FetchJob, *, post: Post, cancelled: Callable[[], bool]) -> None:
        """The fetch, in a worker thread: posts its progress, then `FetchFinished` or
        `FetchFailed` (server trouble, and trouble with the password store or the database)."""
        from tui.core.sync import FetchControl, FetchOptions, fetch_account

        control = FetchControl()
        forward = ProgressForwarder(job, post, interval=self.settings.progress_interval)
        options = self.settings.options or FetchOptions()

        def work() -> FetchResult:
            account, password = self._account_and_password(job.account_id)
            with database_proxy.connection_context():
                return fetch_account(
                    account,
                    password,
                    options=options,
                    progress=forward,
                    control=control,
                    now=self.services.clock,
                )

        try:
            result = self._stoppable(work, control, cancelled, tick=forward.flush)
        except Exception as error:
            _send(post, FetchFailed(job.account_id, job.account_name, error, job.manual))
            return
        if result.error is not None:
            _send(post, FetchFailed(job.account_id, job.account_name, result.error, job.manual))
        else:
            _send(post, FetchFinished(job.account_id, job.account_name, result, job.manual))

    def test(self, job: FetchJob, *, post: Post, cancelled: Callable[[], bool]) -> None:
        """The connection test, in a worker thread: posts `ConnectionTested`."""
        from tui.core.sync import CheckReport, FetchControl, IncomingServer, check_incoming

        control = FetchControl()

        def work() -> CheckReport:
            account, password = self._account_and_password(job.account_id)
            return check_incoming(
                IncomingServer.of(account),
                password or None,
                timeout=self.settings.test_timeout,
                control=control,
            )

        try:
            report = self._stoppable(work, control, cancelled)
        except Exception as error:  # the account, the password store, or quitting
            nowhere = IncomingServer(job.account_name, "", 0, Security.NONE, "")
            report = CheckReport(nowhere, error=error)
        _send(post, ConnectionTested(job.account_id, job.account_name, report))

    def _account_and_password(self, account_id: int) -> tuple[Account, Secret | None]:
        """The account (read on a connection of this thread's own) and its incoming password,
        or for an OAuth2 account the source of its tokens."""
        from tui.core.oauth.login import login_secret

        with database_proxy.connection_context():
            account = self.services.accounts.get_by_id(account_id)
            password = login_secret(account, self.services.secrets)
        return account, password

    def _stoppable(
        self,
        work: Callable[[], _T],
        control: FetchControl,
        cancelled: Callable[[], bool],
        *,
        tick: Callable[[], None] | None = None,
    ) -> _T:
        from tui.core.sync import run_stoppable

        with self._lock:
            self._controls.add(control)
        try:
            return run_stoppable(
                work,
                stop_requested=lambda: cancelled() or control.cancelled,
                stop=control.cancel,
                grace=lambda: self.settings.quit_grace_seconds if control.attached.is_set() else 0,
                tick=tick,
            )
        finally:
            with self._lock:
                self._controls.discard(control)
