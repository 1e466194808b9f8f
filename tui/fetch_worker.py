"""Fetching from the app: the poll schedule, the fetch and connection-test jobs the app's thread
workers run, and the words for every outcome.

The engine (`tui.core.sync.engine.fetch_account`) runs in a daemon thread of its own, watched by the
Textual worker thread: quitting stops it at once through `FetchControl` (the socket is closed
without QUIT, so nothing is deleted and every stored message stays). A fetch still connecting
(inside `Pop3Client.connect`, which `FetchControl` cannot reach yet) has stored nothing and is
left behind at once, and one still busy `quit_grace_seconds` after the stop too: a daemon
thread dies with the process instead of holding the exit up for the socket timeout.
Everything here except `FetchCoordinator.run`/`test` runs on the UI thread.

`f` fetches the *highlighted* mailbox once, active or not (the key's promise on the list); only
the active mailbox is fetched on the poll timer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from tui.core.net import pop3
from tui.core.secrets import SecretKind, SecretStoreError
from tui.core.storage.accounts import AccountNotFound
from tui.core.storage.models import Account, database_proxy
from tui.core.storage.settings import Security
from tui.core.sync.engine import (
    AccountDisabled,
    AlreadyFetching,
    FetchCancelled,
    FetchControl,
    FetchOptions,
    FetchResult,
    MissingPassword,
    fetch_account,
)
from tui.core.sync.engine import FetchProgress as EngineProgress
from tui.core.text import clean, human_bytes
from tui.messages import FetchProgress
from tui.services import Services
from tui.widgets.fetch_status import FetchStatusLine, StatusKind
from tui.widgets.mailbox_table import describe_age

FETCH_GROUP = "fetch"
TEST_GROUP = "connection-test"

Severity = Literal["information", "warning", "error"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class FetchSettings:
    """How the app fetches; `make_app` takes one so tests choose the lock folder and polling."""

    poll: bool = False
    """Fetch the active mailbox on its schedule. On in `poptui`; off by default so tests and
    screenshots never reach for the network on their own."""
    check_seconds: float = 15.0
    """How often the poll timer re-reads the active mailbox to see whether a fetch is due."""
    options: FetchOptions = field(default_factory=FetchOptions)
    test_timeout: float = 20.0
    """Seconds the connection test (t) waits for a silent server."""
    quit_grace_seconds: float = 0.5
    """After a stop, how long a fetch may take to store what it has before it is left behind.
    A fetch still connecting has nothing to store and is left behind at once."""
    progress_interval: float = 0.1
    """At most this often a progress message is posted (the last one of a phase always is)."""


@dataclass(frozen=True)
class FetchJob:
    account_id: int
    account_name: str
    manual: bool
    """True when the user pressed f; False for the poll timer."""


# ------------------------------------------------------------------ running in threads


class Abandoned(Exception):
    """A stopped job did not finish within the grace period and was left to die with the app."""


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


class _WatchedControl(FetchControl):
    """A `FetchControl` that says whether the engine has handed it a connection yet."""

    def __init__(self) -> None:
        super().__init__()
        self.attached = threading.Event()

    def attach(self, client: pop3.Pop3Client) -> None:
        self.attached.set()
        super().attach(client)


class ProgressForwarder:
    """The engine's progress callback: posts `FetchProgress` messages, at most every `interval`
    seconds within a phase; phase changes and the last message always go through, and one
    held back is posted by `flush` (so a fetch that stalls still shows its true count)."""

    def __init__(
        self,
        job: FetchJob,
        post: Callable[[FetchProgress], object],
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

    def __call__(self, progress: EngineProgress) -> None:
        message = FetchProgress(
            self._job.account_id,
            self._job.account_name,
            progress.phase,
            total=progress.total,
            done=progress.done,
            bytes_done=progress.bytes_done,
            bytes_total=progress.bytes_total,
            rate=progress.rate,
        )
        with self._lock:
            now = self._clock()
            same_phase = progress.phase == self._phase
            last_one = progress.total > 0 and progress.done >= progress.total
            if same_phase and not last_one and now - self._last < self._interval:
                self._held = message
                return
            self._phase, self._last, self._held = progress.phase, now, None
        self._send(message)

    def flush(self) -> None:
        """Post the progress held back by the throttle, once `interval` has passed."""
        with self._lock:
            message = self._held
            if message is None or self._clock() - self._last < self._interval:
                return
            self._held, self._last = None, self._clock()
        self._send(message)

    def _send(self, message: FetchProgress) -> None:
        # RuntimeError: the app's loop closed under us (quitting), so there is nobody to tell.
        with contextlib.suppress(RuntimeError):
            self._post(message)


@dataclass(frozen=True)
class ConnectionReport:
    """What the connection test (t) learnt, line by line, and how it ended."""

    account_id: int
    account_name: str
    server: str
    """host:port"""
    lines: tuple[str, ...]
    error: BaseException | None = None
    certificate: pop3.CertificateInfo | None = None
    """The untrusted certificate, when that is what stopped the test (pinning is offered)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def connection_test(
    account: Account, password: str | None, *, timeout: float, control: FetchControl
) -> ConnectionReport:
    """Like `poptui fetch --test`: connect, TLS, CAPA, log in, STAT, QUIT. Nothing is fetched
    and nothing deleted. Blocking: runs in a thread."""
    security = Security(account.incoming_security)
    server = f"{account.incoming_host}:{account.incoming_port}"
    how = "without encryption" if security is Security.NONE else f"with {security.label}"
    lines = [f"Connected to {server} {how}."]

    def report(
        error: BaseException | None, certificate: pop3.CertificateInfo | None = None
    ) -> ConnectionReport:
        return ConnectionReport(
            int(account.id), account.name, server, tuple(lines), error, certificate
        )

    try:
        client = pop3.Pop3Client.connect(
            account.incoming_host,
            account.incoming_port,
            security,
            timeout=timeout,
            pinned_fingerprint=account.pinned_fingerprint,
        )
    except pop3.UntrustedCertificate as error:
        lines[0] = f"Reached {server} {how}."
        return report(error, error.certificate)
    except (pop3.Pop3Error, ValueError) as error:
        lines.clear()
        return report(error)
    control.attach(client)
    try:
        if client.certificate is not None:
            pinned = " (pinned)" if account.pinned_fingerprint else ""
            lines.append(f"TLS certificate{pinned}: SHA-256 {client.certificate.sha256}")
            lines.append(f"  subject: {client.certificate.subject}")
        else:
            lines.append("No TLS: the password and mail travel unencrypted.")
        capabilities = " ".join(
            " ".join([name, *values]) for name, values in sorted(client.capabilities.items())
        )
        lines.append(f"Capabilities: {capabilities or '(the server does not support CAPA)'}")
        if not password:
            client.abort()
            return report(MissingPassword(f"No incoming password is stored for {account.name}."))
        client.login(account.username, password)
        lines.append(f"Logged in as {account.username}.")
        count, size = client.stat()
        lines.append(
            f"{count:,} message{'s' if count != 1 else ''} ({human_bytes(size)}) on the server."
        )
        client.quit()
    except pop3.Pop3Error as error:
        client.abort()
        if control.cancelled:
            return report(FetchCancelled("The connection test was stopped."))
        return report(error)
    return report(None)


