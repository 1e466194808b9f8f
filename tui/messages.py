"""App-level Textual messages: requests from screens that the app routes to the right place.

The mailbox list posts a request for each verb and the app decides what answers it, so a new
screen (fetching, the password editor, the message browser ...) plugs in with one handler in
`tui.app.PoptuiApp` and no change to the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


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
