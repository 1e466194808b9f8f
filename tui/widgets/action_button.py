"""The compact button of every dialog and button row: it carries its action
(`Button(action=...)`), so a screen needs no one-line press handler."""

from __future__ import annotations

from textual.widgets import Button
from textual.widgets.button import ButtonVariant


def action_button(
    label: str, action: str | None, *, id: str, variant: ButtonVariant = "default"
) -> Button:
    """`action` is run on press, e.g. "screen.dismiss(None)"; None for a button a screen
    handles with `@on(Button.Pressed, ...)`."""
    return Button(label, id=id, variant=variant, compact=True, action=action)
