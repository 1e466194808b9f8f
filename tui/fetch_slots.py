"""The app's fetching: up to `FetchSettings.jobs` mailboxes at once, the poll, the connection
test, and what their outcomes put on screen.

`FetchingApp` is the part of the app (`tui.app.PoptuiApp` derives from it) that answers the
mailbox list's `f` and `t` and the poll timer. Each fetch or test runs in a thread worker
(`tui.fetch_worker.FetchCoordinator.run` / `.test`), which posts coalescing `FetchProgress`
messages and then `FetchFinished` / `FetchFailed` / `ConnectionTested`; their handlers here put
the words from `tui.core.sync.outcome` on screen. A mailbox asked for while every slot is taken
waits for one; `f` on a mailbox already being fetched joins that fetch.

What only a fetch's outcome needs (the sync engine's words, the dialogs) is imported when the
first outcome arrives, not at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.worker import get_current_worker

from tui.core.storage.accounts import AccountError
from tui.core.storage.models import Account, database_proxy
from tui.core.text import clean
from tui.fetch_worker import (
    FETCH_GROUP,
    TEST_GROUP,
    FetchCoordinator,
    FetchJob,
    FetchSettings,
    progress_figures,
)
from tui.messages import (
    ConnectionTested,
    ConnectionTestRequested,
    FetchFailed,
    FetchFinished,
    FetchProgress,
    FetchRequested,
    MailboxesChanged,
)
from tui.services import Services
from tui.typeahead import TypeAheadApp
from tui.widgets.fetch_status import FetchStatus, FetchStatusLine
from tui.widgets.mailbox_table import MailboxTable

if TYPE_CHECKING:
    from tui.core.net import CertificateInfo


class FetchingApp(TypeAheadApp[None]):
    """The app's fetch slots, poll and connection test (see the module's docstring)."""

    def __init__(self, services: Services, fetching: FetchSettings | None = None) -> None:
        super().__init__()
        self.services = services
        self.fetcher = FetchCoordinator(services, fetching or FetchSettings())
        self._joined: set[int] = set()
        """Mailboxes whose running fetch the user asked for too (f): announced as manual."""

    @on(events.Mount)
    def _start_polling(self) -> None:
        if self.fetcher.settings.poll:
            self.set_interval(self.fetcher.settings.check_seconds, self.poll_active_mailbox)
            self.call_after_refresh(self.poll_active_mailbox)

    # Started after the first frame (tui.app) and after a fetch brought new mail.
    @work(thread=True, exclusive=True, exit_on_error=False, group="body-index")
    def index_message_bodies(self) -> None:
        """Extract body text for search in the background, newest first; stops on quit."""
        from tui.core.storage import queries

        worker = get_current_worker()
        with database_proxy.connection_context():
            queries.index_all_bodies(lambda: worker.is_cancelled)

    # ------------------------------------------------------------------ requests from screens

    def on_fetch_requested(self, request: FetchRequested) -> None:
        """f: fetch the highlighted mailbox now, active or not (the poll only fetches the
        active one). Other mailboxes may be fetching meanwhile, up to `FetchSettings.jobs`."""
        self._request_fetch(FetchJob(request.account_id, request.account_name, manual=True))

    def _request_fetch(self, job: FetchJob) -> None:
        """Start `job` now, join the running fetch of the same mailbox, or wait for a slot."""
        running = self.fetcher.running.get(job.account_id)
        if running is not None:
            # Often one the app started by itself: the user gets its outcome as if asked for.
            self._joined.add(job.account_id)
            self.notify(
                f"{clean(running.account_name)} is being fetched already; "
                "you will see what it brings when it is done.",
                markup=False,
            )
        elif self.fetcher.is_pending(job.account_id):
            self.notify(f"{clean(job.account_name)} is fetched next already.", markup=False)
        elif self.fetcher.has_slot():
            self._start_fetch(job)
        else:
            self.fetcher.waiting.append(job)
            running_now = list(self.fetcher.running.values())
            busy = (
                clean(running_now[0].account_name)
                if len(running_now) == 1
                else f"one of the {len(running_now)} mailboxes being fetched"
            )
            self.notify(
                f"{clean(job.account_name)} is fetched next, once {busy} is done.", markup=False
            )
            self._show_status(self.fetcher.running_line())

    def on_connection_test_requested(self, request: ConnectionTestRequested) -> None:
        """t: log in and report (CAPA, TLS fingerprint, login, STAT) without fetching."""
        if self.fetcher.testing is not None:
            self.notify("A connection test is already running.", severity="warning")
            return
        job = FetchJob(request.account_id, request.account_name, manual=True)
        self.fetcher.testing = job
        self._show_status(FetchStatusLine.busy(request.account_name, "testing the connection…"))
        self._test_in_thread(job)

    # ------------------------------------------------------------------ fetching

    def poll_active_mailbox(self) -> None:
        """The poll timer: fetch the active mailbox when its poll interval has passed."""
        job = self.fetcher.due_job()
        if job is not None:
            self._start_fetch(job)
        elif not self.fetcher.running and self.fetcher.testing is None:
            self._show_status(self.fetcher.idle_line())

    def _start_fetch(self, job: FetchJob) -> None:
        self.fetcher.start(job)
        self._show_fetching(job.account_id, "fetching…")
        self._show_status(self.fetcher.running_line())
        self._fetch_in_thread(job)

    # Not exclusive: each mailbox's fetch is a worker of its own (the coordinator bounds them).
    @work(thread=True, exit_on_error=False, group=FETCH_GROUP)
    def _fetch_in_thread(self, job: FetchJob) -> None:
        worker = get_current_worker()
        self.fetcher.run(job, post=self.post_message, cancelled=lambda: worker.is_cancelled)

    @work(thread=True, exclusive=True, exit_on_error=False, group=TEST_GROUP)
    def _test_in_thread(self, job: FetchJob) -> None:
        worker = get_current_worker()
        self.fetcher.test(job, post=self.post_message, cancelled=lambda: worker.is_cancelled)

    def on_fetch_progress(self, progress: FetchProgress) -> None:
        if progress.account_id not in self.fetcher.running:
            return  # a late message of a fetch already over
        self.fetcher.progress[progress.account_id] = FetchStatusLine.progress(
            progress.account_name, progress.state.phase, **progress_figures(progress.state)
        )
        self._show_status(self.fetcher.running_line())
        counting = progress.state.phase == "fetching" and progress.state.total
        self._show_fetching(
            progress.account_id,
            f"fetching {progress.state.done:,}/{progress.state.total:,}"
            if counting
            else "fetching…",
        )

    def _fetch_ended(self, account_id: int, manual: bool, *, quitting: bool = False) -> bool:
        """A fetch is over: its slot goes to the longest-waiting one. Whether the user asked
        for the one that ended (f, or f pressed while the app's own fetch ran)."""
        self.fetcher.end(account_id)
        joined = account_id in self._joined
        self._joined.discard(account_id)
        if quitting:
            self.fetcher.waiting.clear()
        else:
            self.call_later(self._start_waiting)
        return manual or joined

    def _start_waiting(self) -> None:
        while (job := self.fetcher.next_waiting()) is not None:
            self._start_fetch(job)

    def _show_outcome(self, line: FetchStatusLine | None) -> None:
        """The bar after a fetch ended: its outcome, unless others are still running."""
        self.fetcher.last_line = line
        self._show_status(self.fetcher.running_line() or line)

    def on_fetch_finished(self, finished: FetchFinished) -> None:
        from tui.core.sync import describe_success

        manual = self._fetch_ended(finished.account_id, finished.manual)
        account = self._account(finished.account_id)
        notice = describe_success(
            clean(finished.account_name), finished.result, account, manual=manual
        )
        self._fetch_done(finished.account_id, new_mail=finished.result.new_messages > 0)
        if finished.result.new_messages:
            self.index_message_bodies()
        self.fetcher.should_announce(finished.account_id, None, manual=manual)
        if notice is not None and notice.text:
            self.notify(notice.text, markup=False, severity=notice.severity)
        line = self.fetcher.idle_line() if self.fetcher.settings.poll else None
        if line is None and notice is not None:
            line = FetchStatusLine.idle(f"last fetch: {notice.status}", finished.account_name)
        self._show_outcome(line)

    def on_fetch_failed(self, failed: FetchFailed) -> None:
        from tui.core.net.pop3 import UntrustedCertificate
        from tui.core.sync import Abandoned, FetchCancelled, describe_failure

        error = failed.error
        manual = self._fetch_ended(
            failed.account_id, failed.manual, quitting=isinstance(error, Abandoned)
        )
        account = self._account(failed.account_id)
        self._fetch_done(failed.account_id, new_mail=True)
        if isinstance(error, Abandoned):
            return  # only when quitting
        name = clean(failed.account_name)
        notice = describe_failure(name, error, account, polling=self.fetcher.settings.poll)
        if notice.retry_seconds:
            self.fetcher.retry_after(failed.account_id, notice.retry_seconds)
        line = FetchStatusLine.error(failed.account_name, notice.status)
        if isinstance(error, FetchCancelled):
            line = FetchStatusLine.idle(notice.status, failed.account_name)
        self._show_outcome(line)
        certificate = error.certificate if isinstance(error, UntrustedCertificate) else None
        if manual and certificate is not None and account is not None:
            job = FetchJob(failed.account_id, failed.account_name, manual=True)
            self._offer_pin(account, certificate, lambda: self._request_fetch(job))
        if self.fetcher.should_announce(failed.account_id, notice.text, manual=manual):
            self.notify(notice.text, markup=False, severity=notice.severity, timeout=12)

    def on_connection_tested(self, tested: ConnectionTested) -> None:
        from tui.core.sync import Abandoned, FetchCancelled, describe_failure
        from tui.screens.dialogs import ErrorDialog

        self.fetcher.testing = None
        report = tested.report
        if isinstance(report.error, FetchCancelled | Abandoned):
            return  # only when quitting
        name = clean(tested.account_name)
        account = self._account(tested.account_id)
        if report.ok:
            line = FetchStatusLine.idle(f"connection test passed: {report.lines[-1]}", name)
            self.notify(
                "\n".join(clean(text) for text in report.lines),
                title=f"{name}: connection test passed",
                markup=False,
                timeout=20,
            )
        else:
            assert report.error is not None
            notice = describe_failure(name, report.error, account, polling=False)
            line = FetchStatusLine.error(name, f"connection test: {notice.status}")
            if report.untrusted_certificate is not None and account is not None:
                request = ConnectionTestRequested(tested.account_id, tested.account_name)
                self._offer_pin(
                    account,
                    report.untrusted_certificate,
                    lambda: self.on_connection_test_requested(request),
                )
            else:
                learnt = "\n".join(clean(text) for text in report.lines)
                self.push_screen(
                    ErrorDialog(
                        f"Connection test of {name} failed",
                        notice.text + (f"\n\nBefore that:\n{learnt}" if learnt else ""),
                    )
                )
        self.fetcher.last_line = line
        self._show_status(line)

    def _offer_pin(
        self, account: Account, certificate: CertificateInfo, then: Callable[[], None]
    ) -> None:
        """The certificate dialog; pinning stores the fingerprint on the account, then `then`."""
        from tui.screens.dialogs import CertificateTrustDialog

        name = clean(account.name)
        account_id = int(account.id)

        def answered(pin: bool | None) -> None:
            if not pin:
                self.notify(
                    f"Certificate refused: {name} cannot be fetched until its server presents a "
                    "trusted certificate or you pin this one.",
                    markup=False,
                    severity="warning",
                )
                return
            Account.update(pinned_fingerprint=certificate.sha256).where(
                Account.id == account_id
            ).execute()
            self.notify(f"Pinned the certificate for {name}; trying again…", markup=False)
            then()

        dialog = CertificateTrustDialog(
            certificate, host=account.incoming_host, port=account.incoming_port
        )
        self.push_screen(dialog, answered)

    def _account(self, account_id: int) -> Account | None:
        try:
            return self.services.accounts.get_by_id(account_id)
        except AccountError:
            return None

    def _fetch_done(self, account_id: int, *, new_mail: bool) -> None:
        """A fetch ended: the list shows the stored outcome, a browser of that mailbox reloads."""
        from tui.screens.message_browser import MessageBrowserScreen

        self._show_fetching(account_id, None)
        self.post_message(MailboxesChanged())
        browsers = [s for s in self.screen_stack if isinstance(s, MessageBrowserScreen)]
        for browser in browsers:
            if new_mail and browser.account_id == account_id:
                browser.reload()

    def _show_status(self, line: FetchStatusLine | None) -> None:
        for screen in self.screen_stack:
            for bar in screen.query(FetchStatus):
                bar.show(line)

    def _show_fetching(self, account_id: int, text: str | None) -> None:
        for screen in self.screen_stack:
            for table in screen.query(MailboxTable):
                table.show_fetching(account_id, text)
