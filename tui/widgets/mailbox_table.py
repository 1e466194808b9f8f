"""The table of mailboxes on the home screen, and the plain rows it is filled from.

Rows are built from the database on the main thread (a handful of accounts, one count each)
and turned into `Text` cells, never markup strings, because names and errors are untrusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from rich.text import Text
from textual.widgets import DataTable

from tui.core.settings import AUTH_OAUTH2, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account
from tui.core.text import clean
from tui.core.text import describe_age as describe_age  # the screens' import, kept
from tui.widgets.safe_text import safe_text

ACTIVE_MARKER = "● active"
WIDE_LAYOUT_MIN_WIDTH = 110
"""From this width the table has room for a Server column; below it the detail pane shows it."""
STATE_MIN_WIDTH = 15
"""Room for "· never fetched": the state of each mailbox is what must stay visible."""
GIVE_WAY_ORDER = ("server", "address", "new", "last", "active")
"""When the table is too narrow, these columns are dropped first to last (the detail pane and
the active-mailbox line still say what they held); Mailbox and State always stay."""


class MailboxState(StrEnum):
    """What the State column says, each with a symbol so it never relies on colour alone."""

    OK = "ok"
    ERROR = "error"
    DISABLED = "disabled"
    NEVER = "never"

    @property
    def look(self) -> tuple[str, str]:
        """The State cell's words (a symbol, then the word) and their style."""
        return _STATE_LOOKS[self]


_STATE_LOOKS = {
    MailboxState.OK: ("✓ ok", "green"),
    MailboxState.ERROR: ("✗ error", "bold red"),
    MailboxState.DISABLED: ("⊘ disabled", "yellow"),
    MailboxState.NEVER: ("· never fetched", "dim"),
}


@dataclass(frozen=True)
class MailboxRow:
    """One account as the list shows it; the strings are raw, made safe only when rendered."""

    account_id: int
    name: str
    email: str
    server: str
    """host:port; the security is kept apart so the narrow column shows the part that matters."""
    security: str
    is_active: bool
    state: MailboxState
    reason: str
    """Why the state is error or disabled; empty otherwise."""
    last_fetch_at: datetime | None
    last_fetch_new: int
    message_count: int
    delete_policy: str
    fetched_by_service: bool = False
    """The last fetch was made by `poptui service` (the app does not poll it then)."""
    signs_in: bool = False
    """An OAuth2 mailbox: it is fixed by signing in again, not by a new password."""

    @classmethod
    def from_account(cls, account: Account, store: AccountStore) -> MailboxRow:
        if account.disabled:
            state, reason = MailboxState.DISABLED, account.disabled_reason or "disabled"
        elif account.last_fetch_status == "error":
            state, reason = MailboxState.ERROR, account.last_fetch_error or "unknown error"
        elif account.last_fetch_status == "ok":
            state, reason = MailboxState.OK, ""
        else:
            state, reason = MailboxState.NEVER, ""
        return cls(
            account_id=int(account.id),
            name=account.name,
            email=account.email,
            server=f"{account.incoming_host}:{account.incoming_port}",
            security=Security(account.incoming_security).label,
            is_active=bool(account.is_active),
            state=state,
            reason=reason,
            last_fetch_at=account.last_fetch_at,
            last_fetch_new=int(account.last_fetch_new),
            message_count=store.message_count(account),
            delete_policy=DeletePolicy(account.delete_policy).label,
            signs_in=account.auth_method == AUTH_OAUTH2,
        )


def load_rows(store: AccountStore) -> list[MailboxRow]:
    from tui.core.service.records import fetched_by_service

    accounts = store.list()
    by_service = fetched_by_service(accounts)
    rows = [MailboxRow.from_account(account, store) for account in accounts]
    return [replace(row, fetched_by_service=row.account_id in by_service) for row in rows]


def state_text(row: MailboxRow, *, with_reason: bool) -> Text:
    """ "✗ error: reason"; only the label is coloured, so a long reason stays readable."""
    text = Text(end="")
    words, style = row.state.look
    text.append(words, style=style)
    if with_reason and row.reason:
        text.append(f": {clean(row.reason)}")
    return text


