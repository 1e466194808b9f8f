"""The message list's fields from the header block alone, fast: the fetch's per-message parse.

`parse.summarize` runs the email package's feed parser over the header block; for a fetch of
thousands of messages that parser was a third of the storing work. Here the wanted fields are
picked out of the block by regular expressions instead, and each goes through the same decoders
(party domains, `parse._addresses`) or one giving exactly their results on its everyday input
and handing them the rest (`encoded_words.decode`, `addresses`, `utc_date`): the summary is
identical.
Whenever the block is anything but plain `Name: value` lines with folded continuations (a
unix-from line, a line that is not a header, a bare CR, a block cut at the size cap), the full
parser decides, defects and all: the fast path never guesses. Bodies are not looked at (only
the attachment mark is a regular-expression scan).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import getaddresses

from tui.core.mail.blocks import has_attachment, header_block
from tui.core.mail.encoded_words import decode as decode_words
from tui.core.mail.parse import (
    _FOLDING,
    PARTY_HEADERS,
    _addresses,
    _date,
    domains_of,
    summarize,
)
from tui.core.mail.summary import MessageSummary

_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
"""A field name as the feed parser recognises one (printable, no space, no colon)."""
_ODD_LINE = re.compile(rb"\n(?![ \t]|[\x21-\x39\x3b-\x7e]+:)")
"""A line that neither starts a field (`_NAME`) nor continues one: the full parser decides."""
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_WORD = r"[^ \t\r\n()<>@,:;\"\[\]\\]+"
_ADDRESS = re.compile(
    rf"[ \t]*(?:({_LOCAL}@{_DOMAIN})"
    rf'|(?:((?:{_WORD}[ \t]+)*{_WORD})|"([^"\\\r\n,]*)")?[ \t]*<({_LOCAL}@{_DOMAIN})>)[ \t]*'
)
"""One address in its two everyday forms: ``local@domain`` and ``Some Name <local@domain>``
(ASCII dot-atoms; a name of plain words, or one quoted string without a comma). Anything else
goes to `getaddresses`."""
_FWS = re.compile(r"[ \t]+")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
"""``Fri, 01 Mar 2024 08:02:30 +0000``: the form nearly every Date field has (a four-digit
year from 1000: the email package reads years below 100 as 19xx/20xx)."""
_DAY = timedelta(days=1)
_PARTIES = frozenset(name.lower() for name in PARTY_HEADERS)
_WANTED = _PARTIES | {"subject", "date", "message-id"}
_WANTED_FIELD = re.compile(
    rb"\n(%s):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)"
    % b"|".join(re.escape(name.encode()) for name in sorted(_WANTED, key=len, reverse=True)),
    re.IGNORECASE,
)
"""A wanted field (from the LF before it) and its value, continuations included: the other
fields are skipped by the regular-expression engine, LF to LF, not line by line in Python."""


def _text(value: bytes) -> str:
    """A raw field value as `parse.unsurrogate` reads it: UTF-8, else windows-1252; unfolded."""
    if value.isascii():
        text = value.decode("ascii")
    else:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("cp1252", "replace")
    return _FOLDING.sub("", text) if "\n" in text else text


def addresses(
    values: list[str], known: dict[str, list[tuple[str, str]] | None] | None = None
) -> list[tuple[str, str]]:
    """`email.utils.getaddresses(values)`: the same (name, address) pairs, without its
    character-by-character scanner when every address is in an everyday form. `known` keeps
    each value's pairs for the next call (a summary reads From, To and Cc twice)."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        if known is None:
            found = _everyday(value)
        elif value in known:
            found = known[value]
        else:
            found = known[value] = _everyday(value)
        if found is None:
            return getaddresses(values)
        pairs += found
    return pairs


def _everyday(value: str) -> list[tuple[str, str]] | None:
    """The pairs of one value whose addresses are all in an everyday form, else None."""
    pairs: list[tuple[str, str]] = []
    for item in value.split(","):
        match = _ADDRESS.fullmatch(item)
        if match is None:
            return None
        bare, words, quoted, address = match.groups()
        if bare is not None:
            pairs.append(("", bare))
        elif quoted is not None:
            pairs.append((quoted, address))
        else:
            pairs.append((_FWS.sub(" ", words) if words else "", address))
    return pairs


def utc_date(value: str | None) -> datetime | None:
    """`parse._date(value)` (UTC, naive), read directly when it is in RFC 5322's own form."""
    match = _DATE.fullmatch(value) if value else None
    if match is not None:
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        if offset < _DAY:  # else datetime.timezone refuses it: parse._date decides
            with contextlib.suppress(ValueError, OverflowError):
                stamp = datetime(
                    int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second)
                )
                return stamp + offset if sign == "-" else stamp - offset
    return _date(value)


def fields(head: bytes) -> list[tuple[str, str]] | None:
    """(lower-case name, unfolded value) of the wanted fields in a complete header block, in
    order; None when the block is not plain enough to read without the full parser."""
    if head.count(b"\r") != head.count(b"\r\n"):
        return None  # a bare CR is a line break to the feed parser
    if head.endswith(b"\n\r\n"):
        end = len(head) - 3
    elif head.endswith(b"\n\n"):
        end = len(head) - 2
    else:
        return None  # no blank line closes it (cut at the cap)
    if _NAME.match(head) is None or _ODD_LINE.search(head, 0, end) is not None:
        return None  # a continuation first, or a line that is not a header
    return [
        (name.decode("ascii").lower(), _text(value.rstrip(b"\r\n")))
        for name, value in _WANTED_FIELD.findall(b"\n" + head)
    ]


def summarize_fast(raw: bytes) -> MessageSummary:
    """`parse.summarize(raw)`, for the common header block without the email package's parser."""
    try:
        head = header_block(raw)
        summary = head_summary(head)
        if summary is None:
            return summarize(raw)
        return replace(summary, has_attachments=True) if has_attachment(raw, head) else summary
    except Exception:
        return MessageSummary()


def head_summary(head: bytes) -> MessageSummary | None:
    """The summary's fields that come from the header block alone (the attachment mark left
    False); None when the block is not plain enough and `parse.summarize` must read the message.
    May raise on input nobody foresaw: `summarize_fast` then stores the empty summary."""
    found = fields(head)
    if found is None:
        return None

    def every(name: str) -> list[str]:
        return [value for key, value in found if key == name]

    def first(name: str) -> str | None:
        for key, value in found:
            if key == name:
                return value
        return None

    parties = [value for key, value in found if key in _PARTIES]
    decoded: dict[str, str] = {}
    known: dict[str, list[tuple[str, str]] | None] = {}

    def parse(values: list[str]) -> list[tuple[str, str]]:
        return addresses(values, known)

    def decode(value: str) -> str:
        # From, To and Cc are read twice (the list's columns, the party domains): their
        # encoded words are decoded once.
        text = decoded.get(value)
        if text is None:
            text = decoded[value] = decode_words(value)
        return text

    return MessageSummary(
        from_addr=_addresses(every("from"), parse, decode),
        to_addrs=_addresses(every("to") + every("cc"), parse, decode),
        subject=decode_words(first("subject")),
        date=utc_date(first("date")),
        message_id=(first("message-id") or "").strip()[:998],
        party_domains=domains_of(parties, parse, decode),
    )
