"""Tab and Shift+Tab for the form screens, as priority bindings with ids of the screen's own.

Priority, so focus moves before the next key is handed out: over SSH keys arrive in bursts, and
a non-priority Tab is only acted on after it bubbles back from the focused input, by which time
the text typed after it has gone into the wrong field.
"""

from __future__ import annotations

from textual.binding import Binding


def field_focus_bindings(
    prefix: str, *, next_action: str = "app.focus_next", previous_action: str = "app.focus_previous"
) -> list[Binding]:
    """Tab and Shift+Tab, with ids `<prefix>-next-field` and `<prefix>-previous-field`."""
    return [
        Binding(
            "tab",
            next_action,
            "Next field",
            id=f"{prefix}-next-field",
            tooltip="Move to the next field",
            show=False,
            priority=True,
        ),
        Binding(
            "shift+tab",
            previous_action,
            "Previous field",
            id=f"{prefix}-previous-field",
            tooltip="Move to the previous field",
            show=False,
            priority=True,
        ),
    ]
