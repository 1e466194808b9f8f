"""A new password typed twice, masked, with the mismatch said beside it.

The mismatch shows once the "again" field was left (not while the second copy is still being
typed), and from then on as you type; saving asks for both copies.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from tui.widgets.form_fields import FieldMessage, field_row

MISMATCH = "The two passwords differ: type the same password twice."


class PasswordPair(Vertical):
    """ "New password" and "Again" (`#<prefix>-password`, `#<prefix>-again`) and the problem
    line `#<prefix>-message`. Enter in the first field moves to the second."""

    DEFAULT_CSS = """
    PasswordPair {
        height: auto;
    }
    PasswordPair > FieldMessage {
        padding-left: 18;
    }
    """

    def __init__(self, prefix: str, *, disabled: bool = False) -> None:
        super().__init__(id=f"{prefix}-pair")
        self._prefix = prefix
        self._fields_disabled = disabled
        self._checked_again = False
        """The "again" field was left once: from then on a mismatch is shown live."""

    def compose(self) -> ComposeResult:
        prefix = self._prefix
        for label, suffix in (("New password", "password"), ("Again", "again")):
            yield field_row(
                label,
                Input(
                    password=True,
                    id=f"{prefix}-{suffix}",
                    compact=True,
                    disabled=self._fields_disabled,
                ),
            )
        yield FieldMessage(id=f"{prefix}-message")

    @property
    def first(self) -> Input:
        return self.query_one(f"#{self._prefix}-password", Input)

    @property
    def again(self) -> Input:
        return self.query_one(f"#{self._prefix}-again", Input)

    @property
    def value(self) -> str:
        """The new password ("" when this part is to keep its password)."""
        return "" if self._fields_disabled else self.first.value

    def problem(self, *, final: bool) -> str:
        """What is wrong ("" when fine or empty); `final` when saving."""
        if self._fields_disabled:
            return ""
        first, again = self.first.value, self.again.value
        if not first and not again:
            return ""
        if final and not first:
            return "Type the new password in the first field too."
        if final and not again:
            return "Type the new password again to confirm it."
        if again and first != again and (final or self._checked_again):
            return MISMATCH
        return ""

    def show_problem(self, text: str) -> None:
        self.query_one(FieldMessage).show_error(text)

    def focus_problem(self) -> None:
        """Focus where the fix goes: the second field when the first is filled."""
        (self.again if self.first.value else self.first).focus()

    def clear(self) -> None:
        self.first.value = ""
        self.again.value = ""

    @on(Input.Changed)
    def _typed(self) -> None:
        self.show_problem(self.problem(final=False))

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        if event.input is self.again:
            if event.input.value:
                self._checked_again = True
            self.show_problem(self.problem(final=False))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input is self.first and not self.again.value:
            event.stop()
            self.again.focus()
