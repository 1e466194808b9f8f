"""Each validation rule, valid and invalid: the single-field validators and the whole form."""

from __future__ import annotations

import dataclasses
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.setup.addresses import validate_email, validate_host
from tui.core.setup.validation import (
    MAX_DELETE_AFTER_DAYS,
    MAX_POLL_MINUTES,
    Problem,
    Severity,
    has_errors,
    parse_number,
    parse_port,
    problems_by_field,
    security_port_warning,
    validate_account,
    validate_account_name,
    validate_fingerprint,
    validate_limit,
    validate_port,
    validate_username,
)


def good(**changes: Any) -> AccountSettings:
    """A complete, valid account; tests change one thing at a time."""
    base = AccountSettings(
        name="Work",
        email="alice@example.com",
        incoming_host="pop.example.com",
        incoming_port=995,
        incoming_security=Security.SSL,
        username="alice@example.com",
    )
    return dataclasses.replace(base, **changes)


def fields(problems: list[Problem], severity: Severity | None = None) -> list[str]:
    return [p.field for p in problems if severity is None or p.severity is severity]


def only(problems: list[Problem], field: str) -> Problem:
    matching = [p for p in problems if p.field == field]
    assert len(matching) == 1, problems
    return matching[0]


# --- the helpers -------------------------------------------------------------------------------


def test_valid_settings_have_no_problems() -> None:
    assert validate_account(good()) == []


def test_has_errors_ignores_warnings() -> None:
    warning = Problem("incoming_port", "odd port", Severity.WARNING)
    error = Problem("name", "missing")
    assert has_errors([]) is False
    assert has_errors([warning]) is False
    assert has_errors([warning, error]) is True
    assert error.is_error and not warning.is_error


def test_problems_default_to_error_and_group_by_field() -> None:
    a = Problem("name", "a")
    b = Problem("incoming_port", "b", Severity.WARNING)
    c = Problem("name", "c")
    assert a.severity is Severity.ERROR
    assert problems_by_field([a, b, c]) == {"name": [a, c], "incoming_port": [b]}


def test_every_problem_field_is_a_settings_attribute() -> None:
    everything_wrong = AccountSettings(
        name="",
        email="bad",
        incoming_host="bad host",
        incoming_port=0,
        incoming_security=Security.NONE,
        username="",
        delete_policy=DeletePolicy.AFTER_DAYS,
        delete_after_days=0,
        same_credentials_for_outgoing=False,
        outgoing_host="",
        outgoing_port=70000,
        outgoing_security=Security.NONE,
        poll_minutes=0,
        max_messages_per_fetch=-1,
        max_message_bytes=-1,
        pinned_fingerprint="xyz",
    )
    problems = validate_account(everything_wrong)
    names = {f.name for f in dataclasses.fields(AccountSettings)}
    assert set(fields(problems)) <= names
    assert set(fields(problems)) == {
        "name",
        "email",
        "incoming_host",
        "incoming_port",
        "incoming_security",
        "username",
        "delete_after_days",
        "outgoing_host",
        "outgoing_port",
        "outgoing_security",
        "outgoing_username",
        "poll_minutes",
        "max_messages_per_fetch",
        "max_message_bytes",
        "pinned_fingerprint",
    }
    assert all(p.message.endswith(".") for p in problems)


# --- account name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "Give the account a name"),
        ("   ", "Give the account a name"),
        ("Work\x1b[31m", "control characters"),
        ("Work\u202e", "control characters"),
        ("Wo\u200brk", "control characters"),  # zero-width: looks like another account's name
        ("Work\u2028Home", "control characters"),  # line separator: a two-line name
        ("Wo\u00adrk", "control characters"),  # soft hyphen (format): invisible
        ("x" * 65, "64 characters or fewer"),
    ],
)
def test_account_name_invalid(name: str, expected: str) -> None:
    message = validate_account_name(name)
    assert message is not None and expected in message


@pytest.mark.parametrize("name", ["Work", "x" * 64, "Büro 2", "  Personal  ", "📬 Inbox"])
def test_account_name_valid(name: str) -> None:
    assert validate_account_name(name) is None


def test_account_name_must_be_unique_ignoring_case() -> None:
    message = validate_account_name("work", ["Personal", "Work"])
    assert message == "Another account is already called “Work”; pick another name."
    assert validate_account_name(" WORK ", ["work"]) is not None
    assert validate_account_name("Work 2", ["Work"]) is None


