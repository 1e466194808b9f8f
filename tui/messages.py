"""App-level Textual messages: requests from screens that the app routes to the right place.

The mailbox list posts a request for each verb and the app decides what answers it, so a new
screen (fetching, the password editor, the message browser ...) plugs in with one handler in
`tui.app.PoptuiApp` and no change to the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # the engine is imported by the first fetch, not when the app starts
    from tui.core.sync.check import CheckReport
    from tui.core.sync.engine import FetchResult, SyncProgress


@dataclass
class MailboxRequest(Message):
    """A verb asked for on one mailbox. Bubbles from the screen to the app."""

    account_id: int
    account_name: str
    """Untrusted (user-chosen): show it through `tui.widgets.safe_text`."""


class FetchRequested(MailboxRequest):
    """Fetch the mailbox now instead of waiting for the next poll."""


class ConnectionTestRequested(MailboxRequest):
    """Log in to the incoming server and report, changing nothing."""


class PasswordEditorRequested(MailboxRequest):
    """Change the incoming or outgoing password (kept in the secret store)."""


class MessagesRequested(MailboxRequest):
    """Browse the mail fetched from the mailbox."""


class SharingEditorRequested(MailboxRequest):
    """Show or change who else may see the mailbox's mail."""


class MailboxesChanged(Message):
    """Accounts changed outside the list (a fetch finished, another screen edited one).

    Post it to the app; it tells the mailbox list to reload from the database.
    """


@dataclass
class FetchProgress(Message):
    """Where the running fetch is, posted from the fetch worker's thread (at most ~10 a second).

    A newer one for the same mailbox replaces any still queued (`can_replace`), so a fetch of
    10,000 messages never queues 10,000 repaints.
    """

    account_id: int
    account_name: str
    state: SyncProgress
    """The engine's figures as they were when posted (`SyncProgress.snapshot`)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FetchProgress) and message.account_id == self.account_id


@dataclass
class FetchFinished(Message):
    """A fetch ended without an error (possibly with nothing new). Posted to the app."""

    account_id: int
    account_name: str
    result: FetchResult
    """Counts, bytes and time, from `tui.core.sync.engine.fetch_account`."""
    manual: bool
    """True when the user asked for it (f), False for the poll timer."""


@dataclass
class FetchFailed(Message):
    """A fetch (or the connection test) did not work; the app turns `error` into words."""

    account_id: int
    account_name: str
    error: BaseException
    manual: bool


@dataclass
class ConnectionTested(Message):
    """The connection test (t) ended, passed or not; `report` says what it learnt."""

    account_id: int
    account_name: str
    report: CheckReport
