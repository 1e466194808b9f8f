"""Names are checked where they enter: a user (role) name on the command line, an account name
on the command line; hostile ones are refused with words that say why (issue #9 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli_helpers import PoptuiRunner
from tui.core.errors import PoptuiError
from tui.core.setup.validation import (
    MAX_USER_NAME_BYTES,
    InvalidName,
    check_user_name,
    validate_user_name,
)

HOSTILE = {
    "line separator": "bob\u2028admin",
    "paragraph separator": "bob\u2029admin",
    "newline": "bob\nadmin",
    "escape": "bob\x1b[2J",
    "bidi override": "bob\u202eimda",
    "zero width": "b\u200bob",
    "soft hyphen": "bo\u00adb",
    "tag character": "bob\U000e0041",
}


@pytest.fixture
def poptui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PoptuiRunner:
    return PoptuiRunner(tmp_path, monkeypatch)


@pytest.mark.parametrize("name", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_user_names_are_refused(name: str) -> None:
    message = validate_user_name(name)
    assert message is not None and "cannot contain control characters" in message
    with pytest.raises(InvalidName) as caught:
        check_user_name(name)
    assert isinstance(caught.value, PoptuiError)
    assert name not in caught.value.message  # the hostile text is not echoed as it is


def test_a_user_name_must_fit_a_postgres_role() -> None:
    longest = "é" * (MAX_USER_NAME_BYTES // 2) + "x"  # 63 bytes in UTF-8
    assert len(longest.encode()) == MAX_USER_NAME_BYTES
    assert check_user_name(longest) == longest
    message = validate_user_name(longest + "x")
    assert message is not None and "at most 63 bytes" in message


@pytest.mark.parametrize(("name", "expected"), [("", "login name"), (" bob", "spaces")])
def test_empty_or_padded_user_names_are_refused(name: str, expected: str) -> None:
    message = validate_user_name(name)
    assert message is not None and expected in message


@pytest.mark.parametrize("name", ["bob", "ana.lima", "jürgen", "o'brien", "x" * 63])
def test_ordinary_user_names_pass(name: str) -> None:
    assert validate_user_name(name) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["admin", "grant", "bob\u2028admin"],
        ["admin", "revoke", "b\u200bob"],
        ["admin", "policy", "clear", "--user", "bob\x1b[2J"],
        ["sharing", "set", "Work", "custom", "--with", "bob\u202eimda"],
        ["admin", "setup-postgres", "--user", "x" * 64],
        ["admin", "setup-postgres", "--admin", "bo\u00adb"],
    ],
)
def test_the_command_line_refuses_bad_user_names(
    poptui: PoptuiRunner, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    result = poptui(*argv)
    assert result.code == 2  # a usage error: nothing ran
    usage = capsys.readouterr().err  # argparse writes its errors to stderr itself
    assert "The user name" in usage
    assert argv[-1] not in usage


def test_the_command_line_refuses_a_two_line_account_name(poptui: PoptuiRunner) -> None:
    result = poptui("account", "add", "Work\u2028Home", "--email", "me@gmail.com")
    assert result.code != 0
    assert "control characters" in result.err
    assert poptui("account", "list").out.count("Work") == 0
