"""Turning raw message bytes into the few fields the message list needs, never failing.

Raw bytes stay the source of truth; whatever cannot be decoded here is left empty rather than
stopping a fetch. Only headers are parsed at fetch time (fast); bodies are decoded on reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ATTACHMENT = re.compile(
    rb"^content-disposition:[ \t]*attachment|^content-type:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*name\s*=",
    re.IGNORECASE | re.MULTILINE,
)
MAX_HEADER_BYTES = 256 * 1024
"""Header blocks beyond this are cut for parsing; the raw message is stored whole regardless."""


@dataclass(frozen=True)
class MessageSummary:
    from_addr: str = ""
    to_addrs: str = ""
    subject: str = ""
    date: datetime | None = None
    message_id: str = ""
    has_attachments: bool = False
    party_domains: str = ""
    """The domains of From, To and Cc as " a.com b.org " (spaces around each), so a sharing
    rule can exclude mail to or from a domain with a plain LIKE, in SQLite and PostgreSQL."""


def header_block(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES)
    return raw[: match.end()] if match else raw[:MAX_HEADER_BYTES]


def decode_header_value(value: str | None) -> str:
    """RFC 2047 words decoded; undecodable parts kept as they were."""
    if not value:
        return ""
    try:
        return str(make_header(decode_header(value))).strip()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        return str(value).strip()


def _addresses(values: list[str]) -> str:
    try:
        pairs = getaddresses([decode_header_value(v) for v in values])
    except (ValueError, TypeError, IndexError):
        return ", ".join(decode_header_value(v) for v in values)
    parts = []
    for name, address in pairs:
        if name and address:
            parts.append(f"{name} <{address}>")
        else:
            parts.append(name or address)
    return ", ".join(p for p in parts if p)


def domains_of(headers: list[str]) -> str:
    """ " a.com b.org " for the addresses in these header values (lower case, unique, sorted)."""
    try:
        pairs = getaddresses([decode_header_value(v) for v in headers])
    except (ValueError, TypeError, IndexError):
        return ""
    domains = {a.rpartition("@")[2].strip().strip(">").lower() for _, a in pairs if "@" in a}
    found = sorted(domains - {""})
    return f" {' '.join(found)} " if found else ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def summarize(raw: bytes) -> MessageSummary:
    """From, To, Subject, Date, Message-ID and an attachment mark, best effort, never raising."""
    try:
        head = header_block(raw)
        # Raw 8-bit headers (not RFC 2047) are usually UTF-8; otherwise Latin-1 keeps every byte.
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head.decode("latin-1")
        headers = HeaderParser(policy=compat32).parsestr(text)
        message_id = (headers.get("Message-ID") or "").strip()[:998]
        parties = [
            *(headers.get_all("From") or []),
            *(headers.get_all("To") or []),
            *(headers.get_all("Cc") or []),
        ]
        return MessageSummary(
            from_addr=_addresses(headers.get_all("From") or []),
            to_addrs=_addresses((headers.get_all("To") or []) + (headers.get_all("Cc") or [])),
            subject=decode_header_value(headers.get("Subject")),
            date=_date(headers.get("Date")),
            message_id=message_id,
            has_attachments=_ATTACHMENT.search(raw, len(head)) is not None,
            party_domains=domains_of(parties),
        )
    except Exception:
        return MessageSummary()
