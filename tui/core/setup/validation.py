"""Checks on account settings, shared by the add/edit form and the command line.

Each problem names the `AccountSettings` field it belongs to and carries one specific,
user-facing sentence, so the form can show it beside that field and the command line can print it.
The single-field validators let the form check a value while the user types.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from tui.core.errors import PoptuiError
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.setup.addresses import validate_email, validate_host
from tui.core.text import has_unsafe, quoted

MAX_NAME_LENGTH = 64
MAX_USERNAME_LENGTH = 248
"""RFC 2449 caps a POP3 command at 255 octets; "USER " and CRLF take 7 of them."""
MIN_PORT, MAX_PORT = 1, 65535
MIN_DELETE_AFTER_DAYS, MAX_DELETE_AFTER_DAYS = 1, 3650
MIN_POLL_MINUTES, MAX_POLL_MINUTES = 1, 1440
MAX_LIMIT = 2**31 - 1
"""Upper bound for the per-fetch limits, so a stray digit cannot overflow the database column."""

MAX_USER_NAME_BYTES = 63
"""PostgreSQL keeps the first 63 bytes of a role name (NAMEDATALEN - 1) and drops the rest
silently, so two long logins would become one role."""

GMAIL_RECENT_PREFIX = "recent:"

ServerKind = Literal["pop3", "smtp"]
"""Which protocol a server speaks: decides the well-known ports in the security checks."""


class Severity(StrEnum):
    """Whether a problem blocks saving (ERROR) or is only worth pointing out (WARNING)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings, attached to the field the user should look at."""

    field: str
    """The `AccountSettings` attribute this problem belongs to, e.g. "incoming_port"."""
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def has_errors(problems: Iterable[Problem]) -> bool:
    """True when at least one problem blocks saving."""
    return any(problem.is_error for problem in problems)


def problems_by_field(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    """Group problems by field, keeping their order, for showing them beside each input."""
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        grouped.setdefault(problem.field, []).append(problem)
    return grouped


# --- single-field validators -----------------------------------------------------------------


def parse_number(
    value: str | int,
    *,
    what: str,
    minimum: int = 0,
    maximum: int = MAX_LIMIT,
    example: int | None = None,
) -> tuple[int | None, str | None]:
    """Turn typed text (or an int) into an int within [minimum, maximum].

    Returns `(number, None)` when valid, otherwise `(None, message)`; `what` names the value in
    the message, capitalised ("Port", "Days"). Without bounds: a whole number from 0 up.
    """
    if isinstance(value, bool):  # bool is an int subclass; True is never a meaningful number
        return None, f"{what} must be a whole number."
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            hint = f", e.g. {example}" if example is not None else ""
            return None, f"{what} is empty: enter a number{hint}."
        digits = text.removeprefix("-")
        if not digits.isascii() or not digits.isdigit():
            return None, f"{what} must be a whole number; {quoted(text)} is not."
        if len(digits) > 20:
            # int() of thousands of digits is slow or refused; such a number is out of range.
            number = -(10**20) if text.startswith("-") else 10**20
        else:
            number = int(text)
    else:
        return None, f"{what} must be a whole number."
    if number < minimum:
        if number < 0 <= minimum:
            return None, f"{what} cannot be negative: use {minimum} to {maximum}."
        return None, f"{what} must be between {minimum} and {maximum}; {number} is too small."
    if number > maximum:
        shown = number if number < 10**20 else "that"
        return None, f"{what} must be between {minimum} and {maximum}; {shown} is too large."
    return number, None


@dataclass(frozen=True)
class NumberSetting:
    """A whole-number setting's name and bounds: one place for the form's parsing and for
    `validate_account`, so the two never disagree."""

    what: str
    minimum: int
    maximum: int
    example: int

    def parse(self, value: str | int) -> tuple[int | None, str | None]:
        """`parse_number` within this setting's bounds."""
        return parse_number(
            value, what=self.what, minimum=self.minimum, maximum=self.maximum, example=self.example
        )


POLL_MINUTES = NumberSetting("Minutes between fetches", MIN_POLL_MINUTES, MAX_POLL_MINUTES, 5)
DELETE_AFTER_DAYS = NumberSetting(
    "Days before deleting", MIN_DELETE_AFTER_DAYS, MAX_DELETE_AFTER_DAYS, 7
)


def parse_port(value: str | int) -> tuple[int | None, str | None]:
    """Turn a typed port into an int: `(995, None)`, or `(None, "Port must be ...")`."""
    return parse_number(value, what="Port", minimum=MIN_PORT, maximum=MAX_PORT, example=995)


def validate_port(value: str | int) -> str | None:
    """The message for an invalid port, or None when it is fine."""
    return parse_port(value)[1]