class MailboxTable(DataTable[Text]):
    """One row per mailbox; the active one is marked in its own column and drawn bold."""

    DEFAULT_CSS = """
    MailboxTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._rows: list[MailboxRow] = []
        self._now: datetime | None = None
        self._wide: bool | None = None
        self._columns: tuple[str, ...] = ()
        self._fetching: dict[int, str] = {}
        """account id → what its running fetch is doing ("fetching 12/40"), shown as its State."""

    @property
    def rows_shown(self) -> Sequence[MailboxRow]:
        return self._rows

    @property
    def highlighted(self) -> MailboxRow | None:
        """The row under the cursor, or None when the table is empty."""
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row]

    def show_rows(self, rows: Sequence[MailboxRow], now: datetime) -> None:
        """Replace the rows, keeping the cursor on the same mailbox, or near where it was."""
        previous = self.highlighted
        previous_index = self.cursor_row
        self._rows = list(rows)
        self._now = now
        self._fill()
        if not self._rows:
            return
        ids = [row.account_id for row in self._rows]
        if previous is not None and previous.account_id in ids:
            index = ids.index(previous.account_id)
        else:
            index = min(max(previous_index, 0), len(self._rows) - 1)
        self.move_cursor(row=index, animate=False, scroll=True)

    def show_fetching(self, account_id: int, text: str | None) -> None:
        """Show "↻ fetching…" (with `text`) as the mailbox's State while it is fetched; None
        puts the stored state back."""
        if text is None:
            if self._fetching.pop(account_id, None) is None:
                return
        else:
            self._fetching[account_id] = text
        row = next((r for r in self._rows if r.account_id == account_id), None)
        if row is None or self._now is None:
            return
        cells = self._cells(row, self._now, self._column_widths())
        self.update_cell(str(account_id), "state", cells[-1])

    def select_account(self, account_id: int) -> None:
        for index, row in enumerate(self._rows):
            if row.account_id == account_id:
                self.move_cursor(row=index, animate=False, scroll=True)
                return

    @property
    def columns_shown(self) -> tuple[str, ...]:
        """The keys of the columns that fit the current width, left to right."""
        return self._columns

    def on_resize(self) -> None:
        if self._wide != self._is_wide() or self._columns != tuple(self._column_widths()):
            self._fill()

    def _is_wide(self) -> bool:
        width = self.size.width or self.app.size.width
        return width >= WIDE_LAYOUT_MIN_WIDTH

    def _column_widths(self) -> dict[str, int]:
        """Fixed widths that fill the table exactly; the state column takes what is left.

        Columns that do not fit give way in `GIVE_WAY_ORDER`, so at 60 columns the state of
        each mailbox is still on screen instead of being pushed off the right edge."""
        width = self.size.width or self.app.size.width
        if len(self._rows) + 1 > (self.size.height or self.app.size.height):
            width -= self.styles.scrollbar_size_vertical
        padding = 2 * self.cell_padding
        if self._is_wide():
            widths = {"active": 8, "name": 14, "address": 24, "server": 24, "last": 10, "new": 3}
        else:
            widths = {"active": 8, "name": 12, "address": 20, "last": 10, "new": 3}

        def used() -> int:
            return sum(widths.values()) + padding * (len(widths) + 1) + STATE_MIN_WIDTH

        for key in GIVE_WAY_ORDER:
            if used() <= width:
                break
            widths.pop(key, None)
        widths["state"] = max(STATE_MIN_WIDTH, width - used() + STATE_MIN_WIDTH)
        return widths

    def _fill(self) -> None:
        row_index = self.cursor_row
        self._wide = self._is_wide()
        self.clear(columns=True)
        labels = {
            "active": "Active",
            "name": "Mailbox",
            "address": "Address",
            "server": "Server",
            "last": "Last fetch",
            "new": "New",
            "state": "State",
        }
        widths = self._column_widths()
        self._columns = tuple(widths)
        for key, width in widths.items():
            self.add_column(Text(labels[key], end=""), width=width, key=key)
        now = self._now or datetime.min
        for row in self._rows:
            self.add_row(*self._cells(row, now, widths), key=str(row.account_id))
        if self._rows:
            self.move_cursor(row=min(row_index, len(self._rows) - 1), animate=False)

    def _cells(self, row: MailboxRow, now: datetime, widths: dict[str, int]) -> list[Text]:
        emphasis = "bold" if row.is_active else ""

        def cell(text: str) -> Text:
            rendered = safe_text(text, emphasis)
            rendered.no_wrap = True
            rendered.overflow = "ellipsis"
            return rendered

        marker = Text(ACTIVE_MARKER, style="bold green", end="") if row.is_active else Text("")
        new = Text(str(row.last_fetch_new) if row.last_fetch_at else "-", end="")
        new.justify = "right"
        state = state_text(row, with_reason=self._wide or False)
        if row.account_id in self._fetching:
            state = Text(f"↻ {self._fetching[row.account_id]}", style="bold cyan", end="")
        state.no_wrap = True
        state.overflow = "ellipsis"
        cells = {
            "active": marker,
            "name": cell(row.name),
            "address": cell(row.email),
            "server": cell(row.server),
            "last": cell(
                describe_age(row.last_fetch_at, now)
                + (" by the service" if row.fetched_by_service else "")
            ),
            "new": new,
            "state": state,
        }
        return [cells[key] for key in widths]
