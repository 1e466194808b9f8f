"""The add/edit form's decisions that are not about widgets, so they can be tested without a screen.

Which numbers the form accepts, which problems block saving and in what order they are shown,
when a port follows a change of security, when the outgoing server follows the incoming one,
which certificate pins still apply, and which credentials the outgoing-server check uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from tui.core.net.pop3.auth import BearerToken
from tui.core.settings import AccountSettings
from tui.core.setup.validation import (
    DELETE_AFTER_DAYS,
    GMAIL_RECENT_PREFIX,
    POLL_MINUTES,
    Problem,
    validate_account,
)

NumberParser = Callable[[str], tuple[int | None, str | None]]
"""Typed text → (number, None) or (None, message), like `validation.parse_port`."""

parse_poll_minutes: NumberParser = POLL_MINUTES.parse
parse_delete_after_days: NumberParser = DELETE_AFTER_DAYS.parse


def signs_in(settings: AccountSettings) -> bool:
    """No password: the mailbox signs in with OAuth2 (the provider refuses passwords)."""
    from tui.core.oauth.providers import signs_in_instead

    return settings.uses_oauth2 or signs_in_instead(settings)


PASSWORD_REQUIRED = "Enter the password (with two-step verification on: an app password)."
LOGIN_NOT_CHECKED = " Login not checked: no outgoing password was entered."


def form_problems(
    settings: AccountSettings,
    unparsed: Sequence[Problem],
    *,
    existing_names: Collection[str],
    editing_name: str | None,
    password_missing: bool,
    order: Sequence[str],
) -> list[Problem]:
    """Every problem of the form, in the order of its fields (`order`).

    `unparsed` are the numbers that did not parse; the whole-account check says nothing more
    about those fields, so no field is reported twice. A new account needs a password.
    """
    skipped = {problem.field for problem in unparsed}
    problems = [
        problem
        for problem in validate_account(
            settings, existing_names=existing_names, editing_name=editing_name
        )
        if problem.field not in skipped
    ]
    problems += unparsed
    if editing_name is None and password_missing and not signs_in(settings):
        problems.append(Problem("password", PASSWORD_REQUIRED))
    position = {attr: index for index, attr in enumerate(order)}
    problems.sort(key=lambda problem: position.get(problem.field, len(position)))
    return problems


def port_after_security_change(typed: str, old_default: int, new_default: int) -> str | None:
    """The port to show after the security changed: a port still at the old default (or empty)
    follows to the new default; a port the user typed stays (None)."""
    return str(new_default) if typed.strip() in ("", str(old_default)) else None


def outgoing_follows_incoming(shown: str, filled_by_form: str | None) -> bool:
    """Whether a change of the incoming server may refill the outgoing one.

    Only a server the form itself filled in (on the user's request) follows; an empty field
    means "no outgoing server" (POP-only, or cleared by the user) and a typed one is the user's.
    """
    return bool(shown.strip()) and shown == filled_by_form


def is_gmail_recent(username: str) -> bool:
    """Gmail's `recent:` mode, which needs "Leave messages on the server"."""
    return username.strip().lower().startswith(GMAIL_RECENT_PREFIX)


def pin_applies(pinned: str, pinned_host: str, host: str) -> bool:
    """A pin belongs to one server: typing another host name drops it."""
    return bool(pinned) and host.strip() == pinned_host.strip()


@dataclass(frozen=True)
class ServerPin:
    """A certificate the user accepted for one server, by its SHA-256 fingerprint."""

    host: str
    port: int
    fingerprint: str

    def is_for(self, host: str, port: int) -> bool:
        return (self.host, self.port) == (host, port)


def outgoing_pin(
    host: str, port: int, *, accepted: ServerPin | None, saved: AccountSettings
) -> str:
    """The outgoing pin to keep: one accepted in this form for this server, else the saved one
    while the outgoing server is still the one it was made for."""
    if accepted is not None and accepted.is_for(host, port):
        return accepted.fingerprint
    same_server = (host, port) == (saved.outgoing_host, saved.outgoing_port)
    return saved.outgoing_pinned_fingerprint if same_server else ""


@dataclass(frozen=True)
class OutgoingLogin:
    """How to check the outgoing server: with which settings and password, and what to add to
    the report (`note`, empty or starting with a space)."""

    settings: AccountSettings
    password: str | BearerToken = dataclasses.field(repr=False)
    note: str = ""


def outgoing_login(
    settings: AccountSettings,
    *,
    incoming_password: str | BearerToken,
    outgoing_password: Callable[[], str],
) -> OutgoingLogin | None:
    """The outgoing check to run once the incoming login worked; None when no server is set.

    Shared credentials log in with the incoming password (or OAuth2 access token). Separate ones use
    `outgoing_password()` (typed or stored); without one, the connection and TLS are checked
    but not the login.
    """
    if not settings.outgoing_host:
        return None
    if settings.same_credentials_for_outgoing:
        return OutgoingLogin(settings, incoming_password)
    password = outgoing_password()
    if not password and settings.outgoing_username:
        return OutgoingLogin(
            dataclasses.replace(settings, outgoing_username=""), "", LOGIN_NOT_CHECKED
        )
    return OutgoingLogin(settings, password)
