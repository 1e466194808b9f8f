"""A raw header reads the same in the message list (`summarize`) and the reader (`render`).

Both go through `tui.core.mail.parse.raw_headers`: each header on its own, raw 8-bit bytes
as UTF-8 when they are, else windows-1252, folding undone, then RFC 2047 words decoded.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.mail.headers import summarize_fast
from tui.core.mail.parse import summarize, unsurrogate
from tui.core.mail.render import render_message
from tui.core.mail.summary import storable


def message(subject: bytes, sender: bytes = b"Ana <ana@example.com>") -> bytes:
    return (
        b"From: " + sender + b"\r\nTo: bo@example.com\r\nSubject: " + subject + b"\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nbody\r\n"
    )


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param(b"Caf\xc3\xa9 menu", "Café menu", id="raw-utf8"),
        pytest.param(b"Caf\xe9 menu", "Café menu", id="raw-latin1"),
        pytest.param(b"Price \x80 5 \x93quoted\x94", "Price € 5 “quoted”", id="raw-cp1252"),
        pytest.param(b"=?utf-8?q?Caf=C3=A9?= menu", "Café menu", id="rfc2047"),
        pytest.param(b"Hello\r\n folded", "Hello folded", id="folded"),
    ],
)
def test_list_and_reader_agree_on_the_subject(subject: bytes, expected: str) -> None:
    raw = message(subject)
    assert summarize(raw).subject == expected
    assert render_message(raw).header("Subject") == expected


def test_each_header_is_decoded_on_its_own() -> None:
    """A UTF-8 From next to a Latin-1 Subject: neither is read in the other's charset (the
    list used to decode the whole block as Latin-1 when any byte was not UTF-8)."""
    raw = message(b"Caf\xe9", sender=b"J\xc3\xbcrgen <j@example.com>")
    summary, rendered = summarize(raw), render_message(raw)
    assert summary.from_addr == rendered.header("From") == "Jürgen <j@example.com>"
    assert summary.subject == rendered.header("Subject") == "Café"


def test_unsurrogate_leaves_plain_text_alone() -> None:
    assert unsurrogate("plain") == "plain"
    assert unsurrogate(b"\xe9".decode("ascii", "surrogateescape")) == "é"


# ------------------------------------------------------------ what a database column can hold

_ODD_VALUES = [
    b"=?utf-7?q?+2AA-?=",
    b"=?utf-7?b?K2RnQS0=?=",
    b"=?utf-16?b?2AA=?=",
    b"a\x00b",
    b"=?utf-8?b?AA==?=",
    b"=?utf-32?b?AAD/AA==?=",
    b"\xed\xa0\x80",
    b"=?x-unknown?q?a?=",
]
_VALUES = st.one_of(st.binary(max_size=60), st.sampled_from(_ODD_VALUES))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Cc", "Subject", "Message-ID"]), _VALUES),
                max_size=6))  # fmt: skip
def test_every_summary_text_can_be_stored(fields: list[tuple[str, bytes]]) -> None:
    """Whatever a header holds, the summary's texts encode as UTF-8 and hold no NUL (a
    stranger's message must never make the INSERT fail, on SQLite or PostgreSQL)."""
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    raw += b"\r\nbody\r\n"
    for summary in (summarize(raw), summarize_fast(raw)):
        for text in (summary.from_addr, summary.to_addrs, summary.subject, summary.message_id,
                     summary.party_domains):  # fmt: skip
            assert "\x00" not in text
            text.encode("utf-8")


def test_unstorable_characters_become_replacement_characters() -> None:
    assert storable("a\x00b\ud800c\udfffd") == "a\ufffdb\ufffdc\ufffdd"
    same = "plain ünïcode"
    assert storable(same) is same
    assert summarize(b"Subject: =?utf-7?q?x+2AA-y?=\r\n\r\n").subject == "x\ufffdy"
