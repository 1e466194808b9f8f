"""Which widgets the add/edit mailbox form has, in which order, and what they are called.

`tui.widgets.account_fields` reacts to them; keeping the layout here lets that module be about
behaviour (reading, checking and auto-filling) and gives tests one place for the field ids.

The form opens with only its first fields (`compose_first`): composing all of it took over a
second on a busy 2-core machine, with the name field waiting for focus meanwhile. The rest
(`compose_rest`) is mounted section by section once the user pauses or leaves those fields.
"""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Input, Static

from tui.core.settings import AccountSettings, DeletePolicy
from tui.widgets.form_fields import FieldMessage, attr_field, attr_id, security_select
from tui.widgets.marked_choices import ChoiceRadioSet
from tui.widgets.oauth_fields import OAuthFields
from tui.widgets.outgoing_fields import OutgoingServerFields
from tui.widgets.provider_hints import PasswordHint, ProviderSummary

FORM_FIELDS: tuple[str, ...] = (
    "name",
    "email",
    "incoming_host",
    "incoming_port",
    "incoming_security",
    "username",
    "password",
    "outgoing_host",
    "outgoing_port",
    "outgoing_security",
    "outgoing_username",
    "outgoing_password",
    "delete_policy",
    "delete_after_days",
    "poll_minutes",
)
"""`AccountSettings` attributes (plus the two passwords) with a widget, in tab order; each
widget's id is the attribute with hyphens, and its message line is `#<id>-message`."""

GMAIL_RECENT_FORCES_LEAVE = (
    "The username starts with recent: (Gmail's mode for several POP clients), so messages "
    "stay on the server: deleting them here would take them from your other clients too."
)
INTRO_ADD = "Tab moves between fields. Test & save logs in, and saves only if that works."
INTRO_EDIT = "Change what you need; empty password fields keep the stored passwords."


def policy_button_id(policy: DeletePolicy) -> str:
    return f"policy-{attr_id(policy.value)}"


def compose_first(base: AccountSettings, *, editing: bool) -> ComposeResult:
    """What the first frame shows: the intro, the name (focused) and the address."""
    yield Static(INTRO_EDIT if editing else INTRO_ADD, id="form-intro")
    yield attr_field("name", "Account name", Input(base.name, placeholder="e.g. Work"))
    yield attr_field(
        "email",
        "Email address",
        Input(base.email, placeholder="name@example.com"),
        ProviderSummary(id="preset-summary"),
    )


def compose_rest(base: AccountSettings, *, editing: bool) -> list[list[Widget]]:
    """Everything after the address, in sections mounted one by one once the user pauses."""
    return [
        list(_incoming(base, editing=editing)),
        [OutgoingServerFields(base, password_placeholder=_unchanged(editing))],
        list(_fetching(base)),
    ]


def _unchanged(editing: bool) -> str:
    return "unchanged (type to replace)" if editing else ""


def _incoming(base: AccountSettings, *, editing: bool) -> Iterator[Widget]:
    unchanged = _unchanged(editing)
    yield Static("Incoming server (POP3)", classes="section-title")
    yield attr_field(
        "incoming_host", "Server", Input(base.incoming_host, placeholder="pop.example.com")
    )
    yield attr_field("incoming_port", "Port", Input(str(base.incoming_port), classes="short"))
    yield attr_field("incoming_security", "Security", security_select(base.incoming_security))
    yield attr_field(
        "username", "Username", Input(base.username, placeholder="usually the address")
    )
    yield attr_field(
        "password",
        "Password",
        Input(password=True, placeholder=unchanged),
        PasswordHint(id="password-hint"),
    )
    yield OAuthFields(base)
    yield Static(id="pin-summary")


def _fetching(base: AccountSettings) -> Iterator[Widget]:
    yield Static("Fetching", classes="section-title")
    yield attr_field(
        "delete_policy",
        "Delete messages",
        ChoiceRadioSet(
            {policy: policy.label for policy in DeletePolicy},
            policy_button_id,
            default=DeletePolicy.LEAVE,
            chosen=base.delete_policy,
        ),
        Static(GMAIL_RECENT_FORCES_LEAVE, id="delete-explanation"),
    )
    yield attr_field(
        "delete_after_days",
        "After (days)",
        Input(str(base.delete_after_days), classes="short"),
    )
    yield attr_field(
        "poll_minutes",
        "Fetch every",
        Input(str(base.poll_minutes), classes="short"),
        Static("minutes, while this mailbox is the active one", classes="field-hint"),
    )
    yield FieldMessage(id="other-problems")
