"""A framed group of widgets whose frame carries a title (set `border_title`), styled once for
every screen that shows one (the sharing view's summary, the policy editor's form)."""

from __future__ import annotations

from textual.containers import Vertical


class TitledPanel(Vertical):
    """A rounded frame, its title in the accent colour; as tall as what it holds."""

    DEFAULT_CSS = """
    TitledPanel {
        height: auto;
        border: round $panel;
        border-title-color: $accent;
        border-title-style: bold;
        padding: 0 1;
    }
    """
