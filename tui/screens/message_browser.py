"""Browsing the mail fetched from one mailbox: a virtual list newest first, search, delete here.

The list is `tui.widgets.message_list.MessageList`, a line-API list over keyset pages: it holds
a few pages of rows whatever the mailbox size (see its module docstring for why not a
DataTable). Search replaces the list with its results until Escape; `m` switches mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Header, Input, Static
from textual.worker import get_current_worker

from tui.core.settings import DeletePolicy
from tui.core.sharing.rules import SharingService
from tui.core.storage import queries as message_query
from tui.core.storage.accounts import AccountNotFound, AccountStore
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.models import Account, database_proxy
from tui.core.storage.queries import MessageRow
from tui.core.text import clean
from tui.screens.escape_keys import back_key
from tui.screens.export_dialog import ExportDialog
from tui.screens.message_dialogs import ConfirmDeleteHereDialog, MailboxPickerDialog
from tui.screens.message_reader import MessageReaderScreen
from tui.screens.ready import PreparedScreen
from tui.widgets.footer import Footer
from tui.widgets.message_list import MessageList
from tui.widgets.message_rows import PAGE_SIZE, EmptyRows, MailboxRows, ResultRows

SEARCH_GROUP = "message-search"
NO_MAILBOX = "No mailbox chosen: press m to pick one."


@dataclass
class SearchFinished(Message):
    """The search worker's results, for the mailbox and words it was asked about."""

    account_id: int
    text: str
    rows: list[MessageRow]
    pending: int
    """Messages whose bodies are not indexed yet (searched by subject and sender only)."""


@dataclass
class SearchFailed(Message):
    """The search could not run (a database error)."""

    error: Exception


