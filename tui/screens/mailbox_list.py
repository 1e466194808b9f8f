"""The home screen: every mailbox, which one is active, how its last fetch went, and the verbs.

Verbs with their own screen elsewhere (fetch, test, password, messages, sharing) are posted as
request messages from `tui.messages`; the app decides what answers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker, WorkerState

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.setup.doctor import PERMISSIONS_FIX, loose_private_files
from tui.core.storage.accounts import AccountError
from tui.core.storage.files import LoosePermission, make_private
from tui.core.storage.models import database_proxy
from tui.core.text import clean
from tui.messages import (
    ConnectionTestRequested,
    FetchRequested,
    MailboxRequest,
    MessagesRequested,
    PasswordEditorRequested,
    SharingEditorRequested,
)
from tui.screens.dialogs import ConfirmDeleteDialog, DeleteChoice, ErrorDialog
from tui.screens.mailbox_palette import mailbox_palette
from tui.screens.secret_store_setup import SecretStoreChanged
from tui.secret_store_start import LockedFileStore, ask_passphrase
from tui.services import Services
from tui.widgets.delivery_targets import with_delivery
from tui.widgets.fetch_status import FetchStatus
from tui.widgets.footer import Footer
from tui.widgets.mailbox_detail import active_summary, mailbox_detail
from tui.widgets.mailbox_table import MailboxRow, MailboxTable, load_rows

if TYPE_CHECKING:
    from tui.screens.account_form import FormOutcome

LOCKED_BANNER = "⚠ Passwords are locked, nothing is fetched: u unlocks."
EMPTY_STATE = (
    "No mailboxes yet — press a to add one, or run `poptui account add` from a shell.\n\n"
    "Several mailboxes can be set up; only the active one is fetched."
)
RELOAD_SECONDS = 30.0
"""Reload from the database this often, so fetches run by cron or another session show up."""
REMOVE_GROUP = "remove-mailbox"
NARROW_FOOTER_WIDTH = 80
"""Below this the footer drops its spacing and the ^p hint (F1 help lists the palette), so the
daily keys (add, switch, fetch, open, help) stay on screen."""


@dataclass
class MailboxRemoved(Message, bubble=False):
    """Posted by the removal worker once the account and its passwords are gone."""

    name: str
    kept_mail: bool


class MailboxListScreen(Screen[None]):
    """Every mailbox of the current user; the active one is marked, and one key switches it."""

    SUB_TITLE = "Mailboxes"

    DEFAULT_CSS = """
    MailboxListScreen #mailboxes {
        height: 1fr;
    }
    MailboxListScreen #lock-banner {
        display: none;
        height: auto;
        padding: 0 1;
        background: $warning 20%;
        color: $text-warning;
    }
    MailboxListScreen #empty-state {
        height: 1fr;
        padding: 2 4;
        color: $text-muted;
        content-align: center middle;
        text-align: center;
    }
    MailboxListScreen #mailbox-detail {
        height: auto;
        max-height: 7;
        padding: 0 1;
        border-top: solid $panel;
    }
    """

    COMMANDS = {MailboxCommands}
    BINDINGS = [
        Binding("a", "add_mailbox", "Add", id="add-mailbox", tooltip="Set up a new mailbox"),
        Binding(
            "e",
            "edit_mailbox",
            "Edit",
            id="edit-mailbox",
            tooltip="Change the highlighted mailbox's settings",
        ),
        Binding(
            "d",
            "delete_mailbox",
            "Delete",
            id="delete-mailbox",
            tooltip="Remove the highlighted mailbox, keeping or dropping its fetched mail",
        ),
        Binding(
            "s,space",
            "switch_active",
            "Make active",
            id="switch-active",
            tooltip="Make the highlighted mailbox the one active mailbox",
        ),
        Binding(
            "f",
            "fetch_now",
            "Fetch",
            id="fetch-now",
            tooltip="Fetch the highlighted mailbox now",
        ),
        Binding(
            "o",
            "open_messages",
            "Open",
            id="open-messages",
            tooltip="Browse the mail fetched from the highlighted mailbox (also Enter)",
        ),
        Binding(
            "t",
            "test_connection",
            "Test",
            id="test-connection",
            tooltip="Log in to the incoming server and report; nothing is fetched",
            show=False,
        ),
        Binding(
            "p",
            "edit_password",
            "Password",
            id="edit-password",
            tooltip="Change the incoming or outgoing password",
            show=False,
        ),
        Binding(
            "x",
            "edit_sharing",
            "Sharing",
            id="edit-sharing",
            tooltip="Show or change who may see this mailbox's mail",
            show=False,
        ),
        Binding(
            "u",
            "unlock_passwords",
            "Unlock",
            id="unlock-passwords",
            tooltip="Enter the password file's passphrase (shown while it is locked)",
        ),
        Binding("q", "app.quit", "Quit", id="quit", tooltip="Leave poptui", show=False),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self._services = services
        self._cursor_placed = False
        """False until the first load with rows has put the cursor on the active mailbox."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="mailboxes"):
            yield Static(id="lock-banner")
            yield Static(id="active-summary", classes="summary-line")
            yield MailboxTable(id="mailbox-table")
            yield Static(EMPTY_STATE, id="empty-state", markup=False)
            yield Static(id="mailbox-detail")
        yield FetchStatus(id="fetch-status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_lock()
        self._fit_footer(self.app.size.width)
        self.reload()
        self.set_interval(RELOAD_SECONDS, self.reload)
        self.warn_about_loose_permissions()

    loose_files: Sequence[LoosePermission] = ()
    """Private files others may read, found at start (the palette offers to fix them)."""

    def warn_about_loose_permissions(self) -> None:
        """Say at start when the database or password file is readable by others, and how to fix it
        (the palette's "Fix file permissions", or the command)."""
        self.loose_files = loose_private_files(database_proxy.obj)
        if self.loose_files:
            found = "; ".join(item.describe() for item in self.loose_files)
            self.notify(
                f'Other users may read your mail: {found}. Fix: ctrl+p "Fix file permissions", '
                f"or run: {PERMISSIONS_FIX}",
                title="File permissions",
                severity="warning",
                timeout=30,
                markup=False,
            )

    def action_fix_permissions(self) -> None:
        """Make the loose files private (0600, folder 0700) and say how it went."""
        failures = make_private(self.loose_files)
        if failures:
            self.notify("Could not fix: " + "; ".join(failures), severity="error", markup=False)
        else:
            self.notify("poptui's files are private now.", markup=False)
        self.loose_files = loose_private_files(database_proxy.obj)

    @property
    def passwords_locked(self) -> bool:
        return isinstance(self._services.secrets, LockedFileStore)

    def on_secret_store_changed(self, _: SecretStoreChanged) -> None:
        self._show_lock()
        self.refresh_bindings()

    def _show_lock(self) -> None:
        """While the password file is locked nothing can be fetched: say so, and how to unlock."""
        banner = self.query_one("#lock-banner", Static)
        banner.update(LOCKED_BANNER)
        banner.display = self.passwords_locked

    def action_unlock_passwords(self) -> None:
        store = self._services.secrets
        if isinstance(store, LockedFileStore):
            ask_passphrase(self.app, self._services, store.path)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unlock_passwords":
            return self.passwords_locked
        return super().check_action(action, parameters)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_footer(event.size.width)

    def _fit_footer(self, width: int) -> None:
        narrow = width < NARROW_FOOTER_WIDTH
        footer = self.query_one(Footer)
        footer.compact = narrow
        footer.show_command_palette = not narrow

    @property
    def table(self) -> MailboxTable:
        return self.query_one(MailboxTable)

    @property
    def rows(self) -> Sequence[MailboxRow]:
        return self.table.rows_shown

    def reload(self, select_account: int | None = None) -> None:
        """Read the accounts again and redraw, keeping the cursor on the same mailbox."""
        rows = load_rows(self._services.accounts)
        table = self.table
        table.show_rows(rows, self._services.clock())
        if select_account is None and not self._cursor_placed:
            select_account = next((row.account_id for row in rows if row.is_active), None)
        if rows:
            self._cursor_placed = True
        if select_account is not None:
            table.select_account(select_account)
        empty = not rows
        table.display = not empty
        self.query_one("#empty-state").display = empty
        self.query_one("#mailbox-detail").display = not empty
        self._show_active_summary(rows)
        self._show_detail()
        if not empty and self.focused is None:
            table.focus()

    def _show_active_summary(self, rows: Sequence[MailboxRow]) -> None:
        self.query_one("#active-summary", Static).update(active_summary(rows))

    def _show_detail(self) -> None:
        row = self.table.highlighted
        detail = self.query_one("#mailbox-detail", Static)
        if row is None:
            detail.update("")
            return
        detail.update(with_delivery(mailbox_detail(row, self._services.clock()), row.account_id))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open_messages()

    # ------------------------------------------------------------------ verbs

    def _highlighted(self) -> MailboxRow | None:
        row = self.table.highlighted
        if row is None:
            self.notify("No mailbox yet: press a to add one.", severity="warning")
        return row

    def action_add_mailbox(self) -> None:
        # Imported when first opened (the app warms it after the first frame): start-up is
        # the list only.
        from tui.screens import ready
        from tui.screens.account_form import AccountFormScreen

        form = ready.take(self.app, ready.ADD_FORM, AccountFormScreen)
        self.app.push_screen(form or AccountFormScreen(self._services), self._form_closed)

    def action_import_setups(self) -> None:
        from tui.screens.import_screen import ImportScreen

        self.app.push_screen(ImportScreen(self._services), lambda _: self.reload())

    def action_edit_mailbox(self) -> None:
        row = self._highlighted()
        if row is None:
            return
        try:
            account = self._services.accounts.get_by_id(row.account_id)
        except AccountError as error:
            self._gone(error)
            return
        from tui.screens.account_form import AccountFormScreen

        self.app.push_screen(AccountFormScreen(self._services, account=account), self._form_closed)

    def _form_closed(self, outcome: FormOutcome | None) -> None:
        if outcome is None:
            return
        self.reload(select_account=outcome.account_id)
        verb = "Added" if outcome.created else "Saved"
        active = next((r for r in self.rows if r.account_id == outcome.account_id), None)
        now_active = " It is the active mailbox." if active and active.is_active else ""
        self.notify(
            f"{verb} {clean(outcome.name)}. {clean(outcome.message)}{now_active}",
            markup=False,
            severity="information" if outcome.tested else "warning",
        )
        if outcome.password_problem:
            self.app.push_screen(ErrorDialog("Password not stored", outcome.password_problem))

    def action_switch_active(self) -> None:
        row = self._highlighted()
        if row is not None:
            self.switch_active_to(row.account_id)

    def switch_active_to(self, account_id: int) -> None:
        """Make `account_id` the one active mailbox (also used by the command palette)."""
        store = self._services.accounts
        try:
            account = store.get_by_id(account_id)
            if account.is_active:
                self.notify(f"{clean(account.name)} is already the active mailbox.", markup=False)
                return
            account = store.activate(account.name)
        except AccountError as error:
            self._gone(error)
            return
        self.reload(select_account=account_id)
        message = f"{clean(account.name)} is now the active mailbox."
        if account.disabled:
            reason = clean(account.disabled_reason) or "no reason recorded"
            message += f" It is disabled ({reason}): fix it with e or p before it can fetch."
        self.notify(
            message, markup=False, severity="warning" if account.disabled else "information"
        )

    def action_delete_mailbox(self) -> None:
        row = self._highlighted()
        if row is None:
            return
        dialog = ConfirmDeleteDialog(
            row.name, row.email, row.message_count, is_active=row.is_active
        )
        self.app.push_screen(dialog, partial(self._delete_answered, row))

    def _delete_answered(self, row: MailboxRow, choice: DeleteChoice | None) -> None:
        if choice is not None:
            self._remove(row, choice)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REMOVE_GROUP)
    def _remove(self, row: MailboxRow, choice: DeleteChoice) -> None:
        """In a thread: the secret store may block (a locked keyring), the database may wait."""
        store = self._services.accounts
        keep_mail = choice is DeleteChoice.KEEP_MAIL
        with database_proxy.connection_context():
            account = store.get_by_id(row.account_id)
            store.remove(account.name, keep_mail=keep_mail, secrets=self._services.secrets)
        self.post_message(MailboxRemoved(row.name, kept_mail=keep_mail))

    @on(MailboxRemoved)
    def _removed(self, removed: MailboxRemoved) -> None:
        self.reload()
        if removed.kept_mail:
            self.notify(f"Removed {clean(removed.name)}; its fetched mail is kept.", markup=False)
        else:
            self.notify(
                f"Removed {clean(removed.name)} and the mail fetched from it.", markup=False
            )

    @on(Worker.StateChanged)
    def _remove_failed(self, event: Worker.StateChanged) -> None:
        """The one place a failed removal is put into words (the list shows what is left)."""
        if event.worker.group == REMOVE_GROUP and event.state is WorkerState.ERROR:
            self.reload()
            self.app.push_screen(
                ErrorDialog("Could not remove the mailbox", str(event.worker.error))
            )

    def _gone(self, error: Exception) -> None:
        self.reload()
        self.notify(
            f"{clean(str(error))} (it was changed elsewhere).", markup=False, severity="error"
        )

    def _request(self, message_type: type[MailboxRequest]) -> None:
        row = self._highlighted()
        if row is not None:
            self.post_message(message_type(row.account_id, row.name))

    def action_fetch_now(self) -> None:
        self._request(FetchRequested)

    def action_test_connection(self) -> None:
        self._request(ConnectionTestRequested)

    def action_edit_password(self) -> None:
        self._request(PasswordEditorRequested)

    def action_open_messages(self) -> None:
        self._request(MessagesRequested)

    def action_edit_sharing(self) -> None:
        self._request(SharingEditorRequested)

    # ------------------------------------------------------------------ command palette

    def palette_commands(self) -> list[PaletteCommand]:
        """The verbs of this screen for the command palette, and one switch per mailbox."""
        return mailbox_palette(self)
