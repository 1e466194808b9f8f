"""The help screen: every key of every screen, read from their BINDINGS so it never goes stale."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.screens.dialogs import CentredDialog
from tui.screens.escape_keys import close_key

HelpSection = tuple[str, Sequence[BindingType]]
"""A heading ("Mailbox list") and the bindings listed under it."""


class HelpScreen(CentredDialog[None]):
    """Lists the keys; Esc, F1, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen #help-body {
        height: auto;
        max-height: 70vh;
    }
    HelpScreen .help-row {
        height: auto;
    }
    HelpScreen .help-key {
        width: 14;
        padding-left: 1;
        color: $accent;
        text-style: bold;
    }
    HelpScreen .help-what {
        width: 1fr;
    }
    """

    BINDINGS = [
        close_key(
            "help-close", "Close the help", action="dismiss(None)", keys="escape,f1,question_mark,q"
        ),
    ]

    def __init__(self, sections: Sequence[HelpSection]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static("Keys", classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for heading, bindings in self._sections:
                    yield Static(heading, classes="section-title")
                    for binding in bindings:
                        if isinstance(binding, Binding) and binding.description:
                            yield self._row(binding)
                yield Static(
                    "Keys are letters, Ctrl+letter and F-keys so they work over SSH and in "
                    "tmux. Ctrl+P opens the command palette with the same verbs.",
                    id="help-footnote",
                    classes="dialog-hint",
                )
            yield Static("↑ ↓ scroll · Esc closes", classes="dialog-hint")

    def _key_label(self, binding: Binding, key: str) -> str:
        one_key = dataclasses.replace(binding, key=key.strip(), key_display=None)
        label = self.app.get_key_display(one_key)
        return label.upper() if re.fullmatch(r"f\d{1,2}", label) else label

    def _row(self, binding: Binding) -> Horizontal:
        """Keys on the left; what they do, and the tooltip, wrapping in their own column."""
        keys = ", ".join(self._key_label(binding, key) for key in binding.key.split(","))
        what = Content.styled(binding.description, "bold")
        if binding.tooltip and binding.tooltip != binding.description:
            what = Content.assemble(what, (f" — {binding.tooltip}", "$text-muted"))
        return Horizontal(
            Static(Content(keys), classes="help-key"),
            Static(what, classes="help-what"),
            classes="help-row",
        )
