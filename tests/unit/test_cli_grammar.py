"""The command line builds only the grammar of the command it runs, and parses the same.

`build_parser(argv)` leaves out the options of every other command (a tenth of a "nothing new"
fetch from cron); what it parses must not change, and the full help must still list them all.
"""

from __future__ import annotations

import pytest

from tui.cli.parser import build_parser

COMMAND_LINES = [
    ["fetch"],
    ["fetch", "--account", "Work", "--quiet", "--timeout", "5"],
    ["--database", "sqlite:///x.db", "fetch", "--all"],
    ["--database", "fetch", "account", "list"],  # a URL that looks like a command
    ["--database=sqlite:///x.db", "--passphrase-fd", "3", "secrets", "show"],
    ["account", "add", "fetch", "--email", "me@example.com", "--activate"],
    ["account", "remove", "Old", "--keep-mail"],
    ["password", "set", "Work", "--incoming", "--stdin"],
    ["secrets", "use", "command", "Work", "--outgoing", "pass show mail"],
    ["sharing", "set", "Work", "custom", "--with", "bob"],
    ["admin", "policy", "set", "--role", "user", "--users-choice", "--lock"],
    ["messages", "list", "Work", "--limit", "0", "--json"],
    ["doctor", "--json"],
]


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=lambda argv: " ".join(argv))
def test_the_partial_grammar_parses_as_the_whole_one(argv: list[str]) -> None:
    assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch", "--account"],
        ["fetch", "--no-such-option"],
        ["account", "remove", "Old"],  # --keep-mail or --drop-mail is required
        ["fetch", "--message-deadline", "-1"],
        ["no-such-command"],
    ],
)
def test_the_partial_grammar_refuses_what_the_whole_one_refuses(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as partial:
        build_parser(argv).parse_args(argv)
    partial_err = capsys.readouterr().err
    with pytest.raises(SystemExit) as whole:
        build_parser().parse_args(argv)
    assert partial.value.code == whole.value.code == 2
    assert partial_err == capsys.readouterr().err


def test_help_lists_every_command_whichever_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(["--help"]).parse_args(["--help"])
    whole = capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser(["fetch"]).parse_args(["--help"])
    assert capsys.readouterr().out == whole
    for command in ("account", "password", "secrets", "fetch", "sharing", "admin", "doctor"):
        assert f"    {command} " in whole
