"""Pieces every form is built from: a labelled field row and the problem line beneath a field.

The look of a row (`.field`, `.field-label`, `.field-body`) is app-wide, in `app.tcss`, because
the account form, the password editor and the secret-store setup share it.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Input, Label, RadioSet, Select, Static

from tui.core.settings import Security
from tui.core.text import clean

ShownProblem = tuple[bool, str]
"""(is_error, message): an error blocks saving, anything else is a warning."""


def field_row(label: str, *body: Widget, id: str | None = None) -> Horizontal:
    """A label on the left and the field (with its messages and hints) beside it."""
    return Horizontal(
        Label(label, classes="field-label"),
        Vertical(*body, classes="field-body"),
        id=id,
        classes="field",
    )


def attr_id(attr: str) -> str:
    """The widget id of a settings attribute: "incoming_port" → "incoming-port"."""
    return attr.replace("_", "-")


def attr_field(attr: str, label: str, widget: Widget, *extra: Widget) -> Horizontal:
    """The row of one settings attribute: `widget` gets the id `<attr-id>`, its problems go to
    the `FieldMessage` `#<attr-id>-message` under it, and the row is `#field-<attr-id>`."""
    wid = attr_id(attr)
    widget.id = wid
    if isinstance(widget, Input | Select | RadioSet):
        widget.compact = True
    return field_row(label, widget, FieldMessage(id=f"{wid}-message"), *extra, id=f"field-{wid}")


def security_select(value: Security) -> Select[Security]:
    """The choice of SSL/TLS, STARTTLS or none, for either server."""
    return Select([(s.label, s) for s in Security], value=value, allow_blank=False)


class FieldMessage(Static):
    """What is wrong with a field, one line a problem: ✗ errors in red, ⚠ warnings in yellow.

    Hidden while there is nothing to say. The messages may quote what the user typed, so they
    are cleaned and shown as `Content`, never as markup.
    """

    DEFAULT_CSS = """
    FieldMessage {
        width: 100%;
        height: auto;
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[ShownProblem, ...] = ()

    def show_problems(self, problems: Iterable[ShownProblem]) -> None:
        shown = tuple((is_error, clean(text)) for is_error, text in problems)
        if shown == self._shown:
            return  # unchanged: skip the re-layout, which is what makes typing feel slow
        self._shown = shown
        lines = [
            Content.assemble(("✗ " if is_error else "⚠ ", "bold"), text).stylize(
                "$text-error" if is_error else "$text-warning"
            )
            for is_error, text in shown
        ]
        self.update(Content("\n").join(lines))
        self.display = bool(lines)

    def show_error(self, text: str) -> None:
        """One error, or nothing when `text` is empty."""
        self.show_problems([(True, text)] if text else [])
