"""Untrusted text (account names, addresses, server replies, subjects) made safe to show.

Terminal escape sequences, C0/C1 controls and bidi overrides are removed, and the result is
wrapped in `Text`/`Content` objects, which Textual never parses as markup: `[@click=app.quit]`
in a server's error message stays those characters.
"""

from __future__ import annotations

import re
import unicodedata

from rich.text import Text
from textual.content import Content
from textual.fuzzy import Matcher

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Characters that reorder or re-embed text, used to make `exe.txt` look like `txt.exe`."""

# Whole escape sequences go first, so "\x1b[31m" disappears instead of leaving "[31m" behind.
# Only ESC-introduced (7-bit) forms are parsed as sequences; 8-bit C1 characters are dropped one
# by one, because mislabelled Latin-1 mail is full of them ("ž" decodes to U+009E) and treating
# each as the start of a string sequence would swallow the rest of a line.
_ESCAPE_SEQUENCES = re.compile(
    r"""
      \x1b\[ [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?    # CSI: colours, cursor moves
    | \x1b[\]PX^_] [^\x07\x1b\n]* (?:\x07|\x1b\\)?      # OSC/DCS/SOS/PM/APC, to BEL or ST
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                    # two-byte escapes, e.g. ESC c
    """,
    re.VERBOSE,
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")


def _is_unsafe(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS


def clean(text: str, *, multiline: bool = False) -> str:
    """`text` without escape sequences, control and bidi characters.

    Single-line (the default) turns line breaks and tabs into spaces, for table cells and labels;
    `multiline` keeps line breaks as "\\n", for error messages and bodies.
    """
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _LINE_BREAKS.sub("\n" if multiline else " ", text)
    text = text.replace("\t", " " if not multiline else "    ")
    return "".join(char for char in text if (multiline and char == "\n") or not _is_unsafe(char))


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
