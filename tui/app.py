"""PoptuiApp, built by `make_app` from injected dependencies; `run_app` runs it for `poptui`.

Tests call `make_app` with a temporary database, an in-memory secret store, a tester function
and a fixed clock; `run_app` passes the keyring, the POP3 engine and the real clock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from tui.core.accounts import AccountStore
from tui.core.db import open_database
from tui.messages import (
    ConnectionTestRequested,
    FetchRequested,
    MailboxesChanged,
    MailboxRequest,
    MessagesRequested,
    PasswordEditorRequested,
    SharingEditorRequested,
)
from tui.screens.account_form import AccountFormScreen
from tui.screens.help import HelpScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.services import (
    Clock,
    IncomingTester,
    SecretStore,
    Services,
    pop3_tester,
    system_clock,
)
from tui.widgets.safe_text import clean


class PoptuiApp(App[None]):
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

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def get_default_screen(self) -> Screen[None]:
        return MailboxListScreen(self.services)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(
                [
                    ("Mailbox list", MailboxListScreen.BINDINGS),
                    ("Add/edit form", AccountFormScreen.BINDINGS),
                    ("Everywhere", self.BINDINGS),
                ]
            )
        )

    # ------------------------------------------------------------------ requests from screens
    # Each verb below has its own screen (or worker) to come; until it lands the user is told
    # plainly instead of a key that silently does nothing. Plug a screen in by replacing the
    # handler's body.

    def _not_available_yet(self, what: str, request: MailboxRequest) -> None:
        self.notify(
            f"{what} for {clean(request.account_name)} is not available yet in this version.",
            markup=False,
            severity="warning",
        )

    def on_fetch_requested(self, request: FetchRequested) -> None:
        self._not_available_yet("Fetching from the app", request)

    def on_connection_test_requested(self, request: ConnectionTestRequested) -> None:
        self._not_available_yet("Testing the connection", request)

    def on_password_editor_requested(self, request: PasswordEditorRequested) -> None:
        self._not_available_yet("The password editor", request)

    def on_messages_requested(self, request: MessagesRequested) -> None:
        self._not_available_yet("Browsing messages", request)

    def on_sharing_editor_requested(self, request: SharingEditorRequested) -> None:
        self._not_available_yet("Sharing settings", request)

    def on_mailboxes_changed(self, _: MailboxesChanged) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, MailboxListScreen):
                screen.reload()


def make_app(
    database_url: str | None,
    *,
    secrets: SecretStore | Callable[[], SecretStore],
    tester: IncomingTester = pop3_tester,
    clock: Clock = system_clock,
    owner: str | None = None,
) -> PoptuiApp:
    """Open the database (migrating it) and build the app around the given dependencies.

    `secrets` may be a function opening the store: it is called once the database is open,
    because the user's choice of store is saved there.
    """
    open_database(database_url)
    store = secrets if isinstance(secrets, SecretStore) else secrets()
    services = Services(accounts=AccountStore(owner), secrets=store, tester=tester, clock=clock)
    return PoptuiApp(services)


def run_app(database_url: str | None) -> int:
    """`poptui` without a subcommand: the app with the configured secret store. Exit status."""
    from tui.core.db import DatabaseError
    from tui.core.secret_setup import open_configured_store
    from tui.core.secrets import SecretStoreError

    try:
        app = make_app(database_url, secrets=open_configured_store)
    except (DatabaseError, SecretStoreError) as error:
        sys.stderr.write(f"poptui: {error}\n")
        return 1
    app.run()
    return app.return_code or 0