def test_editing_an_account_may_keep_its_own_name() -> None:
    assert validate_account_name("Work", ["Work", "Personal"], editing_name="Work") is None
    assert validate_account_name("WORK", ["Work", "Personal"], editing_name="work") is None
    # Renaming it to another account's name is still refused.
    assert validate_account_name("Personal", ["Work", "Personal"], editing_name="Work") is not None


def test_validate_account_passes_names_through() -> None:
    problems = validate_account(good(name="work"), existing_names=["Work"])
    assert only(problems, "name").severity is Severity.ERROR
    assert validate_account(good(), existing_names=["Work"], editing_name="Work") == []


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.com",
        "Alice.Smith+tag@mail.example.co.uk",
        "a@b.io",
        "o'brien@example.ie",
        "user@bücher.de",
        "用户@例子.广告",
        "user@xn--bcher-kva.de",
        "user@example.com.",
        "x" * 64 + "@example.com",
    ],
)
def test_email_valid(address: str) -> None:
    assert validate_email(address) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("", "Enter the email address"),
        ("alice.example.com", "needs an @"),
        ("alice@@example.com", "only one @"),
        ("a@b@example.com", "only one @"),
        ("@example.com", "part before the @"),
        ("alice@", "domain after the @"),
        ("alice@localhost", "needs a dot"),
        ("al ice@example.com", "cannot contain spaces"),
        (" alice@example.com", "cannot contain spaces"),
        ("alice@example.com\n", "control characters"),
        ("alice\x00@example.com", "control characters"),
        ("ali\u200bce@example.com", "control characters"),
        ("x" * 65 + "@example.com", "before the @ is too long"),
        ("a@" + "b" * 250 + ".com", "too long (at most 254"),
        (".alice@example.com", "two dots in a row"),
        ("alice.@example.com", "two dots in a row"),
        ("al..ice@example.com", "two dots in a row"),
        ('"al ice"@example.com', "cannot contain spaces"),
        ("al<ice>@example.com", "cannot contain < >"),
        ("alice@[192.0.2.1]", "not an IP address"),
        ("alice@192.0.2.1", "not an IP address"),
        ("alice@exa_mple..com", "empty part"),
        ("alice@-example.com", "hyphen"),
        ("alice@exa$mple.com", "only letters, digits"),
        ("alice@example.123", "cannot be only digits"),
    ],
)
def test_email_invalid(address: str, expected: str) -> None:
    message = validate_email(address)
    assert message is not None
    assert expected in message


def test_email_in_account() -> None:
    problem = only(validate_account(good(email="alice")), "email")
    assert problem.message == "The email address needs an @, as in name@example.com."


# --- host --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "pop.example.com",
        "POP.Example.COM",
        "pop.example.com.",
        "localhost",
        "mail-1.example.org",
        "xn--bcher-kva.de",
        "pop.bücher.de",
        "127.0.0.1",
        "192.0.2.10",
        "::1",
        "2001:db8::1",
        "a" * 63 + ".example.com",
        ".".join(["a" * 63] * 3) + "." + "a" * 61,  # 253 characters
        "internal_host.corp",
    ],
)
def test_host_valid(host: str) -> None:
    assert validate_host(host) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("", "Enter the server name"),
        ("  ", "Enter the server name"),
        ("pop example.com", "cannot contain spaces"),
        ("pop.example.com\r\nQUIT", "control characters"),
        ("pop.example.com:995", "Put the port in the Port field"),
        ("pop3://pop.example.com", "without “pop3://”"),
        ("alice@example.com", "looks like an email address"),
        ("[2001:db8::1]", "without the square brackets"),
        ("2001:db8:::1", "not a valid IPv6 address"),
        ("999.1.1.1", "not a valid IPv4 address"),
        ("1.2.3", "not a valid IPv4 address"),
        ("pop..example.com", "empty part"),
        (".example.com", "empty part"),
        ("-pop.example.com", "cannot start or end with a hyphen"),
        ("pop-.example.com", "cannot start or end with a hyphen"),
        ("pop!.example.com", "only letters, digits, hyphens"),
        ("a" * 64 + ".example.com", "at most 63 characters"),
        (".".join(["a" * 63] * 4), "too long (at most 253"),
        ("pop.example.42", "cannot be only digits"),
        ("ü" * 60 + ".de", "too long once encoded"),
    ],
)
def test_host_invalid(host: str, expected: str) -> None:
    message = validate_host(host)
    assert message is not None
    assert expected in message


_LABEL = st.from_regex(r"\A[a-z](?:[a-z0-9-]{0,20}[a-z0-9])?\Z")


