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
    bytes (None: unencoded). One pass over the split value, no list of words in between."""
    parts = _ENCODED_WORD.split(value)
    last = len(parts) - 1
    collapsed: list[tuple[bytes, str | None]] = []
    run: bytes | None = None
    run_charset: str | None = None
    lead = parts[0].lstrip()
    if lead:
        run = lead.encode("ascii")
    for at in range(1, last, 4):
        text, between = parts[at + 2], parts[at + 3]
        # decode_header drops every word of white space (as written) between two encoded
        # words: the parts between words below, and an encoded word itself when its
        # neighbours are encoded words that touch it.
        if text.isspace() and at > 1 and not parts[at - 1] and not between and at + 4 < last:
            continue
        charset = parts[at].lower()
        word = _word_bytes(text, parts[at + 1].lower())
        # Runs of one charset are joined (unencoded text never follows unencoded text here, so
        # decode_header's space between two such runs never arises).
        if run is None:
            run, run_charset = word, charset
        elif charset != run_charset:
            collapsed.append((run, run_charset))
            run, run_charset = word, charset
        else:
            run += word
        if between and not (at + 3 < last and between.isspace()):
            collapsed.append((run, run_charset))
            run, run_charset = between.encode("ascii"), None
    if run is not None:
        collapsed.append((run, run_charset))
    return collapsed


def _word_bytes(text: str, encoding: str) -> bytes:
    """The bytes of one encoded word's text, "q" or "b", as `decode_header` decodes them."""
    if encoding == "q":
        # binascii decodes the same bytes in C, except an "=" that ends the text or precedes
        # another (a soft line break to it, kept to quoprimime).
        if text.endswith("=") or "==" in text:
            return quoprimime.header_decode(text).encode("latin-1")
        return binascii.a2b_qp(text, header=True)
    missing = len(text) % 4
    return binascii.a2b_base64(text + "==="[: 4 - missing] if missing else text)


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
