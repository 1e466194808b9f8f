"""The account form's decisions, without a screen: problems, ports, pins, outgoing credentials."""

from __future__ import annotations

from tui.core.settings import AccountSettings
from tui.core.setup.form_rules import (
    LOGIN_NOT_CHECKED,
    PASSWORD_REQUIRED,
    ServerPin,
    form_problems,
    is_gmail_recent,
    outgoing_login,
    outgoing_pin,
    parse_poll_minutes,
    pin_applies,
    port_after_security_change,
)
from tui.core.setup.validation import Problem

ORDER = ("name", "email", "incoming_host", "incoming_port", "password", "poll_minutes")


def good_settings(**changes: object) -> AccountSettings:
    settings = AccountSettings(
        name="Work",
        email="ana@example.com",
        incoming_host="pop.example.com",
        username="ana@example.com",
        outgoing_host="smtp.example.com",
    )
    for name, value in changes.items():
        setattr(settings, name, value)
    return settings


def never_asked() -> str:
    raise AssertionError("the outgoing password was looked up without need")


def test_a_new_account_needs_a_password_an_edited_one_does_not() -> None:
    adding = form_problems(
        good_settings(),
        [],
        existing_names=[],
        editing_name=None,
        password_missing=True,
        order=ORDER,
    )
    assert [(p.field, p.message) for p in adding] == [("password", PASSWORD_REQUIRED)]
    editing = form_problems(
        good_settings(),
        [],
        existing_names=["Work"],
        editing_name="Work",
        password_missing=True,
        order=ORDER,
    )
    assert editing == []


def test_problems_follow_the_fields_and_an_unparsed_number_is_reported_once() -> None:
    unparsed = [Problem("incoming_port", "Port must be a whole number.")]
    problems = form_problems(
        good_settings(name="", incoming_port=0),
        unparsed,
        existing_names=[],
        editing_name=None,
        password_missing=True,
        order=ORDER,
    )
    fields = [problem.field for problem in problems]
    assert fields == ["name", "incoming_port", "password"]
    assert [p for p in problems if p.field == "incoming_port"] == unparsed


def test_a_port_follows_the_security_only_while_it_is_the_default() -> None:
    assert port_after_security_change("995", 995, 110) == "110"
    assert port_after_security_change(" ", 995, 110) == "110"
    assert port_after_security_change("1995", 995, 110) is None


def test_numbers_are_parsed_with_their_limits() -> None:
    assert parse_poll_minutes("5") == (5, None)
    value, message = parse_poll_minutes("0")
    assert value is None and message


def test_recent_usernames_and_pins() -> None:
    assert is_gmail_recent(" Recent:ana@gmail.com")
    assert not is_gmail_recent("ana@gmail.com")
    assert pin_applies("AA:BB", "pop.example.com", " pop.example.com ")
    assert not pin_applies("AA:BB", "pop.example.com", "pop.other.example")
    assert not pin_applies("", "pop.example.com", "pop.example.com")


def test_the_outgoing_pin_belongs_to_its_server() -> None:
    saved = good_settings(outgoing_port=465, outgoing_pinned_fingerprint="SAVED")
    accepted = ServerPin("smtp.example.com", 587, "ACCEPTED")
    assert outgoing_pin("smtp.example.com", 587, accepted=accepted, saved=saved) == "ACCEPTED"
    assert outgoing_pin("smtp.example.com", 465, accepted=accepted, saved=saved) == "SAVED"
    assert outgoing_pin("smtp.other.example", 465, accepted=None, saved=saved) == ""


def test_shared_credentials_check_the_outgoing_server_with_the_incoming_password() -> None:
    login = outgoing_login(
        good_settings(), incoming_password="in-pw", outgoing_password=never_asked
    )
    assert login is not None
    assert (login.password, login.note) == ("in-pw", "")


def test_no_outgoing_server_means_no_check() -> None:
    settings = good_settings(outgoing_host="")
    assert outgoing_login(settings, incoming_password="x", outgoing_password=never_asked) is None


def test_separate_credentials_without_a_password_check_only_the_connection() -> None:
    settings = good_settings(same_credentials_for_outgoing=False, outgoing_username="smtp-user")
    login = outgoing_login(settings, incoming_password="in-pw", outgoing_password=lambda: "")
    assert login is not None
    assert login.settings.outgoing_username == ""
    assert (login.password, login.note) == ("", LOGIN_NOT_CHECKED)
    assert settings.outgoing_username == "smtp-user"  # the form's settings are left alone

    typed = outgoing_login(settings, incoming_password="in-pw", outgoing_password=lambda: "out")
    assert typed is not None
    assert (typed.settings.outgoing_username, typed.password) == ("smtp-user", "out")
