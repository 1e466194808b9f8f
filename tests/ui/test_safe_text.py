"""Untrusted text: escape sequences, controls and bidi overrides go; markup stays literal."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.content import Content
from textual.fuzzy import Matcher
from textual.widgets import Static

from tui.widgets.safe_text import BIDI_CONTROLS, clean, highlight_match, safe_content, safe_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("[b]x[/b]\x1b[31m", "[b]x[/b]"),  # CSI colour: the whole sequence goes
        ("a\x1b[2J\x1b[Hb", "ab"),  # clear screen, cursor home
        ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),  # OSC 8 link
        ("\x1b]52;c;ZXZpbA==\x07copied", "copied"),  # OSC 52 clipboard write
        ("\x1b]0;title\nnext line", " next line"),  # unterminated OSC: up to the line end
        ("a\x9b31mb", "a31mb"),  # 8-bit CSI: the control goes, the harmless rest stays
        ("Z\x9eluva", "Zluva"),  # Latin-1-decoded "ž" does not swallow what follows
        ("a\x85b", "a b"),  # NEL is a line break
        ("bell\x07 back\x08space\x7f", "bell backspace"),
        ("null\x00byte", "nullbyte"),
        ("report\u202egnp.exe", "reportgnp.exe"),  # right-to-left override
        ("\u2066isolate\u2069 \u200emark\u200f \u061calm", "isolate mark alm"),
        ("line\nbreak\r\nand\ttab", "line break and tab"),
        ("[@click=app.quit]Subject[/]", "[@click=app.quit]Subject[/]"),
        ("Grüße — 日本語 ✓", "Grüße — 日本語 ✓"),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_multiline_keeps_line_breaks_only() -> None:
    assert clean("one\r\ntwo\x1b[1m\nthree\u2029four", multiline=True) == "one\ntwo\nthree\nfour"


def test_every_bidi_control_is_removed() -> None:
    text = "".join(sorted(BIDI_CONTROLS))
    assert clean(f"a{text}b") == "ab"


def test_every_c0_and_c1_control_is_removed() -> None:
    controls = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
    cleaned = clean(f"<{controls}>")
    assert cleaned.startswith("<") and cleaned.endswith(">")
    assert all(char == " " or char.isprintable() for char in cleaned)


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
