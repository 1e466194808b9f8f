"""Passwords printed by a command per mailbox, e.g. ``pass show mail/work`` (getmail6's
password_command, mpop's passwordeval). Read-only: poptui never writes them."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Mapping
from typing import NamedTuple

from tui.core.secrets.base import SecretKind, password_words, secret_id
from tui.core.secrets.errors import (
    PasswordCommandError,
    ReadOnlyStoreError,
    SecretStoreError,
    redact,
)
from tui.core.text import one_line

DEFAULT_COMMAND_TIMEOUT = 10.0

# Characters that only mean something to a shell. A command without them is split with shlex
# and run directly: no shell quoting surprises, no extra process. A command with them was
# written for a shell, so it runs with /bin/sh -c as mpop's passwordeval does.
_SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~#\n")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class PasswordCommand(NamedTuple):  # not a dataclass: `poptui fetch` skips that import
    """One command line, and how it runs: split into argv, or (`argv` None) by the shell."""

    text: str
    argv: tuple[str, ...] | None
    """None: run with the shell."""

    @classmethod
    def parse(cls, text: str) -> PasswordCommand:
        """Check a command line as typed; raises `SecretStoreError` saying what is wrong."""
        text = text.strip()
        if not text:
            raise SecretStoreError("A password command cannot be empty.")
        if _SHELL_SYNTAX.intersection(text) or _ASSIGNMENT.match(text):
            return cls(text, None)
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            message = f"The password command `{text}` cannot be read: {exc}."
            raise SecretStoreError(message) from None
        return cls(text, argv)


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and its children (pass runs gpg), then reap it without hanging."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        # A grandchild in another session still holds the pipes: stop reading them.
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait(timeout=2)


def _run_password_command(
    command: PasswordCommand, timeout: float, label: str
) -> tuple[str | None, PasswordCommandError | None]:
    """Run the command; return the first line of its output, or the error to raise."""
    what = f"The password command `{command.text}` ({label})"
    args: str | list[str] = command.text if command.argv is None else list(command.argv)
    try:
        proc = subprocess.Popen(
            args,
            shell=command.argv is None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout can stop all of it
        )
    except FileNotFoundError:
        program = command.argv[0] if command.argv else command.text
        return None, PasswordCommandError(f"{what} could not be started: {program} was not found.")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, PasswordCommandError(f"{what} could not be started: {reason}.")
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_process_group(proc)
        return None, PasswordCommandError(
            f"{what} did not finish within {timeout:g} s and was stopped. Is it waiting for a "
            "passphrase or a PIN (gpg-agent, a security key)? Unlock that first and try again."
        )
    output = stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        # Some tools print the password and then fail: never echo stdout, even via stderr.
        hidden = [line.strip() for line in output.splitlines() if line.strip()]
        message = one_line(redact(stderr.decode("utf-8", "replace"), hidden), keep_end=True)
        status = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"failed with exit status {proc.returncode}"
        )
        said = f": {message}" if message else " without an error message."
        return None, PasswordCommandError(f"{what} {status}{said}")
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None, PasswordCommandError(f"{what} printed something that is not UTF-8 text.")
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        return None, PasswordCommandError(f"{what} printed no password on its first line.")
    return password, None


class PasswordCommandStore:
    """Passwords printed by a command per account and kind, e.g. ``pass show mail/work``.

    Read-only: poptui never writes them, the user changes them where the command reads them.
    The first line of standard output is the password; stdin is /dev/null; the command and
    its children are killed after `timeout` seconds.
    """

    def __init__(
        self,
        commands: Mapping[tuple[str, SecretKind], str],
        *,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> None:
        self._commands = {
            secret_id(account_key, kind): PasswordCommand.parse(text)
            for (account_key, kind), text in commands.items()
        }
        self._timeout = timeout

    def command_for(self, account_key: str, kind: SecretKind) -> str | None:
        command = self._commands.get(secret_id(account_key, kind))
        return command.text if command is not None else None

    def describe(self) -> str:
        texts = sorted({command.text for command in self._commands.values()})
        if len(texts) == 1:
            return f"password command: {texts[0]}"
        return f"password commands ({len(texts)} configured)"

    def __repr__(self) -> str:
        return f"PasswordCommandStore({len(self._commands)} commands)"

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        command = self._commands.get(secret_id(account_key, kind))
        if command is None:
            return None
        label = f"{one_line(mailbox, 80)}, {kind.value}" if mailbox else kind.value
        password, failure = _run_password_command(command, self._timeout, label)
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        del password  # never stored, never kept in this frame
        command = self.command_for(account_key, kind)
        if command is None:
            whose = f"{one_line(mailbox, 80)} has" if mailbox else "this mailbox has"
            raise ReadOnlyStoreError(
                f"Passwords come from password commands, and {whose} none for its "
                f"{kind.value} server. Add one in the account's settings."
            )
        raise ReadOnlyStoreError(
            f"The {password_words(kind, mailbox)} comes from the command `{command}`; "
            "poptui cannot change it. Change it where that command reads it (for pass: "
            "`pass edit NAME`), and poptui uses the new one on the next fetch."
        )

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        """Nothing to do: poptui stored nothing. The command's own secret stays where it is."""
