"""Walking a stored message's MIME tree: its leaves, their names, bytes and decoded text.

The message is hostile: nesting is bounded, lying or unknown charsets fall back to UTF-8 and
windows-1252, raw 8-bit header bytes are decoded instead of becoming U+FFFD, and no function
here raises on malformed input except `parse_bytes`, whose callers catch everything.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32

from tui.core.mail.parse import decode_header_value, raw_headers, unsurrogate

MAX_DEPTH = 40
"""MIME nesting deeper than this is not followed (a crafted message could nest thousands)."""

_LATIN_1 = codecs.lookup("iso-8859-1").name


def parse_bytes(raw: bytes) -> EmailMessage:
    return BytesParser(policy=compat32).parsebytes(raw)


@dataclass
class Leaf:
    """One part without sub-parts: a body, an attachment, or a forwarded message kept whole."""

    part: EmailMessage
    content_type: str
    filename: str
    """Decoded but not sanitised: `attachments.safe_filename` makes it showable."""
    is_attachment: bool
    nested_message: bool = False


def _filename(part: EmailMessage) -> str:
    try:
        # Re-read the two headers that can carry a name from their raw text, so a raw UTF-8
        # name is decoded rather than replaced; the stdlib then does RFC 2231 as usual.
        probe = EmailMessage()
        for header in ("Content-Disposition", "Content-Type"):
            values = raw_headers(part, header)
            if values:
                probe[header] = values[0]
        name = probe.get_filename()
    except Exception:
        return ""
    if not name:
        return ""
    return decode_header_value(unsurrogate(str(name)))


def leaves(part: EmailMessage, depth: int = 0) -> Iterator[Leaf]:
    """The leaf parts in order; a forwarded message is one leaf, not walked into."""
    content_type = part.get_content_type()
    if depth > MAX_DEPTH:
        return
    if content_type == "message/rfc822" and depth > 0:
        yield Leaf(part, content_type, _filename(part), True, nested_message=True)
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, EmailMessage):
                    yield from leaves(sub, depth + 1)
        return
    filename = _filename(part)
    disposition = part.get_content_disposition()
    if content_type.startswith("multipart/"):
        # A multipart without a usable boundary: its payload is just text; show it as such.
        yield Leaf(part, "text/plain", "", False)
        return
    if disposition == "attachment":
        is_attachment = True
    elif content_type in ("text/plain", "text/html"):
        is_attachment = bool(filename) and disposition != "inline"
    else:
        is_attachment = True
    yield Leaf(part, content_type, filename, is_attachment)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; an unknown or lying charset falls back to UTF-8/cp1252.

    A declared ISO-8859-1 is read as windows-1252, as browsers do (WHATWG Encoding): its
    0x80-0x9F are C1 controls nobody writes on purpose, where cp1252 has the “ ” € š ž that
    a mislabelling mailer meant.
    """
    name = ""
    if charset:
        try:
            name = codecs.lookup(charset).name
        except (LookupError, ValueError):
            name = ""
    if name == _LATIN_1:
        name = "cp1252"
    if name and name != "ascii":
        try:
            return data.decode(name, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def payload_bytes(leaf: Leaf) -> bytes:
    """The decoded (base64, quoted-printable) content; a forwarded message as its source."""
    part = leaf.part
    if leaf.nested_message:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
            try:
                return inner[0].as_bytes()
            except Exception:
                return str(inner[0]).encode("utf-8", "surrogateescape")
        return b""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def leaf_text(leaf: Leaf) -> str:
    """The leaf's content as text in its declared charset (not sanitised)."""
    try:
        charset = leaf.part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(payload_bytes(leaf), charset)
