"""A stored message made readable: sanitized headers, a text body and its attachment list.

Everything here treats the message as hostile. Header and body text go through
`tui.core.text.clean` (escape sequences, control, C1 and bidi characters removed, the text around
them kept); HTML becomes plain text without fetching anything (`html_text`); attachment names
are reduced to bare, visible file names (`attachments`). Malformed MIME never raises out of
`render_message`: the raw text is shown instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message as EmailMessage

from tui.core.mail import mime
from tui.core.mail.attachments import AttachmentInfo, list_attachments
from tui.core.mail.html_text import html_to_text
from tui.core.mail.parse import decode_header_value, raw_headers, summarize
from tui.core.text import clean

MAX_BODY_CHARS = 500_000
"""Longer bodies are cut for display (the raw source stays whole)."""
MAX_HEADER_CHARS = 2_000

HEADER_NAMES = ("From", "To", "Cc", "Date", "Subject")


@dataclass(frozen=True)
class HeaderLine:
    name: str
    value: str
    """Decoded (RFC 2047) and sanitized to one line."""


@dataclass(frozen=True)
class RenderedMessage:
    headers: tuple[HeaderLine, ...]
    body: str
    """Sanitized text: only "\\n" and "\\t" remain of the control characters."""
    body_type: str
    """"text/plain", "text/html" (converted), "raw" (fallback) or "" (no text body)."""
    attachments: tuple[AttachmentInfo, ...] = ()
    problem: str = ""
    """Set when the message could not be decoded as MIME and raw text is shown instead."""
    truncated: bool = False
    defects: tuple[str, ...] = field(default=())

    def header(self, name: str) -> str:
        for line in self.headers:
            if line.name.lower() == name.lower():
                return line.value
        return ""


def _clean_body(text: str) -> str:
    """Tabs stay: the reader's `TextArea` lines them up on tab stops."""
    return clean(text, multiline=True, keep_tabs=True)


def _body_of(leaves: list[mime.Leaf]) -> tuple[str, str]:
    texts = [leaf for leaf in leaves if not leaf.is_attachment]
    plain = [leaf for leaf in texts if leaf.content_type == "text/plain"]
    if plain:
        return "\n\n".join(mime.leaf_text(leaf) for leaf in plain), "text/plain"
    html = [leaf for leaf in texts if leaf.content_type == "text/html"]
    if html:
        return "\n\n".join(html_to_text(mime.leaf_text(leaf)) for leaf in html), "text/html"
    return "", ""


def _header_lines(message: EmailMessage) -> tuple[HeaderLine, ...]:
    lines = []
    for name in HEADER_NAMES:
        values = raw_headers(message, name)
        if not values and name in ("To", "Cc"):
            continue
        decoded = ", ".join(decode_header_value(value) for value in values)
        lines.append(HeaderLine(name, clean(decoded)[:MAX_HEADER_CHARS].strip()))
    return tuple(lines)


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_BODY_CHARS:
        return text, False
    return text[:MAX_BODY_CHARS], True


def _raw_fallback(raw: bytes, problem: str) -> RenderedMessage:
    summary = summarize(raw)
    headers = (
        HeaderLine("From", clean(summary.from_addr).strip()),
        HeaderLine("To", clean(summary.to_addrs).strip()),
        HeaderLine("Date", f"{summary.date:%Y-%m-%d %H:%M} UTC" if summary.date else ""),
        HeaderLine("Subject", clean(summary.subject).strip()),
    )
    body, truncated = _cut(_clean_body(mime.decode_bytes(raw, None)))
    return RenderedMessage(headers, body, "raw", problem=problem, truncated=truncated)


def render_message(raw: bytes) -> RenderedMessage:
    """Headers, text body and attachment list of a raw message; never raises."""
    try:
        message = mime.parse_bytes(raw)
        leaves = list(mime.leaves(message))
        body, body_type = _body_of(leaves)
        defects = tuple(type(defect).__name__ for defect in message.defects)
        text, truncated = _cut(_clean_body(body))
        return RenderedMessage(
            headers=_header_lines(message),
            body=text,
            body_type=body_type,
            attachments=list_attachments(leaves),
            truncated=truncated,
            defects=defects,
        )
    except Exception as error:  # malformed MIME must never stop the reader
        return _raw_fallback(
            raw, f"This message could not be decoded ({type(error).__name__}); raw text shown."
        )


def extract_body_text(raw: bytes, limit: int = MAX_BODY_CHARS) -> str:
    """The sanitized text body only (no attachment is decoded), for the search index."""
    try:
        body, _ = _body_of(list(mime.leaves(mime.parse_bytes(raw))))
    except Exception:
        body = mime.decode_bytes(raw, None)
    return _clean_body(body[: limit * 2])[:limit]
