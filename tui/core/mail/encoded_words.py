"""RFC 2047 encoded words decoded as `parse.decode_header_value` decodes them, without its objects.

`decode_header_value` goes through `email.header.decode_header`, `make_header` and `str()` of the
`Header` it builds: a `Charset` object per word, chunk lists normalised twice. That was the
largest part of a fetch's per-message summary (issue #11). `decode` below follows the very same
steps on plain tuples for the common case, a one-line ASCII value, and returns exactly what
`decode_header_value` returns; anything else (raw 8-bit text, a line break, a word that does not
decode) goes to `decode_header_value` itself, so its results, errors and fallbacks stay its own.
"""

from __future__ import annotations

import binascii
import email.header
import functools
import re
from email import quoprimime
from email.charset import UNKNOWN8BIT, Charset

from tui.core.mail.parse import decode_header_value

_ENCODED_WORD: re.Pattern[str] = vars(email.header)["ecre"]
"""`decode_header`'s own pattern (not in the typing stubs), so the words found are its words."""
_LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e]")
"""What `str.splitlines` breaks an ASCII value at: `decode_header` reads each line alone."""
_ASCII = ("us-ascii",)
"""The charset `Header.__str__` treats as unencoded text."""


def decode(value: str | None) -> str:
    """`parse.decode_header_value(value)`, the same string, faster for one-line ASCII values."""
    if not value:
        return ""
    if "=?" not in value:
        return value.strip()
    if value.isascii() and _LINE_BREAK.search(value) is None:
        try:
            return _joined(_chunks(_collapsed(value))).strip()
        except Exception:  # whatever it is, decode_header_value decides
            pass
    return decode_header_value(value)


@functools.lru_cache(maxsize=64)
def _charset(name: str | None) -> tuple[str, str, str]:
    """(name as `Header` compares it, input codec, output codec) of a word's charset; None is
    the us-ascii of unencoded text. A string its output codec cannot carry is refused (an ASCII
    value decodes to nothing us-ascii cannot carry, so `Header`'s switch to UTF-8 never arises)."""
    charset = Charset("us-ascii" if name is None else name)
    return (
        str(charset.input_charset),
        charset.input_codec or "us-ascii",
        charset.output_codec or "us-ascii",
    )


def _collapsed(value: str) -> list[tuple[bytes, str | None]]:
    """`email.header.decode_header(value)` for one ASCII line: runs of words in one charset as
    bytes (None: unencoded)."""
    parts = _ENCODED_WORD.split(value)
    words: list[tuple[str, str | None, str | None]] = []
    if parts[0].lstrip():
        words.append((parts[0].lstrip(), None, None))
    for at in range(1, len(parts), 4):
        words.append((parts[at + 2], parts[at + 1].lower(), parts[at].lower()))
        if parts[at + 3]:
            words.append((parts[at + 3], None, None))
    # Whitespace between two encoded words is dropped (decode_header's own test, kept as is).
    dropped = {
        n - 1
        for n, word in enumerate(words)
        if n > 1 and word[1] and words[n - 2][1] and words[n - 1][0].isspace()
    }
    collapsed: list[tuple[bytes, str | None]] = []
    last_word: bytes | None = None
    last_charset: str | None = None
    for n, (text, encoding, charset) in enumerate(words):
        if n in dropped:
            continue
        if encoding is None:
            word = text.encode("ascii")
        elif encoding == "q":
            # binascii decodes the same bytes in C, except an "=" that ends the text or
            # precedes another (a soft line break to it, kept to quoprimime).
            if text.endswith("=") or "==" in text:
                word = quoprimime.header_decode(text).encode("latin-1")
            else:
                word = binascii.a2b_qp(text, header=True)
        else:
            missing = len(text) % 4
            word = binascii.a2b_base64(text + "==="[: 4 - missing] if missing else text)
        # Runs of one charset are joined (unencoded text never follows unencoded text here, so
        # decode_header's space between two such runs never arises).
        if last_word is None:
            last_word, last_charset = word, charset
        elif charset != last_charset:
            collapsed.append((last_word, last_charset))
            last_word, last_charset = word, charset
        else:
            last_word += word
    if last_word is not None:
        collapsed.append((last_word, last_charset))
    return collapsed


def _chunks(collapsed: list[tuple[bytes, str | None]]) -> list[tuple[str, str]]:
    """`make_header`: each run decoded in its charset (strictly), then runs whose charsets
    `Header` finds equal joined with a space (`Header._normalize`)."""
    chunks: list[tuple[str, str]] = []
    for word, charset in collapsed:
        name, incoming, outgoing = _charset(charset)
        if incoming == UNKNOWN8BIT:
            text = word.decode("us-ascii", "surrogateescape")
        else:
            text = word.decode(incoming)
        if outgoing != UNKNOWN8BIT:
            text.encode(outgoing)  # Header refuses text its output charset cannot carry
        if chunks and chunks[-1][1] == name:
            chunks[-1] = (f"{chunks[-1][0]} {text}", name)
        else:
            chunks.append((text, name))
    return chunks


def _nonctext(char: str) -> bool:
    return char.isspace() or char in ("(", ")", "\\")


def _joined(chunks: list[tuple[str, str]]) -> str:
    """`str(Header)`: a space where encoded and unencoded text meet without one."""
    out: list[str] = []
    last = ""
    last_space = False
    for text, charset in chunks:
        if charset == UNKNOWN8BIT:
            text = text.encode("ascii", "surrogateescape").decode("ascii", "replace")
        if out:
            space = bool(text) and _nonctext(text[0])
            if last not in _ASCII:
                if charset in _ASCII and not space:
                    out.append(" ")
            elif charset not in _ASCII and not last_space:
                out.append(" ")
        last_space = bool(text) and _nonctext(text[-1])
        last = charset
        out.append(text)
    return "".join(out)