@given(st.lists(_LABEL, min_size=1, max_size=5), st.sampled_from(["com", "org", "de", "co.uk"]))
def test_generated_host_names_are_accepted(labels: list[str], tld: str) -> None:
    assert validate_host(".".join([*labels, tld])) is None


@given(st.ip_addresses())
def test_ip_literals_are_accepted(address: Any) -> None:
    assert validate_host(str(address)) is None


@given(st.text(max_size=300))
def test_validators_never_raise_on_any_text(text: str) -> None:
    for validator in (validate_host, validate_email, validate_port, validate_username):
        result = validator(text)
        assert result is None or (isinstance(result, str) and result)


@given(st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=20))
def test_generated_email_on_known_domain(local: str) -> None:
    local = local.strip("-") or "x"
    assert validate_email(f"{local}@example.com") is None


def test_incoming_host_in_account() -> None:
    problem = only(validate_account(good(incoming_host="")), "incoming_host")
    assert problem.message == "Enter the incoming (POP3) server, e.g. pop.example.com."
    problem = only(validate_account(good(incoming_host="pop.example.com:995")), "incoming_host")
    assert "Port field" in problem.message


# --- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99x", (None, "Port must be a whole number; “99x” is not.")),
        ("70000", (None, "Port must be between 1 and 65535; 70000 is too large.")),
        ("0", (None, "Port must be between 1 and 65535; 0 is too small.")),
        ("-1", (None, "Port cannot be negative: use 1 to 65535.")),
        ("", (None, "Port is empty: enter a number, e.g. 995.")),
        ("9.95", (None, "Port must be a whole number; “9.95” is not.")),
        ("٩٩٥", (None, "Port must be a whole number; “٩٩٥” is not.")),
        ("9" * 5000, (None, "Port must be between 1 and 65535; that is too large.")),
        (True, (None, "Port must be a whole number.")),
        (" 995 ", (995, None)),
        ("110", (110, None)),
        (1, (1, None)),
        (65535, (65535, None)),
        (65536, (None, "Port must be between 1 and 65535; 65536 is too large.")),
    ],
)
def test_parse_port(value: str | int, expected: tuple[int | None, str | None]) -> None:
    assert parse_port(value) == expected
    assert validate_port(value) == expected[1]


@given(st.integers(min_value=1, max_value=65535))
def test_ports_in_range_parse_as_int_and_text(port: int) -> None:
    assert parse_port(port) == (port, None)
    assert parse_port(str(port)) == (port, None)


@given(st.integers().filter(lambda n: not 1 <= n <= 65535))
def test_ports_out_of_range_are_refused(port: int) -> None:
    number, message = parse_port(port)
    assert number is None
    assert message is not None and ("1 and 65535" in message or "1 to 65535" in message)
    assert parse_port(str(port))[0] is None


@pytest.mark.parametrize("field", ["incoming_port", "outgoing_port"])
@pytest.mark.parametrize("port", [0, 70000, -5])
def test_ports_in_account(field: str, port: int) -> None:
    settings = good(same_credentials_for_outgoing=False, outgoing_host="smtp.example.com")
    changes: dict[str, Any] = {field: port}
    settings = dataclasses.replace(settings, outgoing_username="alice", **changes)
    problem = only(validate_account(settings), field)
    assert problem.severity is Severity.ERROR
    assert problem.message.startswith("Port ")
    assert "1 and 65535" in problem.message or "1 to 65535" in problem.message


def test_port_must_be_an_int_in_settings() -> None:
    problems = validate_account(good(incoming_port="995"))
    assert only(problems, "incoming_port").message == "Port must be a whole number."


def test_parse_number_names_the_value() -> None:
    assert parse_number("abc", what="Days", minimum=1, maximum=10) == (
        None,
        "Days must be a whole number; “abc” is not.",
    )
    assert parse_number("7", what="Days", minimum=1, maximum=10) == (7, None)
    assert parse_number("11", what="Days", minimum=1, maximum=10) == (
        None,
        "Days must be between 1 and 10; 11 is too large.",
    )
    assert parse_number("-", what="Days")[1] == "Days must be a whole number; “-” is not."
    assert parse_number("-" + "9" * 5000, what="Days")[1] == (
        "Days cannot be negative: use 0 to 2147483647."
    )


def test_parse_number_without_bounds_accepts_zero_and_up() -> None:
    assert parse_number("0", what="Limit") == (0, None)
    assert parse_number(" 250 ", what="Limit") == (250, None)
    assert parse_number("-1", what="Limit")[0] is None
    assert parse_number("-5", what="Offset", minimum=-10, maximum=10) == (-5, None)