def validate_account_name(
    name: str, existing_names: Collection[str] = (), editing_name: str | None = None
) -> str | None:
    """A name must be present and unique among the other accounts, ignoring case.

    `editing_name` is the account's current name when editing, so it may keep it.
    """
    cleaned = name.strip()
    if not cleaned:
        return "Give the account a name, e.g. Work or Personal."
    if has_unsafe(cleaned):
        return "The account name cannot contain control characters."
    if len(cleaned) > MAX_NAME_LENGTH:
        return f"Keep the account name to {MAX_NAME_LENGTH} characters or fewer."
    key = cleaned.casefold()
    own = editing_name.strip().casefold() if editing_name is not None else None
    for existing in existing_names:
        existing_key = existing.strip().casefold()
        if existing_key == key and existing_key != own:
            shown = quoted(existing.strip())
            return f"Another account is already called {shown}; pick another name."
    return None


class InvalidName(PoptuiError):
    """A user (role) name that cannot be used as it is, worded for the user."""


def validate_user_name(name: str) -> str | None:
    """A user is a login and, on a team database, a PostgreSQL role: present, one line, no
    invisible characters, no spaces around it, and short enough to stay one role."""
    if not name.strip():
        return "Give the user's login name."
    if has_unsafe(name):
        return f"The user name {quoted(name)} cannot contain control characters."
    if name != name.strip():
        return f"Remove the spaces at the start or end of the user name {quoted(name)}."
    if len(name.encode("utf-8")) > MAX_USER_NAME_BYTES:
        return (
            f"The user name {quoted(name)} is too long: a database role name holds at most "
            f"{MAX_USER_NAME_BYTES} bytes."
        )
    return None


def check_user_name(name: str) -> str:
    """`name` when it can name a user; raises `InvalidName` with the reason otherwise."""
    problem = validate_user_name(name)
    if problem is not None:
        raise InvalidName(problem)
    return name


def validate_limit(value: str | int, *, what: str) -> str | None:
    """A limit is a whole number of 0 or more, where 0 means "no limit"."""
    message = parse_number(value, what=what, minimum=0, maximum=MAX_LIMIT)[1]
    if message is None:
        return None
    if message.startswith(f"{what} cannot be negative"):
        return f"{what} cannot be negative; use 0 for no limit."
    return message


def validate_username(username: str, *, what: str = "username") -> str | None:
    """A username is required, single-line and short enough for a POP3/SMTP command."""
    if not username.strip():
        return f"Enter the {what}: usually the full email address."
    if has_unsafe(username):
        return f"The {what} cannot contain control characters."
    if username != username.strip():
        return f"Remove the spaces at the start or end of the {what}."
    if len(username.encode("utf-8")) > MAX_USERNAME_LENGTH:
        return f"The {what} is too long (at most {MAX_USERNAME_LENGTH} bytes)."
    if username.lower() == GMAIL_RECENT_PREFIX:
        return f"Add the address after {GMAIL_RECENT_PREFIX}, as in recent:name@gmail.com."
    return None


def validate_fingerprint(fingerprint: str) -> str | None:
    """A pinned certificate fingerprint: SHA-256 as 32 hex pairs separated by colons."""
    pairs = fingerprint.strip().split(":")
    if len(pairs) != 32 or not all(re.fullmatch(r"[0-9A-Fa-f]{2}", pair) for pair in pairs):
        return (
            "The certificate fingerprint must be a SHA-256 digest: "
            "32 pairs of hex digits separated by colons (AB:CD:...)."
        )
    return None


def security_port_warning(protocol: ServerKind, security: Security, port: int) -> str | None:
    """Warn when a port is the well-known one for a different kind of security.

    Only a warning: servers on odd ports exist, but a mismatch is the usual cause of a connection
    that hangs until the timeout.
    """
    if protocol == "pop3":
        if port == 995 and security is not Security.SSL:
            return (
                "Port 995 expects SSL/TLS from the first byte; with "
                f"{security.label} the connection will probably hang. "
                "Choose SSL/TLS, or port 110."
            )
        if port == 110 and security is Security.SSL:
            return (
                "Port 110 is the plain POP3 port, used with STARTTLS; SSL/TLS there will "
                "probably hang. Choose STARTTLS, or port 995."
            )
        return None
    if port == 465 and security is not Security.SSL:
        return (
            "Port 465 expects SSL/TLS from the first byte; with "
            f"{security.label} the connection will probably hang. Choose SSL/TLS, or port 587."
        )
    if port in (587, 25) and security is Security.SSL:
        return (
            f"Port {port} is used with STARTTLS; SSL/TLS there will probably hang. "
            "Choose STARTTLS, or port 465."
        )
    return None


UNENCRYPTED_WARNING = (
    "Without encryption the password crosses the network unencrypted, readable by anyone on "
    "the way. Use SSL/TLS or STARTTLS unless this is a test server."
)

