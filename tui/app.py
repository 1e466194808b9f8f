"""PoptuiApp, built by `make_app` from injected dependencies; `run_app` runs it for `poptui`.

Tests call `make_app` with a temporary database, an in-memory secret store, a tester function
and a fixed clock; `run_app` passes the keyring, the POP3 engine and the real clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ScreenStackError
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen

from tui.core.secrets import KeyringHealth, UnavailableStore
from tui.core.secrets.opening import OPENING_ADVICE, SecretStoreConfig
from tui.core.sharing.rules import SharingService
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import DatabaseError, open_database
from tui.core.text import clean
from tui.fetch_slots import FetchingApp
from tui.fetch_worker import FetchSettings
from tui.messages import (
    MailboxesChanged,
    MessagesRequested,
    PasswordEditorRequested,
    SharingEditorRequested,
)
from tui.screens import ready
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
from tui.widgets.footer import Footer

if TYPE_CHECKING:
    from rich.console import RenderableType

    from tui.screens.message_browser import MessageBrowserScreen

WARM_MODULES = (
    "tui.screens.account_form",
    "tui.screens.password_editor",
    "tui.screens.message_browser",
)
"""Screens imported once the first frame is drawn, one per idle moment, so that start-up does
not pay for them and `a` / `o` do not either (the others are imported when first pushed)."""


BACKGROUND_AFTER_SECONDS = 0.1
"""The background work starts this long after the first frame, so that the footer's keys (built
just after it) are not slowed down by the imports and threads it starts."""

PREPARE_SECONDS = 1.0
"""How often the app checks that the screens composed ahead still fit (the highlighted
mailbox may have changed) while the mailbox list is shown; it prepares them only after this
long without a key."""


class PoptuiApp(FetchingApp):
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
        super().__init__(services, fetching)
        self.store_setup = store_setup or SecretStoreConfig(owner=services.accounts.owner)
        """How the secret store is opened and chosen (the probe, the encrypted file offered)."""
        self._open_store = open_store
        self._garbage_waiting = True
        """A screen was closed (or start-up left garbage) since the last idle collection."""

    @on(events.Ready)
    def _after_first_frame(self) -> None:
        """The first frame is drawn: its footer builds its keys (tui.widgets.footer), then the
        work that is not on the screen starts (`_start_background_work`)."""
        for footer in self.screen.query(Footer):
            footer.build_now()
        self.set_timer(BACKGROUND_AFTER_SECONDS, self._start_background_work)

    def _start_background_work(self) -> None:
        """Start the work that is not on the first screen, in threads that would otherwise
        have competed with it (the password store's key derivation, the search index), then
        warm up the screens most often opened."""
        if self._exit or not self.is_running:
            return  # a short session (a test) ended within BACKGROUND_AFTER_SECONDS
        if self._open_store:
            # With no store given, open the configured one in a worker: the app runs at once
            # even when the keyring hangs or is missing (over SSH), and says what to do then.
            open_store_at_start(self, self.services, self.store_setup)
        self.index_message_bodies()
        self._warm_screens()

    def get_default_screen(self) -> Screen[None]:
        return MailboxListScreen(self.services)

    def _warm_screens(self) -> None:
        """After the first frame: import the screens most often opened, one per idle moment
        (a key pressed meanwhile waits at most one import, and type-ahead keeps it)."""
        if self._exit or not self.is_running:
            return
        waiting = [name for name in WARM_MODULES if name not in sys.modules]
        if waiting:
            import_module(waiting[0])
            self.call_later(self._warm_screens)
        else:
            self.screen_change_signal.subscribe(self, self._screen_switched)
            self.set_interval(PREPARE_SECONDS, self._prepare_screens)

    def _screen_switched(self, screen: Screen[object]) -> None:
        if isinstance(screen, MailboxListScreen):
            self._garbage_waiting = True

    def _prepare_screens(self) -> None:
        """While the mailbox list is shown: compose the add form and the highlighted
        mailbox's password editor and message browser ahead, so that `a`, `p` and `o` only
        push them (tui.screens.ready). One screen per call; the next call follows in the next
        idle moment."""
        from tui.screens.account_form import AccountFormScreen
        from tui.screens.message_browser import MessageBrowserScreen
        from tui.screens.password_editor import PasswordEditorScreen

        if self._exit or not self.is_running:
            return  # quitting
        try:
            home = self.screen
        except ScreenStackError:  # shut down without exit() (a test's end): the stack is gone
            return
        if not isinstance(home, MailboxListScreen):
            return  # another screen is in use
        if time.monotonic() - self.last_key_at < PREPARE_SECONDS:
            return  # keys are coming: work on them first, prepare in the next pause
        if self._garbage_waiting:
            # Back on the list: the closed screen's widgets are garbage in reference cycles.
            # Collected now, while idle; else a full collection (~100 ms here) fell in the
            # middle of typing in the next screen opened.
            self._garbage_waiting = False
            gc.collect()
            self.call_later(self._prepare_screens)
            return
        if ready.prepared(self, ready.ADD_FORM) is None:
            ready.prepare(self, ready.ADD_FORM, AccountFormScreen(self.services))
            self.call_later(self._prepare_screens)
            return
        try:
            row = home.table.highlighted
        except NoMatches:  # the list is being taken down (quitting)
            return
        if row is None:
            return
        editor = ready.prepared(self, ready.PASSWORD_EDITOR)
        if not (isinstance(editor, PasswordEditorScreen) and editor.account_id == row.account_id):
            account = self._account(row.account_id)
            if account is not None:
                editor = PasswordEditorScreen(self.services, account, store_setup=self.store_setup)
                ready.prepare(self, ready.PASSWORD_EDITOR, editor)
                self.call_later(self._prepare_screens)
            return
        browser = ready.prepared(self, ready.MESSAGES)
        if not (isinstance(browser, MessageBrowserScreen) and browser.requested == row.account_id):
            ready.prepare(self, ready.MESSAGES, self._message_browser(row.account_id))

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

        editor = ready.take(
            self, ready.PASSWORD_EDITOR, PasswordEditorScreen, lambda ahead: ahead.fits(account)
        )
        self.push_screen(
            editor or PasswordEditorScreen(self.services, account, store_setup=self.store_setup)
        )

    def on_messages_requested(self, request: MessagesRequested) -> None:
        from tui.screens.message_browser import MessageBrowserScreen

        browser = ready.take(
            self,
            ready.MESSAGES,
            MessageBrowserScreen,
            lambda ahead: ahead.requested == request.account_id,
        )
        if browser is None:
            browser = self._message_browser(request.account_id)
        elif browser.is_mounted:
            # Composed ahead: read the mailbox as it is now (a fetch, perhaps by another
            # process, may have brought mail since). Not yet mounted, it reads it as it mounts.
            browser.open_mailbox(request.account_id)
        self.push_screen(browser)

    def _message_browser(self, account_id: int) -> MessageBrowserScreen:
        from tui.screens.message_browser import MessageBrowserScreen

        return MessageBrowserScreen(
            account_id, accounts=self.services.accounts, sharing=self.services.sharing
        )

    def on_sharing_editor_requested(self, request: SharingEditorRequested) -> None:
        from tui.screens.sharing import SharingPermissionScreen

        self.push_screen(SharingPermissionScreen(self.services, request.account_id))

    def on_mailboxes_changed(self, _: MailboxesChanged) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MailboxListScreen):
                screen.reload()

    # Fetching (the f and t keys, the poll) is `FetchingApp`'s, in tui.fetch_slots.

    async def action_quit(self) -> None:
        """Leave at once: a running fetch is stopped between messages or by closing its socket
        (no QUIT, so nothing is deleted on the server); every message stored so far stays."""
        self.fetcher.stop()
        self.exit()

    def exit(
        self, result: Any = None, return_code: int = 0, message: RenderableType | None = None
    ) -> None:
        """`App.exit`, once no screen is being composed ahead: Textual stops starting widgets
        when its message loop ends, and a screen composing then was left half mounted (its
        widgets' mount handlers raised on the way out)."""
        if not ready.composing(self):
            super().exit(result, return_code, message)
            return

        async def when_settled() -> None:
            await ready.settle(self)
            super(PoptuiApp, self).exit(result, return_code, message)

        self._exiting_later = asyncio.get_running_loop().create_task(when_settled())

    async def _shutdown(self) -> None:
        # Textual's own shut-down (private; textual is pinned in pyproject.toml): a screen
        # being composed ahead finishes first, else closing its widgets in no set order left
        # some mounted without their children and their mount handlers raised on the way out.
        await ready.settle(self)
        await super()._shutdown()


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
