"""Turning raw message bytes into the few fields the message list needs, never failing.

Raw bytes stay the source of truth; whatever cannot be decoded here is left empty rather than
stopping a fetch. Only headers are parsed at fetch time (fast); bodies are decoded on reading.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from tui.core.mail.blocks import MAX_HEADER_BYTES
from tui.core.mail.summary import UNREADABLE_DOMAINS, MessageSummary

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_ATTACHMENT = re.compile(
    rb"^content-disposition:[ \t]*attachment|^content-type:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*name\s*=",
    re.IGNORECASE | re.MULTILINE,
)
PARTY_HEADERS = (
    "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
    "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Bcc",
)  # fmt: skip
"""Every header naming someone the mail is to or from: a sharing exclusion looks at them all."""
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_AT_DOMAIN = re.compile(r"@\s*([^\s<>,;:\"()\[\]@\\]+)")


def header_block(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES)
    return raw[: match.end()] if match else raw[:MAX_HEADER_BYTES]


def unsurrogate(text: str) -> str:
    """Undo the surrogateescape the email package uses for raw 8-bit header bytes.

    Raw 8-bit headers (not RFC 2047) are usually UTF-8; otherwise windows-1252, a superset of
    Latin-1 for text. The message list and the reader both read headers through here."""
    if text.isascii() or not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def raw_headers(part: Message, name: str) -> list[str]:
    """Header values as sent, raw 8-bit bytes read by `unsurrogate`, unfolded.

    `Message.get` would turn raw 8-bit bytes into U+FFFD before we could decode them.
    """
    wanted = name.lower()
    return [
        _FOLDING.sub("", unsurrogate(str(value)))
        for key, value in part.raw_items()
        if key.lower() == wanted
    ]


def decode_header_value(value: str | None) -> str:
    """RFC 2047 words decoded; undecodable parts kept as they were."""
    if not value:
        return ""
    if "=?" not in value:  # no encoded word: decode_header would hand it back unchanged
        return str(value).strip()
    try:
        return str(make_header(decode_header(value))).strip()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        return str(value).strip()


AddressParser = Callable[[list[str]], list[tuple[str, str]]]
"""`email.utils.getaddresses`, or a faster parser giving the same pairs (`mail.headers`)."""


def _addresses(
    values: list[str],
    parse: AddressParser = getaddresses,
    decode: Callable[[str], str] = decode_header_value,
) -> str:
    try:
        pairs = parse([decode(v) for v in values])
    except (ValueError, TypeError, IndexError):
        return ", ".join(decode(v) for v in values)
    parts = []
    for name, address in pairs:
        if name and address:
            parts.append(f"{name} <{address}>")
        else:
            parts.append(name or address)
    return ", ".join(p for p in parts if p)


class UnreadableAddresses(ValueError):
    """The addresses of a header could not be read: the message counts as excluded."""


def normalize_domain(domain: str) -> str:
    """`domain` as stored and compared: lower case, no trailing dot, IDNA as punycode
    ("Bücher.Example." and "xn--bcher-kva.example" are the same). Raises
    `UnreadableAddresses` when it is not a host name."""
    text = domain.strip().rstrip(".").lower()
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii").lower()
        except UnicodeError as error:
            raise UnreadableAddresses(domain) from error
    labels = text.split(".")
    if not text or not all(_LABEL.match(label) for label in labels):
        raise UnreadableAddresses(domain)
    return text


def with_parents(domain: str) -> list[str]:
    """sub.rival.example -> sub.rival.example, rival.example, example: a rule naming any of them
    matches with a plain substring test (and an excluded domain always has a dot)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


@functools.lru_cache(maxsize=4096)
def _parents_of(domain: str) -> tuple[str, ...]:
    """`with_parents(normalize_domain(domain))`, remembered: a fetch meets the same few domains
    in thousands of messages (a domain that is not a host name raises each time)."""
    return tuple(with_parents(normalize_domain(domain)))


def _domains_of_value(value: str, parse: AddressParser) -> set[str]:
    found: set[str] = set()
    for name, address in parse([value]):
        if "@" in address:
            found.update(_parents_of(address.rpartition("@")[2]))
        elif "@" in name:
            raise UnreadableAddresses(name)
    for match in _AT_DOMAIN.finditer(value):  # "x@rival.example" in a display name counts too
        with contextlib.suppress(UnreadableAddresses):
            found.update(_parents_of(match.group(1)))
    if "@" in value and not found:
        raise UnreadableAddresses(value)
    return found


def domains_of(
    headers: list[str],
    parse: AddressParser = getaddresses,
    decode: Callable[[str], str] = decode_header_value,
) -> str:
    """ " a.com b.org " for the addresses in these header values and their parent domains (lower
    case, unique, sorted); `UNREADABLE_DOMAINS` when an address cannot be read.

    Fails closed: an address whose domain is not a host name, a header that does not parse, or an
    "@domain" in a display name all count (the last adds its domain; the others mark the message
    unreadable)."""
    found: set[str] = set()
    try:
        for value in headers:
            found.update(_domains_of_value(decode(value), parse))
    except (UnreadableAddresses, ValueError, TypeError, IndexError, UnicodeError):
        return UNREADABLE_DOMAINS
    ordered = sorted(found)
    return f" {' '.join(ordered)} " if ordered else ""


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
        complete = _HEADER_END.search(head) is not None or len(raw) <= MAX_HEADER_BYTES
        # Bytes kept as surrogates, each header then decoded on its own exactly as the reader
        # does (`raw_headers`), so a raw 8-bit subject reads the same in the list and the reader.
        parsed = HeaderParser(policy=compat32).parsestr(head.decode("ascii", "surrogateescape"))

        def first(name: str) -> str | None:
            values = raw_headers(parsed, name)
            return values[0] if values else None

        message_id = (first("Message-ID") or "").strip()[:998]
        senders, recipients = raw_headers(parsed, "From"), raw_headers(parsed, "To")
        copied = raw_headers(parsed, "Cc")
        wanted = {name.lower() for name in PARTY_HEADERS}
        parties = [
            _FOLDING.sub("", unsurrogate(str(value)))
            for name, value in parsed.raw_items()
            if name.strip().lower() in wanted
        ]
        # A header block cut short, or one whose lines the parser gave up on (a line that is not
        # a header ends the block early), may hide an address: fail closed.
        readable = complete and not parsed.defects and not parsed.get_payload()
        domains = domains_of(parties) if readable else UNREADABLE_DOMAINS
        return MessageSummary(
            from_addr=_addresses(senders),
            to_addrs=_addresses(recipients + copied),
            subject=decode_header_value(first("Subject")),
            date=_date(first("Date")),
            message_id=message_id,
            has_attachments=_ATTACHMENT.search(raw, len(head)) is not None,
            party_domains=domains,
        )
    except Exception:
        return MessageSummary()
