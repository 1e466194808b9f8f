"""THE sanitiser for untrusted text, and small wording helpers shared by the app and the CLI.

Anything a server, a certificate, a message, a file or another user wrote passes through
`clean` before it is shown or printed: terminal escape sequences, C0/C1 controls, bidi and
zero-width format characters are removed, the text around them is kept.
"""

from __future__ import annotations

import re
import unicodedata

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Characters that reorder or re-embed text, used to make `exe.txt` look like `txt.exe`."""

INVISIBLE_FORMAT = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Zero-width characters: harmless in prose, but they make two names look the same."""

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


def is_unsafe(char: str) -> bool:
    """True for a character that must never reach a terminal as it is."""
    return unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS


def has_unsafe(text: str) -> bool:
    """True when `text` holds a control, bidi or zero-width character (for validating names)."""
    return any(is_unsafe(char) or char in INVISIBLE_FORMAT for char in text)


def clean(text: str, *, multiline: bool = False) -> str:
    """`text` without escape sequences, control and bidi characters; the rest kept.

    Single-line (the default) turns line breaks and tabs into spaces, for table cells, labels
    and one-line messages; `multiline` keeps line breaks as "\\n" (and a tab as four spaces),
    for error messages and bodies.
    """
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _LINE_BREAKS.sub("\n" if multiline else " ", text)
    text = text.replace("\t", "    " if multiline else " ")
    return "".join(char for char in text if (multiline and char == "\n") or not is_unsafe(char))


def one_line(text: str, limit: int = 300, *, keep_end: bool = False) -> str:
    """`clean` text on one line with runs of spaces folded, cut to `limit` characters with "…".

    `keep_end` keeps the last characters instead (the end of a path or a command's last words).
    """
    text = " ".join(clean(text).split())
    if len(text) <= limit:
        return text
    return "…" + text[-limit + 1 :] if keep_end else text[: limit - 1].rstrip() + "…"


def human_bytes(size: float, *, short: bool = False) -> str:
    """1023 B, 1.5 KB, 12.3 MB (powers of 1024, as the app has always shown them).

    `short` drops the decimal from 10 upwards ("37 MB"), for narrow columns.
    """
    value = float(size)
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            break
        value /= 1024
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.0f} {unit}" if short and value >= 10 else f"{value:.1f} {unit}"
