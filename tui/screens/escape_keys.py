"""Escape, spelled once: it cancels a dialog, closes a screen or goes back; the footer says which.

Every screen has one such key; here each names only its own id and tooltip (so keys can be
remapped with `set_keymap`), and its action or extra keys where they differ.
"""

from __future__ import annotations

from textual.binding import Binding


def cancel_key(id: str, tooltip: str, *, action: str = "cancel", keys: str = "escape") -> Binding:
    """Leaves a dialog having done nothing; the footer says "Cancel"."""
    return Binding(keys, action, "Cancel", id=id, tooltip=tooltip)


def close_key(id: str, tooltip: str, *, action: str = "close", keys: str = "escape") -> Binding:
    """Closes a screen or a dialog that only shows something; the footer says "Close"."""
    return Binding(keys, action, "Close", id=id, tooltip=tooltip)


def back_key(id: str, tooltip: str, *, action: str = "back", keys: str = "escape,q") -> Binding:
    """Goes back to the screen underneath; the footer says "Back"."""
    return Binding(keys, action, "Back", id=id, tooltip=tooltip)
