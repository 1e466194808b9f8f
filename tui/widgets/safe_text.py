"""Untrusted text (account names, addresses, server replies, subjects) as Textual renderables.

The text goes through `tui.core.text.clean` and is wrapped in `Text`/`Content` objects, which
Textual never parses as markup: `[@click=app.quit]` in a server's error message stays those
characters.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.fuzzy import Matcher

from tui.core.text import clean


def safe_text(text: str, style: str = "", *, multiline: bool = False) -> Text:
    """A rich `Text` of cleaned `text`, for DataTable cells and other rich renderables."""
    return Text(clean(text, multiline=multiline), style=style, end="")


def safe_content(text: str, style: str = "", *, multiline: bool = False) -> Content:
    """A Textual `Content` of cleaned `text`, for `Static.update` and `Label`."""
    content = Content(clean(text, multiline=multiline))
    return content.stylize(style) if style else content


def highlight_match(matcher: Matcher, text: str) -> Content:
    """Command-palette display of `text` with the matched letters highlighted.

    `Matcher.highlight` parses its candidate as markup, so it must never see an account name.
    """
    cleaned = clean(text)
    content = Content(cleaned)
    score, offsets = matcher.fuzzy_search.match(matcher.query, cleaned)
    if not score:
        return content
    for offset in offsets:
        if not cleaned[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
