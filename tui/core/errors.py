"""The one root of every error poptui shows a person: a message, and what to do about it.

The command line catches `PoptuiError` and prints `message` (and `hint`); the app maps it to a
notification. Subclasses keep their own fields; nothing here may hold a password or token.
"""

from __future__ import annotations


class PoptuiError(Exception):
    """An error meant for the user: `message` says what happened, `hint` what to do (or "")."""

    hint: str = ""
    """Class-level default; an instance may set its own."""

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message or super().__str__()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def in_words(self) -> str:
        """`message`, then `hint` on the next line when there is one: what the CLI prints."""
        return f"{self.message}\n{self.hint}" if self.hint else self.message
