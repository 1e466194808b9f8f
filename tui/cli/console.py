"""Where the command line meets the terminal: output, exit codes, prompts and stdin.

Every command writes through a `Console`, so tests capture its output and nothing reaches a
terminal unsanitised: text from servers, certificates and other users may carry escape sequences.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from tui.core.errors import PoptuiError
from tui.core.text import clean

EXIT_OK = 0
EXIT_FAILURE = 1
"""A failure, worded on stderr."""
EXIT_USAGE = 2
"""argparse's own code for a command line it cannot parse."""
EXIT_INTERRUPTED = 130
"""Ctrl+C, as a shell reports a SIGINT."""


class CommandFailed(PoptuiError):
    """A failure already worded for the user; printed on stderr with exit code 1."""


class Printer(Protocol):
    """What a command prints through: a `Console`, or a stand-in that records the lines."""

    def print(self, text: str = "") -> None: ...

    def warn(self, text: str) -> None: ...


class Console:
    """stdout for results, stderr for warnings and failures; injectable so tests can capture them.

    `print` and `warn` pass every line through the sanitiser (keeping line breaks), a last guard
    behind the commands' own cleaning of each untrusted field.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    @property
    def is_terminal(self) -> bool:
        """True when results go to a person's terminal (a progress bar helps), not to a file."""
        return self.out.isatty()

    def print(self, text: str = "") -> None:
        self.out.write(clean(text, multiline=True) + "\n")

    def warn(self, text: str) -> None:
        self.err.write(clean(text, multiline=True) + "\n")

    def json(self, value: Any) -> None:
        """Pretty JSON for scripts; `json.dumps` escapes every control and non-ASCII character."""
        import json

        self.out.write(json.dumps(value, indent=2, default=str) + "\n")

    def failure(self, error: PoptuiError, *, debug: bool = False) -> int:
        """Word an error on stderr, its hint on the next line; the exit code to return.

        With `debug` (`poptui --debug …`) the traceback comes first, for a bug report.
        """
        if debug:
            import traceback

            self.warn("".join(traceback.format_exception(error)).rstrip("\n"))
        self.warn(f"poptui: {error.in_words()}")
        return EXIT_FAILURE


def read_stdin_lines(count: int) -> list[str]:
    """The first `count` lines of stdin (passwords piped in by scripts); none may be empty."""
    lines = [line.rstrip("\r\n") for line in sys.stdin.read().splitlines()]
    if len(lines) < count or any(not line for line in lines[:count]):
        need = "two lines (incoming, then outgoing password)" if count == 2 else "one line"
        raise CommandFailed(f"Expected {need} on stdin")
    return lines[:count]


def prompt_twice(prompt: str) -> str:
    """A new password typed twice on the terminal, without echo."""
    import getpass

    if not sys.stdin.isatty():
        raise CommandFailed("No terminal to ask for the password: pass it with --stdin")
    first = getpass.getpass(prompt)
    if not first:
        raise CommandFailed("Empty password: nothing saved")
    if getpass.getpass("Again: ") != first:
        raise CommandFailed("The two passwords differ: nothing saved")
    return first


def ask_passphrase() -> str:
    """The encrypted password file's passphrase, asked on the terminal when there is one."""
    import getpass

    if not sys.stdin.isatty():
        raise CommandFailed(
            "The encrypted password file needs its passphrase: no terminal to ask it on. "
            "Set POPTUI_SECRETS_PASSPHRASE for scripts and timers."
        )
    return getpass.getpass("Passphrase of poptui's encrypted password file: ")
