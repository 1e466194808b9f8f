"""The one rule for untrusted text, checked on every path that shows it.

The rule (`tui.core.text.clean`): an escape sequence introduced by ESC goes whole; any other
control, C1 or bidi character is dropped on its own and the text around it stays; line breaks
become spaces on one line or "\\n" in multi-line text; markup is never interpreted.

`CASES` holds the hostile inputs with what `clean` makes of them; `CALLERS` holds every function
that shows untrusted text. Each caller is run on each case: its output must hold the expected
words, none of the `gone` fragments, and no unsafe character. A room that adds a caller (a POP3
error, a secret store's message) adds a row to `CALLERS`.
"""

from __future__ import annotations

import base64
import html
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from textual.fuzzy import Matcher

from tui.core import text
from tui.core.mail.attachments import safe_filename
from tui.core.mail.render import extract_body_text, render_message
from tui.widgets.safe_text import highlight_match, safe_content, safe_text

ALL_BIDI = "".join(sorted(text.BIDI_CONTROLS))


@dataclass(frozen=True)
class Case:
    raw: str
    expected: str
    """Exactly what single-line `clean` returns; other callers must show the same words."""
    gone: tuple[str, ...] = ()
    """Fragments that must not survive anywhere (the payload of an escape sequence)."""


CASES: dict[str, Case] = {
    "plain": Case("plain words", "plain words"),
    "CSI colour": Case("Win \x1b[31mred\x1b[0m now", "Win red now", ("[31m", "[0m")),
    "CSI clear screen": Case("a\x1b[2J\x1b[Hb", "ab", ("[2J",)),
    "OSC 8 link": Case(
        "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ here",
        "click here",
        ("evil.example", "8;;"),
    ),
    "OSC 52 clipboard (BEL)": Case("\x1b]52;c;ZXZpbA==\x07copied", "copied", ("ZXZpbA", "52;")),
    "OSC 52 clipboard (ST)": Case("x\x1b]52;c;ZXZpbA==\x1b\\y", "xy", ("ZXZpbA",)),
    "OSC unterminated: its line only": Case("\x1b]0;title\nnext line", " next line", ("title",)),
    "DCS": Case("a\x1bPq#0;2;0;0;0\x1b\\b", "ab", ("q#0",)),
    "two-byte escape": Case("a\x1bcb", "ab"),
    "C0 and DEL": Case(
        "null\x00byte bell\x07 back\x08space del\x7fete", "nullbyte bell backspace delete"
    ),
    # 8-bit C1 starters are single characters: mislabelled Latin-1 mail is full of them.
    "8-bit CSI mid-line": Case("a\x9b31mb rest", "a31mb rest"),
    "8-bit OSC mid-line": Case("before \x9d0;title after", "before 0;title after"),
    "8-bit DCS mid-line": Case("a\x90junk\x9cb", "ajunkb"),
    "Latin-1 ž (U+009E)": Case("Pozdrav \x9eupanu i svima", "Pozdrav upanu i svima"),
    "every C1": Case(
        "<" + "".join(map(chr, range(0x80, 0xA0))) + ">",
        "< >",  # U+0085 (NEL) is a line break
    ),
    "bidi override": Case("report\u202egnp.exe", "reportgnp.exe"),
    "every bidi control": Case(f"a{ALL_BIDI}b", "ab"),
    # Zero-width characters join emoji and Persian words: kept in text, refused in names.
    "zero-width": Case("zero\u200bwidth \u200djoiner", "zero\u200bwidth \u200djoiner"),
    "line separators": Case(
        "one\r\ntwo\rthree\x85four\u2028five\u2029six\x0bseven\x0ceight",
        "one two three four five six seven eight",
    ),
    "tab": Case("tab\there", "tab here"),
    "Textual markup stays literal": Case(
        "[@click=app.quit]Win[b] a [link='x']prize", "[@click=app.quit]Win[b] a [link='x']prize"
    ),
    "other scripts": Case("Grüße — 日本語 ✓", "Grüße — 日本語 ✓"),
}


# --------------------------------------------------------------------------- the callers