# --- security versus port ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "security", "port", "expected"),
    [
        ("pop3", Security.STARTTLS, 995, "Port 995 expects SSL/TLS"),
        ("pop3", Security.NONE, 995, "Port 995 expects SSL/TLS"),
        ("pop3", Security.SSL, 110, "Port 110 is the plain POP3 port"),
        ("smtp", Security.STARTTLS, 465, "Port 465 expects SSL/TLS"),
        ("smtp", Security.NONE, 465, "Port 465 expects SSL/TLS"),
        ("smtp", Security.SSL, 587, "Port 587 is used with STARTTLS"),
        ("smtp", Security.SSL, 25, "Port 25 is used with STARTTLS"),
    ],
)
def test_security_port_mismatch_warns(
    kind: Any, security: Security, port: int, expected: str
) -> None:
    message = security_port_warning(kind, security, port)
    assert message is not None and expected in message


@pytest.mark.parametrize(
    ("kind", "security", "port"),
    [
        ("pop3", Security.SSL, 995),
        ("pop3", Security.STARTTLS, 110),
        ("pop3", Security.NONE, 110),
        ("pop3", Security.SSL, 1995),
        ("smtp", Security.SSL, 465),
        ("smtp", Security.STARTTLS, 587),
        ("smtp", Security.STARTTLS, 25),
        ("smtp", Security.NONE, 25),
        ("smtp", Security.SSL, 2465),
    ],
)
def test_matching_security_and_port_do_not_warn(kind: Any, security: Security, port: int) -> None:
    assert security_port_warning(kind, security, port) is None


def test_mismatch_in_account_is_a_warning_on_the_port_field() -> None:
    problems = validate_account(good(incoming_security=Security.STARTTLS, incoming_port=995))
    assert fields(problems) == ["incoming_port"]
    assert problems[0].severity is Severity.WARNING
    assert not has_errors(problems)

    problems = validate_account(
        good(
            same_credentials_for_outgoing=False,
            outgoing_host="smtp.example.com",
            outgoing_port=587,
            outgoing_security=Security.SSL,
            outgoing_username="alice@example.com",
        )
    )
    assert fields(problems, Severity.WARNING) == ["outgoing_port"]
    assert not has_errors(problems)


def test_no_encryption_warns_that_the_password_is_exposed() -> None:
    problems = validate_account(good(incoming_security=Security.NONE, incoming_port=110))
    problem = only(problems, "incoming_security")
    assert problem.severity is Severity.WARNING
    assert "password crosses the network unencrypted" in problem.message
    assert not has_errors(problems)

    outgoing = good(
        outgoing_host="smtp.example.com", outgoing_port=25, outgoing_security=Security.NONE
    )
    assert only(validate_account(outgoing), "outgoing_security").severity is Severity.WARNING


# --- the Gmail rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [DeletePolicy.AFTER_FETCH, DeletePolicy.AFTER_DAYS, DeletePolicy.WHEN_DELETED_HERE],
)
@pytest.mark.parametrize("username", ["recent:alice@gmail.com", "RECENT:alice@gmail.com"])
def test_gmail_recent_requires_leave_on_server(policy: DeletePolicy, username: str) -> None:
    settings = good(
        email="alice@gmail.com",
        incoming_host="pop.gmail.com",
        username=username,
        delete_policy=policy,
    )
    problem = only(validate_account(settings), "delete_policy")
    assert problem.severity is Severity.ERROR
    assert "last 30 days" in problem.message
    assert "every POP client" in problem.message
    assert "vanish for your other clients" in problem.message
    assert "Leave messages on the server" in problem.message


def test_gmail_recent_with_leave_is_fine_and_plain_username_may_delete() -> None:
    recent = good(username="recent:alice@gmail.com", delete_policy=DeletePolicy.LEAVE)
    assert validate_account(recent) == []
    plain = good(username="alice@gmail.com", delete_policy=DeletePolicy.AFTER_FETCH)
    assert validate_account(plain) == []


# --- delete after days -------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, -1, MAX_DELETE_AFTER_DAYS + 1])
def test_delete_after_days_out_of_range(days: int) -> None:
    settings = good(delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=days)
    problem = only(validate_account(settings), "delete_after_days")
    assert "Days before deleting" in problem.message
    assert f"1 and {MAX_DELETE_AFTER_DAYS}" in problem.message or "negative" in problem.message


@pytest.mark.parametrize("days", [1, 30, MAX_DELETE_AFTER_DAYS])
def test_delete_after_days_in_range(days: int) -> None:
    settings = good(delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=days)
    assert validate_account(settings) == []


