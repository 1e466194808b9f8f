"""PoptuiApp, built by `make_app` from injected dependencies; `run_app` runs it for `poptui`.

Tests call `make_app` with a temporary database, an in-memory secret store, a tester function
and a fixed clock; `run_app` passes the keyring, the POP3 engine and the real clock.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from textual import events, on, work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from tui.core.net.pop3 import CertificateInfo, UntrustedCertificate
from tui.core.secrets import KeyringHealth, UnavailableStore
from tui.core.secrets.opening import OPENING_ADVICE, SecretStoreConfig
from tui.core.sharing.rules import SharingService
from tui.core.storage import queries as message_query
from tui.core.storage.accounts import AccountError, AccountStore
from tui.core.storage.db import DatabaseError, open_database
from tui.core.storage.models import Account, database_proxy
from tui.core.sync import Abandoned, FetchCancelled, describe_failure, describe_success
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
    MessagesRequested,
    PasswordEditorRequested,
    SharingEditorRequested,
)
from tui.screens.dialogs import CertificateTrustDialog, ErrorDialog
from tui.screens.mailbox_list import MailboxListScreen
from tui.secret_store_start import open_store_at_start
from tui.services import (
    Clock,
    IncomingTester,
    OutgoingTester,
    SecretStore,
    Services,
    pop3_tester,
    smtp_tester,
    system_clock,
)
from tui.typeahead import TypeAheadApp
from tui.widgets.fetch_status import FetchStatus, FetchStatusLine
from tui.widgets.mailbox_table import MailboxTable

WARM_MODULES = (
    "tui.screens.account_form",
    "tui.screens.password_editor",
    "tui.screens.message_browser",
)
"""Screens imported once the first frame is drawn, one per idle moment, so that start-up does
not pay for them and `a` / `o` do not either (the others are imported when first pushed)."""


class PoptuiApp(TypeAheadApp[None]):
    """The terminal app: the mailbox list first, everything else pushed on top of it."""

    CSS_PATH = "app.tcss"
    TITLE = "poptui"
    BINDINGS = [
        Binding(
            "f1,question_mark",
            "help",
            "Help",
            id="help",
            tooltip="List every key",
            key_display="F1",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="quit-app",
            tooltip="Leave poptui (q on the mailbox list)",
            show=False,
            priority=True,
        ),
    ]

    def __init__(
        self,
        services: Services,
        *,
        fetching: FetchSettings | None = None,
        store_setup: SecretStoreConfig | None = None,
        open_store: bool = False,
    ) -> None:
        super().__init__()
        self.services = services
        self.fetcher = FetchCoordinator(services, fetching or FetchSettings())
        self.store_setup = store_setup or SecretStoreConfig(owner=services.accounts.owner)
        """How the secret store is opened and chosen (the probe, the encrypted file offered)."""
        self._open_store = open_store
        self._joined: set[int] = set()
        """Mailboxes whose running fetch the user asked for too (f): announced as manual."""

    @on(events.Mount)
    def _open_secret_store(self) -> None:
        """With no store given, open the configured one in a worker: the app starts at once
        even when the keyring hangs or is missing (over SSH), and says what to do then."""
        if self._open_store:
            open_store_at_start(self, self.services, self.store_setup)

    def get_default_screen(self) -> Screen[None]:
        return MailboxListScreen(self.services)

    @on(events.Ready)
    def _warm_screens(self) -> None:
        """After the first frame: import the screens most often opened, one per idle moment
        (a key pressed meanwhile waits at most one import, and type-ahead keeps it)."""
        waiting = [name for name in WARM_MODULES if name not in sys.modules]
        if waiting:
            import_module(waiting[0])
            self.call_later(self._warm_screens)

    def action_help(self) -> None:
        # Imported here: the help screen lists every screen's keys, and those screens are
        # otherwise imported only when first opened (start-up stays short).
        from tui.screens.account_form import AccountFormScreen
        from tui.screens.help import HelpScreen
        from tui.screens.message_browser import MessageBrowserScreen
        from tui.screens.message_reader import MessageReaderScreen
        from tui.screens.password_editor import PasswordEditorScreen
        from tui.screens.sharing import SharingPermissionScreen
        from tui.screens.sharing_admin import SharingPolicyEditorScreen
        from tui.widgets.message_list import MessageList

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(
                [
                    ("Mailbox list", MailboxListScreen.BINDINGS),
                    ("Add/edit form", AccountFormScreen.BINDINGS),
                    ("Messages", [*MessageBrowserScreen.BINDINGS, *MessageList.BINDINGS]),
                    ("Reader", MessageReaderScreen.BINDINGS),
                    ("Passwords", PasswordEditorScreen.BINDINGS),
                    ("Sharing", SharingPermissionScreen.BINDINGS),
                    ("Sharing policies", SharingPolicyEditorScreen.BINDINGS),
                    ("Everywhere", self.BINDINGS),
                ]
            )
        )

    # ------------------------------------------------------------------ requests from screens
    # The mailbox list posts a request per verb (tui.messages); each is answered here by a
    # screen or a worker, so the list needs no knowledge of them.

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

    def on_password_editor_requested(self, request: PasswordEditorRequested) -> None:
        """p: change the highlighted mailbox's incoming or outgoing password."""
        account = self._account(request.account_id)
        if account is None:
            self.notify(
                f"{clean(request.account_name)} was removed elsewhere.",
                markup=False,
                severity="warning",
            )
            return
        from tui.screens.password_editor import PasswordEditorScreen

        self.push_screen(PasswordEditorScreen(self.services, account, store_setup=self.store_setup))

    def on_messages_requested(self, request: MessagesRequested) -> None:
        from tui.screens.message_browser import MessageBrowserScreen

        self.push_screen(
            MessageBrowserScreen(
                request.account_id,
                accounts=self.services.accounts,
                sharing=self.services.sharing,
            )
        )

    def on_sharing_editor_requested(self, request: SharingEditorRequested) -> None:
        from tui.screens.sharing import SharingPermissionScreen

        self.push_screen(SharingPermissionScreen(self.services, request.account_id))

    def on_mailboxes_changed(self, _: MailboxesChanged) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MailboxListScreen):
                screen.reload()

    # ------------------------------------------------------------------ fetching
    # Fetches and connection tests run in thread workers (tui.fetch_worker), which post
    # coalescing FetchProgress messages and then FetchFinished / FetchFailed / ConnectionTested;
    # their handlers put the words from tui.core.sync.outcome on screen.

    @work(thread=True, exclusive=True, exit_on_error=False, group="body-index")
    def index_message_bodies(self) -> None:
        """Extract body text for search in the background, newest first; stops on quit."""
        worker = get_current_worker()
        with database_proxy.connection_context():
            message_query.index_all_bodies(lambda: worker.is_cancelled)

    def on_mount(self) -> None:
        self.index_message_bodies()
        if self.fetcher.settings.poll:
            self.set_interval(self.fetcher.settings.check_seconds, self.poll_active_mailbox)
            self.call_after_refresh(self.poll_active_mailbox)

    async def action_quit(self) -> None:
        """Leave at once: a running fetch is stopped between messages or by closing its socket
        (no QUIT, so nothing is deleted on the server); every message stored so far stays."""
        self.fetcher.stop()
        self.exit()

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