# ------------------------------------------------------------------ the coordinator


class FetchCoordinator:
    """What is being fetched or tested, what is due, and how to stop it all at quit.

    `run` and `test` are called in the app's thread workers; everything else on the UI thread.
    """

    def __init__(self, services: Services, settings: FetchSettings) -> None:
        self.services = services
        self.settings = settings
        self.running: FetchJob | None = None
        """The fetch the app is running (set and cleared on the UI thread)."""
        self.testing: FetchJob | None = None
        """The connection test that is running."""
        self.last_line: FetchStatusLine | None = None
        """What the status bar shows; kept here so a bar created later shows the same."""
        self._not_before: dict[int, datetime] = {}
        self._announced: dict[int, str] = {}
        """The failure last shown as a notification per account, so a poll that keeps failing
        the same way does not raise the same toast every few minutes."""
        self._controls: set[FetchControl] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- UI thread

    def due_job(self) -> FetchJob | None:
        """The active mailbox, when its poll interval has passed since its last fetch (by
        anyone: a cron `poptui fetch` counts) and it is not disabled or already running."""
        if self.running is not None:
            return None
        account = self.services.accounts.active()
        if account is None or account.disabled:
            return None
        now = self.services.clock()
        if now < self._not_before.get(int(account.id), now):
            return None
        last = account.last_fetch_at
        if last is not None and now - last < timedelta(minutes=max(1, account.poll_minutes)):
            return None
        return FetchJob(int(account.id), account.name, manual=False)

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
        self._not_before[account_id] = self.services.clock() + timedelta(seconds=seconds)

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
        nxt = max(
            account.last_fetch_at + timedelta(minutes=max(1, account.poll_minutes))
            if account.last_fetch_at is not None
            else now,
            self._not_before.get(int(account.id), now),
        )
        wait = int(max(0.0, (nxt - now).total_seconds()) // 60)
        upcoming = "next fetch within a minute" if wait < 1 else f"next fetch in {wait} min"
        if account.last_fetch_status == "error":
            mine = self.last_line
            if mine is not None and mine.kind is StatusKind.ERROR and mine.account == account.name:
                reason = mine.text  # this session's short wording
            else:  # failed in another process (a cron `poptui fetch`): its stored words
                reason = account.last_fetch_error or "the last fetch failed"
            return FetchStatusLine.error(account.name, f"{reason} · {upcoming}")
        parts = []
        if account.last_fetch_at is not None:
            ago = describe_age(account.last_fetch_at, now)
            parts.append(f"fetched {ago}, {account.last_fetch_new} new")
        parts.append(upcoming)
        return FetchStatusLine.idle(" · ".join(parts), account.name)

    @property
    def busy(self) -> bool:
        """True while a fetch or test is still running in a worker thread."""
        with self._lock:
            return bool(self._controls)

    def stop(self) -> None:
        """Stop every fetch and test now (quitting): sockets closed without QUIT."""
        with self._lock:
            controls = list(self._controls)
        for control in controls:
            control.cancel()

    # ---------------------------------------------------------------- worker threads

    def run(
        self,
        job: FetchJob,
        *,
        post: Callable[[FetchProgress], object],
        cancelled: Callable[[], bool],
    ) -> FetchResult:
        """The fetch, in the worker thread. Raises only for trouble outside the server (the
        password store, the database); server trouble is in the result's `error`."""
        control = _WatchedControl()
        forward = ProgressForwarder(job, post, interval=self.settings.progress_interval)

        def work() -> FetchResult:
            with database_proxy.connection_context():
                account = self.services.accounts.get_by_id(job.account_id)
                password = self.services.secrets.get(
                    account.secret_key, SecretKind.INCOMING, mailbox=account.name
                )
                return fetch_account(
                    account,
                    password,
                    options=self.settings.options,
                    progress=forward,
                    control=control,
                    now=self.services.clock,
                )

        return self._stoppable(work, control, cancelled, tick=forward.flush)

    def test(self, account_id: int, *, cancelled: Callable[[], bool]) -> ConnectionReport:
        """The connection test, in the worker thread."""
        control = _WatchedControl()

        def work() -> ConnectionReport:
            with database_proxy.connection_context():
                account = self.services.accounts.get_by_id(account_id)
            password = self.services.secrets.get(
                account.secret_key, SecretKind.INCOMING, mailbox=account.name
            )
            return connection_test(
                account, password, timeout=self.settings.test_timeout, control=control
            )

        return self._stoppable(work, control, cancelled)

    def _stoppable(
        self,
        work: Callable[[], _T],
        control: _WatchedControl,
        cancelled: Callable[[], bool],
        *,
        tick: Callable[[], None] | None = None,
    ) -> _T:
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


# ------------------------------------------------------------------ words


@dataclass(frozen=True)
class Notice:
    """One outcome in words: a notification, and the short line the status bar keeps."""

    text: str
    severity: Severity
    status: str
    """One line for the status bar, without the account name."""
    retry_seconds: float | None = None
    """Set for a server that asked us to come back later (LOGIN-DELAY)."""


def _retry_words(account: Account | None, *, polling: bool) -> str:
    if polling and account is not None and account.is_active and not account.disabled:
        return f"retrying later (next try in {max(1, account.poll_minutes)} min)"
    return "retrying later: press f to try again in a few minutes"


def describe_success(
    name: str, result: FetchResult, account: Account | None, *, manual: bool
) -> Notice | None:
    """ "Work: 3 new messages"; None when a background fetch found nothing worth a toast."""
    count = result.new_messages
    headline = f"{name}: {count} new message{'s' if count != 1 else ''}" if count else ""
    extras = []
    if result.left_for_next_time:
        extras.append(f"{result.left_for_next_time:,} more come with the next fetch")
    if result.skipped_too_large:
        extras.append(f"{result.skipped_too_large:,} skipped as too large")
    if result.deleted_on_server:
        extras.append(f"{result.deleted_on_server:,} deleted on the server")
    if result.uidl_reset_suspected:
        extras.append("the server renumbered its messages, so nothing was deleted")
    status = f"{count} new" if count else "no new mail"
    status += f", {human_bytes(result.bytes_fetched)}" if result.bytes_fetched else ""
    if not headline and not extras and not manual:
        return Notice("", "information", status)
    text = headline or f"{name}: no new mail"
    if extras:
        text += " (" + "; ".join(extras) + ")"
    if manual and account is not None and not account.is_active:
        text += (
            f". {name} is not the active mailbox, so it is fetched only when you press f"
            " (s makes it active)"
        )
    return Notice(text, "information", status)


def describe_failure(
    name: str, error: BaseException, account: Account | None, *, polling: bool
) -> Notice:
    """The one place a fetch or test failure becomes words, with what to do about it."""
    if isinstance(error, pop3.AuthenticationFailed):
        hint = f" {error.hint}" if error.hint else ""
        text = f"{name}: password rejected, change it with p. {error.message}{hint}"
        if account is not None and account.disabled:
            text += (
                f" After {account.consecutive_auth_failures} failed logins in a row it is "
                "disabled until the password is changed."
            )
        return Notice(text, "error", "password rejected, change it with p")
    if isinstance(error, pop3.UntrustedCertificate):
        reason = error.certificate.reason if error.certificate is not None else ""
        reason = reason or "it could not be verified"
        return Notice(
            f"{name}: the server's certificate is not trusted ({reason}); nothing was fetched. "
            "Press t to see it and pin it if its fingerprint is the one your provider gave you.",
            "error",
            "certificate not trusted: t shows it and can pin it",
        )
    if isinstance(error, pop3.MailboxInUse | pop3.LoginDelay | pop3.ServerTemporaryError):
        retry = _retry_words(account, polling=polling)
        delay: float | None = None
        if isinstance(error, pop3.MailboxInUse):
            what = "the mailbox is in use by another mail program [IN-USE]"
        elif isinstance(error, pop3.LoginDelay):
            delay = float(error.delay_seconds) if error.delay_seconds else None
            every = f" every {round(delay / 60)} min" if delay else " every few minutes"
            what = f"the server allows a login only{every} [LOGIN-DELAY]"
            if delay and polling:
                retry = f"retrying later (not before {max(1, round(delay / 60))} min)"
        else:
            what = f"the server has a temporary problem ({error.server_text or 'SYS/TEMP'})"
        return Notice(f"{name}: {what}; {retry}.", "warning", f"server busy, {retry}", delay)
    if isinstance(error, AccountDisabled):
        reason = account.disabled_reason if account is not None else ""
        return Notice(
            f"{name} is disabled: {reason or 'too many failures in a row.'} It is not fetched "
            "until fixed: change the password with p, or correct the settings with e (Test & "
            "save), and it is enabled again.",
            "error",
            "disabled, not fetched until fixed (p for the password, e to edit)",
        )
    if isinstance(error, MissingPassword):
        return Notice(
            f"{name}: no password is stored, so nothing was fetched; set it with p.",
            "error",
            "no password stored, set it with p",
        )
    if isinstance(error, AlreadyFetching):
        return Notice(
            f"{name} is already being fetched by another poptui (this app elsewhere or a "
            "scheduled `poptui fetch`); its mail shows up here when that fetch finishes.",
            "warning",
            "being fetched elsewhere",
        )
    if isinstance(error, FetchCancelled):
        return Notice(f"{name}: {error.message}", "warning", "stopped")
    if isinstance(error, SecretStoreError):
        return Notice(
            f"{name}: the password could not be read from the password store: {error}",
            "error",
            "password store unavailable",
        )
    if isinstance(error, AccountNotFound):
        return Notice(f"{name} was removed; nothing was fetched.", "warning", "removed")
    if isinstance(error, pop3.Pop3Error):
        detail = error.message
        advice = getattr(error, "hint", None)
        if advice:
            detail += f" {advice}"
        if polling and account is not None and account.is_active:
            detail += f" Trying again in {max(1, account.poll_minutes)} min."
        return Notice(f"{name}: {detail}", "error", error.message)
    message = str(getattr(error, "message", None) or error or type(error).__name__)
    return Notice(f"{name}: {message}", "error", clean(message)[:120])
