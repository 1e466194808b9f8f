"""Untrusted text as Textual renderables: markup stays literal (the cleaning rule itself is
tested for every caller in tests/unit/test_text.py)."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.fuzzy import Matcher
from textual.widgets import Static

from tui.widgets.safe_text import highlight_match, safe_content, safe_text


def test_safe_text_is_never_parsed_as_markup() -> None:
    text = safe_text("[bold red]x[/] [@click=app.quit]quit[/]", "italic")
    assert isinstance(text, Text)
    assert text.plain == "[bold red]x[/] [@click=app.quit]quit[/]"
    assert text.spans == []  # only the base style, nothing from the "markup"


def test_safe_content_is_never_parsed_as_markup() -> None:
    content = safe_content("[link='https://evil.example']x[/link]\x1b[5m")
    assert isinstance(content, Content)
    assert content.plain == "[link='https://evil.example']x[/link]"
    assert not content.spans


def test_static_shows_safe_content_literally() -> None:
    static = Static(safe_content("[@click=app.quit]Win a prize[/]"))
    assert str(static.render()) == "[@click=app.quit]Win a prize[/]"


def test_palette_highlight_does_not_parse_markup() -> None:
    matcher = Matcher("quit")
    shown = highlight_match(matcher, "Switch active mailbox: [@click=app.quit]\x1b[31m")
    assert shown.plain == "Switch active mailbox: [@click=app.quit]"
    assert shown.spans  # the matched letters are highlighted
    assert not any("click" in str(span.style) for span in shown.spans)