GMAIL_RECENT_REQUIRES_LEAVE = (
    "With a recent: username Gmail hands the last 30 days of mail to every POP client, again "
    "and again. Deleting it from the server here would make it vanish for your other clients, "
    "so this mode needs “Leave messages on the server”. Choose that, or remove recent: "
    "if poptui is your only POP client."
)


# --- whole-account check ---------------------------------------------------------------------

_PORT_NOT_INT = "Port must be a whole number."


def _server_problems(
    problems: list[Problem],
    protocol: ServerKind,
    host: str,
    port: int,
    security: Security,
    *,
    prefix: str,
) -> None:
    side = "incoming" if protocol == "pop3" else "outgoing"
    message = validate_host(host)
    if message is not None:
        if not host.strip():
            kind = "POP3" if protocol == "pop3" else "SMTP"
            example = "pop.example.com" if protocol == "pop3" else "smtp.example.com"
            message = f"Enter the {side} ({kind}) server, e.g. {example}."
        problems.append(Problem(f"{prefix}_host", message))
    number, port_message = parse_port(port) if _is_int(port) else (None, _PORT_NOT_INT)
    if port_message is not None:
        problems.append(Problem(f"{prefix}_port", port_message))
    if not isinstance(security, Security):
        problems.append(
            Problem(f"{prefix}_security", "Choose SSL/TLS, STARTTLS or None for the security.")
        )
        return
    if number is not None:
        warning = security_port_warning(protocol, security, number)
        if warning is not None:
            problems.append(Problem(f"{prefix}_port", warning, Severity.WARNING))
    if security is Security.NONE:
        problems.append(Problem(f"{prefix}_security", UNENCRYPTED_WARNING, Severity.WARNING))


def _is_int(value: object) -> bool:
    """Settings hold ints; text from a form must go through `parse_number` first."""
    return isinstance(value, int) and not isinstance(value, bool)


def _number_problem(
    problems: list[Problem], field: str, value: int, setting: NumberSetting
) -> None:
    if not _is_int(value):
        problems.append(Problem(field, f"{setting.what} must be a whole number."))
        return
    message = setting.parse(value)[1]
    if message is not None:
        problems.append(Problem(field, message))


def validate_account(
    settings: AccountSettings,
    *,
    existing_names: Collection[str] = (),
    editing_name: str | None = None,
) -> list[Problem]:
    """Every problem with the settings, in the order of the form's fields.

    `existing_names` are the names of the other accounts (the account being edited may be among
    them: pass its current name as `editing_name`). An empty list means the settings can be saved.
    """
    problems: list[Problem] = []

    def add(field: str, message: str | None) -> None:
        if message is not None:
            problems.append(Problem(field, message))

    add("name", validate_account_name(settings.name, existing_names, editing_name))
    add("email", validate_email(settings.email))
    _server_problems(
        problems,
        "pop3",
        settings.incoming_host,
        settings.incoming_port,
        settings.incoming_security,
        prefix="incoming",
    )
    add("username", validate_username(settings.username))

    if settings.is_gmail_recent and settings.delete_policy is not DeletePolicy.LEAVE:
        add("delete_policy", GMAIL_RECENT_REQUIRES_LEAVE)
    if settings.delete_policy is DeletePolicy.AFTER_DAYS:
        _number_problem(
            problems, "delete_after_days", settings.delete_after_days, DELETE_AFTER_DAYS
        )

    # With shared credentials the outgoing side may still be blank (it is set up after the
    # incoming side works); whatever has been filled in is still checked.
    outgoing_needed = not settings.same_credentials_for_outgoing
    if outgoing_needed or settings.outgoing_host.strip():
        _server_problems(
            problems,
            "smtp",
            settings.outgoing_host,
            settings.outgoing_port,
            settings.outgoing_security,
            prefix="outgoing",
        )
    if outgoing_needed:
        add(
            "outgoing_username",
            validate_username(settings.outgoing_username, what="outgoing username"),
        )

    _number_problem(problems, "poll_minutes", settings.poll_minutes, POLL_MINUTES)
    for field, what in (
        ("max_messages_per_fetch", "The number of messages per fetch"),
        ("max_message_bytes", "The largest message size"),
    ):
        value = getattr(settings, field)
        add(
            field,
            validate_limit(value, what=what)
            if _is_int(value)
            else f"{what} must be a whole number.",
        )
    if settings.pinned_fingerprint.strip():
        add("pinned_fingerprint", validate_fingerprint(settings.pinned_fingerprint))
    if settings.outgoing_pinned_fingerprint.strip():
        add(
            "outgoing_pinned_fingerprint",
            validate_fingerprint(settings.outgoing_pinned_fingerprint),
        )
    return problems