def _encoded_word(value: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(value.encode()).decode() + "?="


def _message(*, subject: str = "s", body: str = "b", html_body: bool = False) -> bytes:
    kind = "html" if html_body else "plain"
    return (
        f"From: a@example.com\r\nSubject: {_encoded_word(subject)}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/{kind}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(body.encode()).decode()
    ).encode()


def _attachment_name(name: str) -> str:
    raw = (
        "From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f"filename*=utf-8''{urllib.parse.quote(name, safe='')}\r\n\r\nx\r\n--b1--\r\n"
    ).encode()
    (attachment,) = render_message(raw).attachments
    return attachment.filename


@dataclass(frozen=True)
class Caller:
    show: Callable[[str], str]
    multiline: bool = False
    """Keeps "\\n" (and maybe "\\t"); a single-line caller must leave neither."""


CALLERS: dict[str, Caller] = {
    "text.clean": Caller(text.clean),
    "text.clean multiline": Caller(lambda s: text.clean(s, multiline=True), multiline=True),
    "text.clean keep_tabs": Caller(
        lambda s: text.clean(s, multiline=True, keep_tabs=True), multiline=True
    ),
    "text.one_line": Caller(text.one_line),
    "widgets safe_text": Caller(lambda s: safe_text(s).plain),
    "widgets safe_content": Caller(lambda s: safe_content(s).plain),
    "widgets highlight_match": Caller(lambda s: highlight_match(Matcher("e"), s).plain),
    "mail header": Caller(lambda s: render_message(_message(subject=s)).header("Subject")),
    "mail plain body": Caller(lambda s: render_message(_message(body=s)).body, multiline=True),
    "mail HTML body": Caller(
        lambda s: (
            render_message(_message(body=f"<pre>{html.escape(s)}</pre>", html_body=True)).body
        ),
        multiline=True,
    ),
    "mail search index": Caller(lambda s: extract_body_text(_message(body=s)), multiline=True),
    "mail attachment name": Caller(_attachment_name),
    "mail safe_filename": Caller(safe_filename),
}


def _words(value: str) -> str:
    return " ".join(value.split())


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("caller_name", list(CALLERS))
def test_every_caller_keeps_the_text_and_drops_only_the_unsafe(
    caller_name: str, case_name: str
) -> None:
    case, caller = CASES[case_name], CALLERS[caller_name]
    shown = caller.show(case.raw)
    if caller_name == "text.clean":
        assert shown == case.expected
    assert _words(case.expected) in _words(shown), (shown, case.expected)
    for fragment in case.gone:
        assert fragment not in shown
    allowed = "\n\t" if caller.multiline else ""
    assert not [char for char in shown if text.is_unsafe(char) and char not in allowed], shown
    assert "\x1b" not in shown


# --------------------------------------------------------------------------- the rule itself


def test_multiline_keeps_line_breaks_and_widens_tabs() -> None:
    assert text.clean("one\r\ntwo\x1b[1m\nthree\u2029four\tfive", multiline=True) == (
        "one\ntwo\nthree\nfour    five"
    )
    assert text.clean("a\r\nb\tc\x0cd\x85e\u2028f\x00", multiline=True, keep_tabs=True) == (
        "a\nb\tc\nd\ne\nf"
    )


def test_lone_surrogates_are_dropped() -> None:
    # os.fsdecode and the email package smuggle undecodable bytes in as these.
    assert text.clean("caf\udce9 bar\ud800") == "caf bar"
    assert text.one_line("x\udcff" * 3) == "xxx"


def test_the_fast_pattern_agrees_with_is_unsafe() -> None:
    """`clean` uses one regex class for speed; it must name exactly what `is_unsafe` names."""
    line_breaks_and_escape = {0x0A, 0x0B, 0x0C, 0x0D, 0x1B, 0x85, 0x2028, 0x2029}
    every = "".join(chr(code) for code in range(0x110000) if code not in line_breaks_and_escape)
    expected = "".join(char for char in every.replace("\t", " ") if not text.is_unsafe(char))
    assert text.clean(every) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Work\x1b[31m",
        "Work\u202e",
        "Wo\x00rk",
        "Wo\x9erk",
        "Zero\u200bwidth",
        "Join\u200d",
        "x\ud800",
        "Work\u2028Home",  # line separator (Zl): a second line in a one-line name
        "Para\u2029graph",  # paragraph separator (Zp)
        "Soft\u00adhyphen",  # format (Cf), invisible
        "Tag\U000e0041",  # tag character (Cf), invisible
        "Mongolian\u180eseparator",  # format (Cf), invisible
    ],
)
def test_has_unsafe_refuses_names_that_could_deceive(name: str) -> None:
    assert text.has_unsafe(name)


@pytest.mark.parametrize("name", ["Work", "Grüße 日本語", "Ana Lima <ana@example.com>"])
def test_has_unsafe_accepts_ordinary_names(name: str) -> None:
    assert not text.has_unsafe(name)


def test_one_line_folds_and_cuts() -> None:
    assert text.one_line("a \n\n b\t\tc") == "a b c"
    assert text.one_line("x" * 10, limit=5) == "xxxx…"
    assert text.one_line("abcdefghij", limit=5, keep_end=True) == "…ghij"


def test_quoted_marks_what_it_cannot_show() -> None:
    """Echoed input shows where a bad character sits, instead of dropping it."""
    assert text.quoted("pop\u200bexample.com") == "“pop\ufffdexample.com”"
    assert text.quoted("a\x1b[31m\u202e") == "“a\ufffd[31m\ufffd”"
    assert text.quoted("x" * 50, limit=5) == "“xxxx…”"