def make_app(
    database_url: str | None,
    *,
    secrets: SecretStore | Callable[[], SecretStore] | None = None,
    tester: IncomingTester = pop3_tester,
    outgoing_tester: OutgoingTester = smtp_tester,
    clock: Clock = system_clock,
    owner: str | None = None,
    fetching: FetchSettings | None = None,
    keyring_probe: Callable[[], KeyringHealth] | None = None,
    encrypted_file: Path | None = None,
) -> PoptuiApp:
    """Open the database (migrating it) and build the app around the given dependencies.

    `secrets` may be a function opening the store: it is called once the database is open,
    because the user's choice of store is saved there. None (what `poptui` does): the app
    starts at once and opens the user's chosen store in a worker, asking the encrypted file's
    passphrase or offering the other stores as needed. `keyring_probe` (default
    `probe_keyring`) and `encrypted_file` (the file offered) are injected by tests.
    """
    open_database(database_url)
    accounts = AccountStore(owner)
    setup = SecretStoreConfig(owner=accounts.owner, encrypted_file=encrypted_file)
    if keyring_probe is not None:
        setup = dataclasses.replace(setup, probe=keyring_probe)
    if secrets is None:
        store: SecretStore = UnavailableStore(OPENING_ADVICE)
    else:
        store = secrets if isinstance(secrets, SecretStore) else secrets()
    services = Services(
        accounts=accounts,
        secrets=store,
        tester=tester,
        clock=clock,
        sharing=SharingService(actor=accounts.owner),
        outgoing_tester=outgoing_tester,
    )
    return PoptuiApp(services, fetching=fetching, store_setup=setup, open_store=secrets is None)


def run_app(database_url: str | None) -> int:
    """`poptui` without a subcommand: the app with the configured secret store. Exit status."""
    try:
        # The secret store is opened once the app runs (a keyring probe can hang over SSH).
        app = make_app(database_url, fetching=FetchSettings(poll=True))
    except DatabaseError as error:
        sys.stderr.write(f"poptui: {error}\n")
        return 1
    app.run()
    # Quitting must take under a second. Python's final garbage collections over the many
    # objects Textual leaves behind took most of that here (0.4-0.7 s); frozen objects are
    # skipped by them. Everything that matters is already stored or closed.
    gc.freeze()
    return app.return_code or 0