@pytest.mark.parametrize(
    "policy", [DeletePolicy.LEAVE, DeletePolicy.AFTER_FETCH, DeletePolicy.WHEN_DELETED_HERE]
)
def test_delete_after_days_ignored_for_other_policies(policy: DeletePolicy) -> None:
    assert validate_account(good(delete_policy=policy, delete_after_days=0)) == []


# --- usernames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("", "Enter the username: usually the full email address."),
        ("   ", "Enter the username: usually the full email address."),
        ("alice\r\nDELE 1", "The username cannot contain control characters."),
        (" alice", "Remove the spaces at the start or end of the username."),
        ("recent:", "Add the address after recent:, as in recent:name@gmail.com."),
        ("a" * 249, "The username is too long (at most 248 bytes)."),
    ],
)
def test_username_invalid(username: str, expected: str) -> None:
    assert validate_username(username) == expected
    assert only(validate_account(good(username=username)), "username").message == expected


@pytest.mark.parametrize("username", ["alice", "alice@example.com", "recent:alice@gmail.com"])
def test_username_valid(username: str) -> None:
    assert validate_username(username) is None


# --- the outgoing side -------------------------------------------------------------------------


def test_outgoing_may_stay_blank_with_same_credentials() -> None:
    assert validate_account(good(same_credentials_for_outgoing=True, outgoing_host="")) == []


def test_outgoing_host_and_username_required_without_same_credentials() -> None:
    problems = validate_account(good(same_credentials_for_outgoing=False))
    assert fields(problems) == ["outgoing_host", "outgoing_username"]
    assert only(problems, "outgoing_host").message == (
        "Enter the outgoing (SMTP) server, e.g. smtp.example.com."
    )
    assert only(problems, "outgoing_username").message == (
        "Enter the outgoing username: usually the full email address."
    )


def test_outgoing_with_own_credentials_valid() -> None:
    settings = good(
        same_credentials_for_outgoing=False,
        outgoing_host="smtp.example.com",
        outgoing_port=587,
        outgoing_security=Security.STARTTLS,
        outgoing_username="alice",
    )
    assert validate_account(settings) == []


def test_filled_outgoing_host_is_checked_even_with_same_credentials() -> None:
    problems = validate_account(good(outgoing_host="smtp example.com"))
    assert only(problems, "outgoing_host").message == "The server name cannot contain spaces."


# --- polling and limits ------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [0, -3, MAX_POLL_MINUTES + 1])
def test_poll_minutes_out_of_range(minutes: int) -> None:
    problem = only(validate_account(good(poll_minutes=minutes)), "poll_minutes")
    assert problem.message.startswith("Minutes between fetches")


@pytest.mark.parametrize("minutes", [1, 5, MAX_POLL_MINUTES])
def test_poll_minutes_in_range(minutes: int) -> None:
    assert validate_account(good(poll_minutes=minutes)) == []


@pytest.mark.parametrize("field", ["max_messages_per_fetch", "max_message_bytes"])
def test_limits_cannot_be_negative(field: str) -> None:
    problem = only(validate_account(good(**{field: -1})), field)
    assert "cannot be negative; use 0 for no limit" in problem.message
    assert validate_account(good(**{field: 0})) == []
    assert validate_account(good(**{field: 200})) == []


def test_limit_typed_as_text() -> None:
    assert validate_limit("-4", what="The limit") == (
        "The limit cannot be negative; use 0 for no limit."
    )
    assert validate_limit("20", what="The limit") is None
    assert validate_limit("lots", what="The limit") == (
        "The limit must be a whole number; “lots” is not."
    )


# --- certificate fingerprint -------------------------------------------------------------------


def test_pinned_fingerprint() -> None:
    valid = ":".join(["AB"] * 32)
    assert validate_fingerprint(valid) is None
    assert validate_fingerprint(valid.lower()) is None
    assert validate_fingerprint(":".join(["AB"] * 20)) is not None  # SHA-1 length
    assert validate_fingerprint("AB" * 32) is not None
    assert validate_account(good(pinned_fingerprint=valid)) == []
    problem = only(validate_account(good(pinned_fingerprint="zz")), "pinned_fingerprint")
    assert "SHA-256" in problem.message


def test_the_setup_package_face_loads_its_modules_only_when_used() -> None:
    code = (
        "import sys, tui.core.setup as setup\n"
        "assert not [m for m in sys.modules if m.startswith('tui.core.setup.')]\n"
        "assert not [m for m in sys.modules if m.startswith('tui.core.secrets')]\n"
        "for name in setup.__all__: getattr(setup, name)\n"
        "assert 'tui.core.setup.doctor' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
