"""The fast RFC 2047 decoder gives exactly what `parse.decode_header_value` gives, errors and
fallbacks included, for any value: everyday words, hostile ones and junk."""

from __future__ import annotations

import base64
import quopri
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.mail.encoded_words import decode
from tui.core.mail.parse import decode_header_value

CHARSETS = st.sampled_from(
    ["utf-8", "UTF-8", "iso-8859-1", "latin-1", "latin_1", "ISO-8859-15", "shift_jis", "koi8-r",
     "us-ascii", "ascii", "unknown-8bit", "windows-1252", "gb2312", "euc-jp", "iso-2022-jp",
     "utf-8*en", "no-such-charset", "", "none"]
)  # fmt: skip
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
RAW = st.binary(max_size=12)


def _payload(data: bytes, encoding: str) -> str:
    if encoding in "bB":
        return base64.b64encode(data).decode("ascii").rstrip("=" if len(data) % 3 == 1 else "")
    return quopri.encodestring(data, header=True).decode("ascii").replace("=\n", "")


@st.composite
def encoded_word(draw: Any) -> str:
    charset = draw(CHARSETS)
    encoding = draw(st.sampled_from("qQbB"))
    how = draw(st.sampled_from(["text", "raw", "junk"]))
    if how == "text":
        try:
            data = draw(TEXT).encode(charset.split("*")[0] or "ascii")
        except (LookupError, UnicodeError):
            data = draw(RAW)
        payload = _payload(data, encoding)
    elif how == "raw":
        payload = _payload(draw(RAW), encoding)
    else:
        payload = draw(
            st.sampled_from(
                ["", " ", "a", "abc", "=", "=4", "=zz", "___", "a?b", "?", "==41", "a=", "=41=",
                 "=\t", "=4=41", "_=5F", "QQ", "QQ=", "QQ==", "Q", "Q===", "!!!!", "YQ", "YWJj"]
            )
        )  # fmt: skip
    return f"=?{charset}?{encoding}?{payload}?="


BETWEEN = st.sampled_from(
    ["", " ", "  ", "\t", " \t ", "abc", " abc ", "(", ")", "\\", " (x) ", "<a@b.example>",
     '"Q"', ",", "=?", "?=", "=?utf-8?q?", "caf\u00e9", " \u00fcber ", "\n", "\r\n ", "\x0b",
     "\x1c", "_", "a=?b"]
)  # fmt: skip
VALUES = st.lists(st.one_of(encoded_word(), BETWEEN), max_size=7).map("".join)


def _outcome(function: Any, value: str) -> tuple[str, Any]:
    try:
        return "ok", function(value)
    except Exception as error:  # the error itself is what is compared
        return "raised", type(error)


@settings(max_examples=3000, deadline=None)
@given(VALUES)
def test_any_value_decodes_as_decode_header_value_does(value: str) -> None:
    assert _outcome(decode, value) == _outcome(decode_header_value, value)


@pytest.mark.parametrize(
    "value",
    [
        None, "", "   ", "plain", "=?utf-8?q?J=C3=B6rg?= <j@x.de>",
        "=?utf-8?B?xYF1a2FzeiDFu8OzxYLEhw==?= <u@example.org>, you@example.com",
        "=?utf-8?Q?Re=3A_Estimate_bud?= =?utf-8?Q?get_office_=C3=BCber_?=",
        "=?shift_jis?B?jbKToSCJ1I5x?=", "=?koi8-r?B?8NLJ18XU?= (x)", "=?iso-8859-1?q?caf=E9?=)",
        "a =?utf-8?b?w6k?= b", "=?utf-8?b?w6k?=\\x", "=?utf-8?b?!!!?=", "=?utf-8?b?w6?=",
        "=?shift_jis?B?sbI=?=",  # half-width katakana: not in iso-2022-jp, so the raw value
        "=?unknown-8bit?q?=FF?=", "=?us-ascii?q?=FF?=", "=?utf-8?q?a?= =?latin-1?q?b?=",
        "=?latin-1?q?a?= =?iso-8859-1?q?b?=", "=?utf-8?q??=", "=?x?q?broken",
        "=?utf-8?q?a?=\n =?utf-8?q?b?=", "caf\u00e9 =?utf-8?q?b?=", "\u0141 =?utf-8?q?b?=",
        # An encoded word of white space between two that touch it is dropped; not otherwise.
        "=?utf-8?q?0?==?utf-8?q? ?==?utf-8?q?0?=", "=?utf-8?q?0?= =?utf-8?q? ?==?utf-8?q?0?=",
        "=?utf-8?q?0?==?utf-8?q? ?= =?utf-8?q?0?=", "=?utf-8?q? ?==?utf-8?q?0?=",
        "=?utf-8?q?0?==?utf-8?q? ?=", "=?utf-8?q?0?==?utf-8?q?_?==?utf-8?q?0?=",
    ],
)  # fmt: skip
def test_known_values_decode_as_decode_header_value_does(value: str | None) -> None:
    assert _outcome(decode, value) == _outcome(decode_header_value, value)  # type: ignore[arg-type]
