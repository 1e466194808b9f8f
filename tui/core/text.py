"""THE sanitiser for untrusted text, and small wording helpers shared by the app and the CLI.

Anything a server, a certificate, a message, a file or another user wrote passes through
`clean` before it is shown or printed: terminal escape sequences, C0/C1 controls, bidi
controls and lone surrogates are removed, the text around them is kept. Zero-width characters
stay in text (emoji and some scripts need them); `has_unsafe` refuses them in names.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

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
    | \x1b[\]PX^_] [^\x07\x1b\r\n]* (?:\x07|\x1b\\)?    # OSC/DCS/SOS/PM/APC, to BEL or ST
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                    # two-byte escapes, e.g. ESC c
    """,
    re.VERBOSE,
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x0b\x0c\x85]")


def _unsafe_class(allowed: str) -> re.Pattern[str]:
    """The characters `is_unsafe` names, as one regex class (a per-character Python loop is
    4x slower, and the search indexer cleans every body), less those in `allowed`."""
    controls = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in allowed)
    return re.compile(f"[{re.escape(controls + ''.join(sorted(BIDI_CONTROLS)))}\ud800-\udfff]")


_UNSAFE = _unsafe_class("")
_UNSAFE_MULTILINE = _unsafe_class("\n")
_UNSAFE_MULTILINE_TABS = _unsafe_class("\n\t")


def is_unsafe(char: str) -> bool:
    """True for a character that must never reach a terminal as it is.

    Controls (C0, DEL, C1), bidi controls, and lone surrogates: the email package and
    `os.fsdecode` smuggle undecodable bytes in as those, and a terminal cannot even encode them.
    """
    return unicodedata.category(char) in ("Cc", "Cs") or char in BIDI_CONTROLS


_NAME_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls, format characters (bidi, zero-width, soft hyphen, tags), surrogates, and the
Unicode line and paragraph separators, which break a name onto two lines."""


def has_unsafe(text: str) -> bool:
    """True when `text` holds a control, format (bidi, zero-width, soft hyphen, tag) or
    line-separator character: refused in names, which must look like what they are."""
    return any(unicodedata.category(char) in _NAME_UNSAFE_CATEGORIES for char in text)


def clean(text: str, *, multiline: bool = False, keep_tabs: bool = False) -> str:
    """`text` without escape sequences, control and bidi characters; the rest kept.

    Single-line (the default) turns line breaks and tabs into spaces, for table cells, labels
    and one-line messages; `multiline` keeps line breaks as "\\n" (and a tab as four spaces),
    for error messages and bodies. `keep_tabs` (with `multiline`) leaves tabs as they are, for
    a mail body shown in a `TextArea`, which lines them up on tab stops.
    """
    text = _ESCAPE_SEQUENCES.sub("", text)
    text = _LINE_BREAKS.sub("\n" if multiline else " ", text)
    if not multiline:
        return _UNSAFE.sub("", text.replace("\t", " "))
    if keep_tabs:
        return _UNSAFE_MULTILINE_TABS.sub("", text)
    return _UNSAFE_MULTILINE.sub("", text.replace("\t", "    "))


def one_line(text: str, limit: int = 300, *, keep_end: bool = False) -> str:
    """`clean` text on one line with runs of spaces folded, cut to `limit` characters with "…".

    `keep_end` keeps the last characters instead (the end of a path or a command's last words).
    """
    text = " ".join(clean(text).split())
    if len(text) <= limit:
        return text
    return "…" + text[-limit + 1 :] if keep_end else text[: limit - 1].rstrip() + "…"


def quoted(text: str, limit: int = 40) -> str:
    """What the user typed, echoed inside a message: “…”, cut to `limit` characters.

    Unlike `clean`, anything unprintable (controls, bidi, zero-width, odd spaces) is shown as
    U+FFFD rather than dropped: the message is about what is wrong with the input, so the user
    must see where the bad character sits ("“pop\ufffdexample.com” has other characters").
    """
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "“" + "".join(char if char.isprintable() else "\ufffd" for char in shown) + "”"


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


def describe_age(when: datetime | None, now: datetime) -> str:
    """Ages like "5 min ago" or "3 h ago": short enough for a narrow column."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"
