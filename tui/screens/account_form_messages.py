"""What the add/edit form hands its worker (a `Submission`), what the worker posts back, and
what the form returns to the mailbox list (`FormOutcome`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from textual.message import Message

from tui.core.delivery import DeliveryTarget
from tui.core.settings import AccountSettings
from tui.core.setup.form_rules import ServerPin
from tui.services import TestResult


@dataclass(frozen=True)
class FormOutcome:
    """What the form did, for the list to refresh, select the account and say so."""

    account_id: int
    name: str
    created: bool
    tested: bool
    message: str
    """The tester's words on success, or why it was saved untested."""
    password_problem: str = ""
    """Set when the settings were saved but the secret store refused the password."""


@dataclass(frozen=True)
class Submission:
    """The form's values at the moment of testing/saving, handed to the worker thread."""

    settings: AccountSettings
    # Not in the repr: Textual describes a worker by its arguments' reprs, and logs that.
    password: str = dataclasses.field(repr=False)
    """Empty when editing means "unchanged"."""
    outgoing_password: str = dataclasses.field(repr=False)
    accepted_outgoing: ServerPin | None = None
    """An outgoing certificate the user accepted in this form."""
    targets: tuple[DeliveryTarget, ...] = ()


# The worker's messages to its screen (posted from the thread; never bubble to the app).


@dataclass
class OutgoingCheckStarted(Message, bubble=False):
    """The incoming login worked; the outgoing server is being checked (`text` says which)."""

    text: str


@dataclass
class CheckFailed(Message, bubble=False):
    """A login check failed, or the saving did: nothing was saved."""

    result: TestResult
    outgoing: bool = False
    """The incoming login worked; the outgoing server's check did not."""
    verified: Submission | None = None
    """With `outgoing`: what passed the incoming login, so it can be saved as such."""


def incoming_side(submission: Submission) -> tuple[object, ...]:
    """What the incoming login check depended on."""
    settings = submission.settings
    return (
        settings.incoming_host,
        settings.incoming_port,
        settings.incoming_security,
        settings.username,
        settings.pinned_fingerprint,
        submission.password,
    )


@dataclass
class AccountSaved(Message, bubble=False):
    outcome: FormOutcome