class MessageBrowserScreen(PreparedScreen[None]):
    """The messages of one mailbox (the active one unless told), newest first.

    The app may compose it ahead (tui.screens.ready); `o` then opens the mailbox again
    (`open_mailbox`, the same queries as a new browser's) so it shows the mail as it is now.
    """

    DEFAULT_CSS = """
    MessageBrowserScreen #browser {
        height: 1fr;
    }
    MessageBrowserScreen #message-search {
        display: none;
        margin: 0 1;
    }
    MessageBrowserScreen #message-search.-shown {
        display: block;
    }
    MessageBrowserScreen #browser-status {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding(
            "slash",
            "search",
            "Search",
            id="message-search",
            tooltip="Search subject, sender and text of this mailbox's messages",
            key_display="/",
        ),
        Binding(
            "d",
            "delete_here",
            "Delete",
            id="message-delete-here",
            tooltip="Delete the highlighted message here (asks first)",
        ),
        Binding(
            "x",
            "export",
            "Export",
            id="message-export",
            tooltip="Copy the messages shown (the search's, or all) to a Maildir or an mbox file",
        ),
        Binding(
            "m",
            "switch_mailbox",
            "Mailbox",
            id="message-switch-mailbox",
            tooltip="Browse another of your mailboxes",
        ),
        Binding(
            "r",
            "reload",
            "Refresh",
            id="message-reload",
            tooltip="Read the list again (after a fetch)",
            show=False,
        ),
        back_key("message-browser-back", "Clear the search, or go back"),
    ]

    def __init__(
        self,
        account_id: int | None = None,
        *,
        accounts: AccountStore | None = None,
        sharing: SharingService | None = None,
        download_dir: Path | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__()
        self._accounts = accounts or AccountStore()
        self._sharing = sharing or SharingService(self._accounts.owner)
        """Decides what this user sees: the same `view_of` the CLI's `messages list` uses."""
        self._requested = account_id
        """The mailbox asked for (None: the active one)."""
        self._download_dir = download_dir
        self._page_size = page_size
        self.account_id: int | None = None
        self.view: MailboxView | None = None
        """What this user sees of the mailbox shown (`SharingService.view_of`)."""
        self.read_only = False
        """True while showing a mailbox someone else shared with this user."""
        self._delete_policy = DeletePolicy.LEAVE
        self._mailbox_label = ""
        self.search_text = ""
        """The search shown ("" while the whole mailbox is shown)."""
        self._position_before_search = 0
        self._search_note = ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="browser"):
            yield Static(id="browser-summary", classes="summary-line")
            yield Input(
                placeholder="Search subject, sender and text: Enter searches, Esc clears",
                id="message-search",
            )
            yield MessageList(id="message-list")
            yield Static(id="browser-status")
        yield Footer()

    @property
    def requested(self) -> int | None:
        return self._requested

    @property
    def message_list(self) -> MessageList:
        return self.query_one(MessageList)

    @property
    def search_input(self) -> Input:
        return self.query_one("#message-search", Input)

    def on_mount(self) -> None:
        self.open_mailbox(self._requested)
        self.message_list.focus()

    # -------------------------------------------------------------- mailbox

    def open_mailbox(self, account_id: int | None) -> None:
        """Show `account_id`'s messages (the active mailbox for None), newest first."""
        account: Account | None
        try:
            if account_id is None:
                account = self._accounts.active()
            else:
                account = self._accounts.get_by_id(account_id)
        except AccountNotFound:
            account = self._shared_mailbox(account_id)
        self.view = self._sharing.view_of(account) if account is not None else None
        self.read_only = self.view is not None and self.view.read_only
        self._leave_search()
        if account is None or self.view is None:
            self.account_id = None
            self._mailbox_label = ""
            self.sub_title = "Messages"
            self.message_list.show(EmptyRows(NO_MAILBOX))
            self._show_summary()
            return
        self.account_id = int(account.id)
        self._delete_policy = DeletePolicy(account.delete_policy)
        self._mailbox_label = f"{clean(account.name)} <{clean(account.email)}>"
        if self.read_only:
            self._mailbox_label += f" · shared by {clean(account.owner)}, read-only"
        self.sub_title = f"Messages · {clean(account.name)}"
        source = MailboxRows(self.view, page_size=self._page_size)
        source.reload()
        self.message_list.show(source)
        self._show_summary()

    def _shared_mailbox(self, account_id: int | None) -> Account | None:
        """Someone else's mailbox this user may read (its sharing permission allows it)."""
        if account_id is None:
            return None
        for account, _ in self._sharing.visible_accounts():
            if account.id == account_id and account.archived_at is None:
                return account
        return None

    def reload(self) -> None:
        """Read the list again (the app calls this when a fetch brought new mail)."""
        if self.account_id is not None and not self.search_text:
            self.message_list.reload()
            self._show_summary()

    def _show_summary(self) -> None:
        summary = self.query_one("#browser-summary", Static)
        if self.account_id is None:
            summary.update(Content("No mailbox to show.").stylize("$text-warning"))
            return
        total = self.message_list.total
        if self.search_text:
            count = f"{total:,} found for “{clean(self.search_text)}”"
        else:
            count = f"{total:,} message{'s' if total != 1 else ''}"
        summary.update(Content.assemble((self._mailbox_label, "bold"), f"  ·  {count}"))

    @on(MessageList.Highlighted)
    def _highlighted(self, event: MessageList.Highlighted) -> None:
        status = self.query_one("#browser-status", Static)
        if event.total == 0:
            status.update(Content(self._search_note))
            return
        where = f"{event.position + 1:,} of {event.total:,}"
        status.update(Content(f"{where}  {self._search_note}".rstrip()))

    @on(MessageList.Selected)
    def _open(self, event: MessageList.Selected) -> None:
        self.app.push_screen(MessageReaderScreen(event.row.id, download_dir=self._download_dir))

    def action_reload(self) -> None:
        self.reload()

    def action_switch_mailbox(self) -> None:
        accounts = self._accounts.list()
        viewer = self._accounts.owner
        shared = [
            account
            for account, _ in self._sharing.visible_accounts()
            if account.owner != viewer and account.archived_at is None
        ]
        accounts += shared
        if not accounts:
            self.notify("There are no mailboxes yet.", severity="warning")
            return

        def chosen(account_id: int | None) -> None:
            if account_id is not None:
                self.open_mailbox(account_id)
                self.message_list.focus()

        self.app.push_screen(MailboxPickerDialog(accounts, self.account_id, viewer), chosen)

    def action_back(self) -> None:
        if self.search_text or self.search_input.has_class("-shown"):
            self.clear_search()
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    # -------------------------------------------------------------- delete here

    def action_delete_here(self) -> None:
        row = self.message_list.highlighted_row
        if row is None:
            return
        if self.read_only:
            self.notify(
                "This mailbox is shared with you read-only: only its owner deletes mail.",
                severity="warning",
                markup=False,
            )
            return
        deletes_on_server = self._delete_policy is DeletePolicy.WHEN_DELETED_HERE

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._delete(row, deletes_on_server=deletes_on_server)

        self.app.push_screen(
            ConfirmDeleteHereDialog(row, deletes_on_server=deletes_on_server), answered
        )

    def _delete(self, row: MessageRow, *, deletes_on_server: bool) -> None:
        try:
            message_query.mark_deleted_here([row.id])
        except Exception as error:
            self.notify(
                f"Could not delete the message: {clean(str(error))}",
                severity="error",
                markup=False,
            )
            return
        source = self.message_list.source
        if isinstance(source, ResultRows):
            source.discard({row.id})
        self.message_list.reload()
        self._show_summary()
        self.notify(
            "Deleted here; the server's copy goes at the next fetch."
            if deletes_on_server
            else "Deleted here.",
            markup=False,
        )

    def action_export(self) -> None:
        if self.view is not None:
            self.app.push_screen(ExportDialog(self.view, self.search_text, self._mailbox_label))

    # -------------------------------------------------------------- search

    def action_search(self) -> None:
        if self.account_id is None:
            self.notify(NO_MAILBOX, severity="warning", markup=False)
            return
        search = self.search_input
        search.add_class("-shown")
        search.focus()

    @on(Input.Submitted, "#message-search")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.clear_search()
            return
        if self.view is not None:
            self.run_search(self.view, text)

    @work(thread=True, exclusive=True, exit_on_error=False, group=SEARCH_GROUP)
    def run_search(self, view: MailboxView, text: str) -> None:
        outcome: Message
        try:
            with database_proxy.connection_context():
                rows = message_query.search(view, text)
                outcome = SearchFinished(
                    view.account_id, text, rows, message_query.pending_bodies(view.account_id)
                )
        except Exception as error:  # whatever the database says, the screen stays up
            outcome = SearchFailed(error)
        if not get_current_worker().is_cancelled:  # else the user has moved on
            self.post_message(outcome)

    @on(SearchFailed)
    def _search_failed(self, failed: SearchFailed) -> None:
        self.notify(f"Search failed: {clean(str(failed.error))}", severity="error", markup=False)

    @on(SearchFinished)
    def _show_results(self, found: SearchFinished) -> None:
        if found.account_id != self.account_id or not self.search_input.has_class("-shown"):
            return  # the user moved on meanwhile
        if not self.search_text:
            self._position_before_search = self.message_list.cursor
        self.search_text = text = found.text
        notes = []
        if len(found.rows) >= message_query.SEARCH_LIMIT:
            notes.append(f"showing the newest {message_query.SEARCH_LIMIT}")
        if pending := found.pending:
            notes.append(
                f"{pending:,} message{'s' if pending != 1 else ''} not indexed yet "
                "(searched by subject and sender only)"
            )
        self._search_note = "; ".join(notes)
        self.message_list.show(ResultRows(found.rows, f"Nothing found for “{clean(text)}”."))
        self._show_summary()
        self.message_list.focus()

    def clear_search(self) -> None:
        """Back to the whole mailbox, where the cursor was before the search."""
        had_results = bool(self.search_text)
        self._leave_search()
        if had_results and self.view is not None:
            source = MailboxRows(self.view, page_size=self._page_size)
            source.reload()
            self.message_list.show(source, cursor=self._position_before_search)
            self._show_summary()
        self.message_list.focus()

    def _leave_search(self) -> None:
        self.workers.cancel_group(self, SEARCH_GROUP)
        self.search_text = ""
        self._search_note = ""
        search = self.search_input
        search.value = ""
        search.remove_class("-shown")
