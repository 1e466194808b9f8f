"""The message list's fields of one message (`MessageSummary`), made storable as they are made.

Kept apart from `parse` (the email package): a large fetch gets its summaries from the summary
process (`mail.summary_process`) and builds them here without loading that package at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

UNREADABLE = "?"
"""The party-domain mark of a message whose addresses could not be read: a view that hides any
domain hides it too (fail closed). Never a domain, and not a LIKE wildcard."""
UNREADABLE_DOMAINS = f" {UNREADABLE} "


@dataclass(frozen=True)
class MessageSummary:
    from_addr: str = ""
    to_addrs: str = ""
    subject: str = ""
    date: datetime | None = None
    message_id: str = ""
    has_attachments: bool = False
    party_domains: str = UNREADABLE_DOMAINS
    """The domains of every address in From, Sender, Reply-To, To, Cc and Bcc (and their Resent-
    forms), each with its parent domains, as " a.com b.org " (spaces around each), so a sharing
    rule can exclude mail to or from a domain or any subdomain with a plain LIKE, in SQLite and
    PostgreSQL. `UNREADABLE_DOMAINS` when the addresses could not be read: always excluded."""

    def __post_init__(self) -> None:
        # Whoever made the summary (either reader, the summary process), its texts are stored.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            safe = storable(value)
            if safe is not value:
                object.__setattr__(self, name, safe)


_TEXT_FIELDS = ("from_addr", "to_addrs", "subject", "message_id", "party_domains")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def read_here(raw: bytes) -> MessageSummary:
    """`headers.summarize_fast(raw)`, imported on first use: the summary read in this process,
    when the summary process has none for it (a small fetch, PostgreSQL, a broken child). Only
    then is the email package loaded."""
    from tui.core.mail.headers import summarize_fast

    return summarize_fast(raw)


def storable(text: str) -> str:
    """`text` with what no database column holds replaced by U+FFFD: NUL (PostgreSQL's text
    refuses it) and lone surrogates (nothing encodes them; an RFC 2047 word in UTF-7 decodes to
    one). A stranger's header must not make the batch's INSERT fail: the same message would
    then fail every fetch, and no later mail would ever arrive."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    return text if _UNSTORABLE.search(text) is None else _UNSTORABLE.sub("\ufffd", text)
