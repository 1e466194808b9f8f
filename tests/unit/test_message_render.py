"""Rendering stored mail: HTML to text, attachments, hostile names and text, malformed MIME,
and saving attachments without escaping the folder, overwriting, or hiding a full disk."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_message_query import BASE, add, make_account
from tui.core.errors import PoptuiError
from tui.core.mail import mime as mime_tree
from tui.core.mail.attachments import SaveError, safe_filename, save_attachment
from tui.core.mail.html_text import html_to_text
from tui.core.mail.render import extract_body_text, render_message
from tui.core.storage import db as dbmod
from tui.core.storage import queries
from tui.core.storage.mailbox_view import MailboxView

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = (
    "[@click=app.quit]Win \x1b[31mred\x1b[0m \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\"
    " \x1b]52;c;ZXZpbA==\x07 \x9b2J \u202eexe.txt \x07\x00\x7f\x85 [link=https://x]y[/link]"
)


def assert_harmless(text: str) -> None:
    """No escape, control (but \\n and \\t), C1 or bidi character survives."""
    for char in text:
        code = ord(char)
        assert char in "\n\t" or not (code < 0x20 or 0x7F <= code <= 0x9F), repr(text)
        assert char not in BIDI, repr(text)


def mime(
    *,
    subject: str = "Hello",
    sender: str = "Ana Lima <ana@example.com>",
    plain: str | None = "Plain body",
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "bo@example.com"
    message["Cc"] = "cy@example.com"
    message["Subject"] = subject
    message["Date"] = "Fri, 14 Mar 2025 09:30:00 +0000"
    if plain is not None:
        message.set_content(plain)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for filename, data, content_type in attachments or []:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def raw_with_attachment(filename_header: str, data: bytes = b"payload") -> bytes:
    """A message whose attachment's Content-Disposition line is written verbatim."""
    encoded = base64.b64encode(data).decode()
    return (
        "From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; {filename_header}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b1--\r\n"
    ).encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------------------ HTML


def test_html_becomes_text_with_links_shown_as_text() -> None:
    text = html_to_text(
        "<html><head><title>T</title><style>p {color: red}</style>"
        "<script>document.write('x')</script></head><body>"
        "<h1>Invoice &amp; terms</h1><p>Pay   <a href='https://pay.example/i/1'>here</a> or "
        "<a href='https://same.example'>https://same.example</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>"
        "<p><a href='javascript:alert(1)'>harmless</a> <a href='mailto:bo@x.example'>Bo</a></p>"
        "<img src='https://track.example/p.gif'><img alt='Logo' src='cid:logo'>"
        "<pre>  keep\n    indent</pre>line<br>break</body></html>"
    )
    assert "Invoice & terms" in text
    assert "Pay here [https://pay.example/i/1] or https://same.example." in text
    assert "https://same.example [" not in text  # a link whose text is its URL is shown once
    assert "• one\n• two" in text
    assert "1. first\n2. second" in text
    assert "harmless" in text and "javascript:" not in text
    assert "Bo [mailto:bo@x.example]" in text
    assert "[image: Logo]" in text
    assert "track.example" not in text
    assert "  keep\n    indent" in text
    assert "line\nbreak" in text
    for dropped in ("color: red", "document.write", "T\n"):
        assert dropped not in text


def test_a_list_inside_a_list_item_stays_tight() -> None:
    text = html_to_text(
        "<p>Agenda:</p><ol><li>Budget<ul><li>Q1</li><li>Q2</li></ul></li><li>Hiring</li></ol>"
        "<p>after</p>"
    )
    assert text == "Agenda:\n\n1. Budget\n  • Q1\n  • Q2\n2. Hiring\n\nafter"


def test_html_only_message_is_converted_and_nothing_is_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError("network access while rendering")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    raw = mime(
        plain=None,
        html=(
            "<link rel=stylesheet href='https://css.example/a.css'>"
            "<iframe src='https://frame.example/'></iframe>"
            "<p>Hi <img src='https://img.example/x.png' alt='photo'> "
            "<a href='https://shop.example/?a=1&amp;b=2'>shop</a></p>"
        ),
    )
    rendered = render_message(raw)
    assert rendered.body_type == "text/html"
    assert rendered.body == "Hi [image: photo] shop [https://shop.example/?a=1&b=2]"
    assert attempts == []


def test_plain_text_is_preferred_over_html() -> None:
    rendered = render_message(mime(plain="The plain words", html="<p>The HTML words</p>"))
    assert rendered.body_type == "text/plain"
    assert rendered.body.strip() == "The plain words"
    assert rendered.attachments == ()


def test_headers_are_decoded_and_listed() -> None:
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\r\n"
        b"To: a@example.com, b@example.com\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9?= today\r\n"
        b"Date: Fri, 14 Mar 2025 09:30:00 +0100\r\n\r\nbody\r\n"
    )
    rendered = render_message(raw)
    assert [line.name for line in rendered.headers] == ["From", "To", "Date", "Subject"]
    assert rendered.header("from") == "José Pérez <jose@example.com>"
    assert rendered.header("To") == "a@example.com, b@example.com"
    assert rendered.header("Subject") == "Café today"
    assert rendered.header("Date") == "Fri, 14 Mar 2025 09:30:00 +0100"


def test_charsets_and_transfer_encodings() -> None:
    latin = (
        b"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve caf=E9\r\n"
    )
    assert render_message(latin).body.strip() == "naïve café"
    lying = b"Subject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nna\xc3\xafve\r\n"
    assert render_message(lying).body.strip() == "naïve"
    unknown = b"Subject: x\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\ncaf\xc3\xa9\r\n"
    assert render_message(unknown).body.strip() == "café"


# ------------------------------------------------------------------------------ attachments


def test_attachments_are_listed_with_size_and_type() -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 40
    raw = mime(
        plain="See the files.",
        attachments=[("report.pdf", pdf, "application/pdf"), ("notes.txt", b"abc", "text/plain")],
    )
    rendered = render_message(raw)
    assert rendered.body.strip() == "See the files."
    assert [(a.index, a.filename, a.content_type, a.size) for a in rendered.attachments] == [
        (0, "report.pdf", "application/pdf", len(pdf)),
        (1, "notes.txt", "text/plain", 3),
    ]


def test_nameless_parts_and_forwarded_messages_get_safe_names() -> None:
    inner = mime(subject="Inner", plain="inner body")
    raw = (
        b"From: a@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="xx"\r\n\r\n'
        b"--xx\r\nContent-Type: text/plain\r\n\r\nouter body\r\n"
        b"--xx\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"\x89PNG....")
        + b"\r\n--xx\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--xx--\r\n"
    )
    rendered = render_message(raw)
    assert rendered.body.strip() == "outer body"  # the forwarded body is not mixed in
    names = [a.filename for a in rendered.attachments]
    assert names == ["attachment-1.png", "message-2.eml"]
    assert rendered.attachments[1].content_type == "message/rfc822"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ('filename="..\\\\..\\\\windows\\\\win.ini"', "win.ini"),
        ('filename="evil\u202etxt.exe"', "eviltxt.exe"),
        ('filename=".bashrc"', "bashrc"),
        ('filename="/"', "attachment-1.bin"),
        ('filename=".."', "attachment-1.bin"),
        ('filename="\x1b]8;;https://x\x07a\x1b[2Jb.pdf"', "ab.pdf"),
        ('filename="=?utf-8?b?w7xiZXIucGRm?="', "über.pdf"),
        ("filename*=utf-8''%2E%2E%2Fsecret%E2%80%AE.txt", "secret.txt"),
        ('filename="report\x00.pdf"', "report.pdf"),
    ],
)
def test_hostile_attachment_names_are_bare_and_visible(header: str, expected: str) -> None:
    rendered = render_message(raw_with_attachment(header))
    (attachment,) = rendered.attachments
    assert attachment.filename == expected
    assert "/" not in attachment.filename and "\\" not in attachment.filename
    assert_harmless(attachment.filename)


def test_safe_filename_limits_length_and_keeps_the_extension() -> None:
    name = safe_filename("é" * 300 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= 200
    assert safe_filename("   ", "fallback.bin") == "fallback.bin"
    assert safe_filename("a/b\\c") == "c"


# ------------------------------------------------------------------------------ hostile text


def test_escape_sequences_c1_bidi_and_markup_stay_harmless_text() -> None:
    raw = (
        f"From: {HOSTILE} <x@example.com>\r\nSubject: {HOSTILE}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Body {HOSTILE}\r\nnext line\twith tab\r\n"
    ).encode()
    rendered = render_message(raw)
    for line in rendered.headers:
        assert_harmless(line.value)
    assert_harmless(rendered.body)
    subject = rendered.header("Subject")
    assert subject.startswith("[@click=app.quit]Win red link")
    assert "[link=https://x]y[/link]" in subject
    assert "evil.example" not in subject and "ZXZpbA" not in subject
    assert "exe.txt" in subject
    assert "next line\twith tab" in rendered.body
    assert "[@click=app.quit]" in rendered.body


def test_html_entities_cannot_smuggle_control_characters() -> None:
    raw = mime(plain=None, html="<p>a&#27;[31mb &#x202e;c &#155;d &#7;e</p>")
    assert_harmless(render_message(raw).body)


# ------------------------------------------------------------------------------ 8-bit text

MISLABELLED = [
    # ISO-8859-2 has C1 controls at 0x80-0x9F; a cp1250 mailer put "ž" (0x9E) there.
    pytest.param("iso-8859-2", b"Pozdrav \x9eupanu i svima", "Pozdrav upanu i svima", id="latin-2"),
    # A real U+009E, as left by a converter that read cp1252 bytes as Latin-1.
    pytest.param("utf-8", b"Pozdrav \xc2\x9eupanu i svima", "Pozdrav upanu i svima", id="utf-8"),
    # Labelled ISO-8859-1, written in cp1252: read as cp1252, as browsers do, the "ž" is back.
    pytest.param(
        "iso-8859-1", b"Pozdrav \x9eupanu i svima", "Pozdrav \u017eupanu i svima", id="latin-1"
    ),
]


@pytest.mark.parametrize(("charset", "body", "shown"), MISLABELLED)
def test_8bit_c1_in_mislabelled_mail_keeps_the_rest_of_the_line(
    tmp_path: Path, charset: str, body: bytes, shown: str
) -> None:
    """An 8-bit C1 character is dropped alone, in the reader and in the search index.

    The old mail sanitiser read 0x9E (and 0x90, 0x98, 0x9B, 0x9D, 0x9F) as the start of an escape
    sequence and swallowed the rest of the line: "Pozdrav " in the reader, "upanu" unfindable.
    """
    raw = (
        b"From: ana@example.hr\r\nSubject: =?iso-8859-2?q?Sastanak_=9Eupanije?=\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n"
    )
    rendered = render_message(raw)
    assert rendered.body.strip() == shown
    assert rendered.header("Subject") == "Sastanak upanije"

    db = dbmod.open_database(f"sqlite:///{tmp_path}/search.db")
    try:
        account = make_account()
        message = add(account, 1, date=BASE, raw=raw)
        word = shown.split()[1]  # "upanu", or "županu" when the charset is read right
        assert queries.search(MailboxView(account.id), word) == []  # only the body holds it
        assert queries.index_all_bodies() == 1
        assert [row.id for row in queries.search(MailboxView(account.id), word)] == [message]
        assert [row.id for row in queries.search(MailboxView(account.id), "svima")] == [message]
    finally:
        db.close()


# ------------------------------------------------------------------------------ malformed MIME


def nested(depth: int) -> bytes:
    head = b"Subject: deep\r\nMIME-Version: 1.0\r\n"
    parts = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    return head + parts + b"Content-Type: text/plain\r\n\r\nbottom\r\n"


MALFORMED = {
    "empty": b"",
    "headers only": b"Subject: only headers",
    "no boundary": b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nstill text\r\n",
    "unclosed boundary": (
        b'Subject: x\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\n'
        b"--q\r\nContent-Type: text/plain\r\n\r\nopen part"
    ),
    "broken base64": (
        b"Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"@@@not base64!!!\r\n"
    ),
    "bad qp": (b"Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\nok=\r\n"),
    "8-bit headers": b"Subject: caf\xe9 \xff\xfe\r\nFrom: \xc3\xa9 <a@b>\r\n\r\nx",
    "binary garbage": bytes(range(256)) * 8,
    "bad params": (
        b'Subject: x\r\nContent-Type: text/plain; charset="utf-8\r\n'
        b"Content-Disposition: attachment; filename*=bogus''%ZZ\r\n\r\nx"
    ),
    "deep nesting": nested(400),
    "encoded word bomb": b"Subject: " + b"=?utf-8?b?=?=" * 2000 + b"\r\n\r\nx",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_mime_never_raises(name: str) -> None:
    rendered = render_message(MALFORMED[name])
    assert isinstance(rendered.body, str)
    assert_harmless(rendered.body)
    for line in rendered.headers:
        assert_harmless(line.value)
    assert isinstance(extract_body_text(MALFORMED[name]), str)


def test_multipart_without_boundary_shows_its_text() -> None:
    assert "still text" in render_message(MALFORMED["no boundary"]).body


def test_when_parsing_fails_the_raw_text_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(raw: bytes) -> Any:
        raise RecursionError("too deep")

    monkeypatch.setattr(mime_tree, "parse_bytes", explode)
    rendered = render_message(
        b"Subject: Broken \x1b[2J\r\nFrom: a@b\r\n\r\nThe raw \xc2\x9b2Jtext\r\n"
    )
    assert rendered.body_type == "raw"
    assert "could not be decoded" in rendered.problem
    assert "The raw 2Jtext" in rendered.body  # 8-bit CSI: the one control goes (test_text.py)
    assert rendered.header("Subject") == "Broken"
    assert_harmless(rendered.body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_any_bytes_render_without_raising(data: bytes) -> None:
    rendered = render_message(b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n" + data)
    assert_harmless(rendered.body)


def test_extract_body_text_for_search() -> None:
    raw = mime(
        plain=None,
        html="<p>Quarterly <b>figures</b></p>",
        attachments=[("x.bin", b"BINARYNEEDLE", "application/octet-stream")],
    )
    text = extract_body_text(raw)
    assert "Quarterly figures" in text
    assert "BINARYNEEDLE" not in text
    assert extract_body_text(mime(plain="x" * 500), limit=100) == "x" * 100


# ------------------------------------------------------------------------------ saving


PDF = b"%PDF-1.4\n" + os.urandom(5000)


def test_save_writes_the_decoded_attachment_into_the_folder(tmp_path: Path) -> None:
    raw = mime(attachments=[("report.pdf", PDF, "application/pdf")])
    path = save_attachment(raw, 0, tmp_path)
    assert path == tmp_path / "report.pdf"
    assert path.read_bytes() == PDF
    assert path.stat().st_mode & 0o077 == 0  # private: other users on the host cannot read it


def test_save_never_overwrites(tmp_path: Path) -> None:
    raw = mime(attachments=[("report.pdf", PDF, "application/pdf")])
    (tmp_path / "report.pdf").write_bytes(b"precious")
    first = save_attachment(raw, 0, tmp_path)
    second = save_attachment(raw, 0, tmp_path)
    assert (first.name, second.name) == ("report (1).pdf", "report (2).pdf")
    assert (tmp_path / "report.pdf").read_bytes() == b"precious"
    assert first.read_bytes() == second.read_bytes() == PDF


def test_save_to_an_explicit_file_path(tmp_path: Path) -> None:
    raw = mime(attachments=[("report.pdf", PDF, "application/pdf")])
    assert save_attachment(raw, 0, tmp_path / "mine.pdf") == tmp_path / "mine.pdf"
    assert save_attachment(raw, 0, str(tmp_path / "mine.pdf")) == tmp_path / "mine (1).pdf"


@pytest.mark.parametrize(
    "header",
    [
        'filename="../../etc/passwd"',
        'filename="../escape.txt"',
        'filename="/tmp/absolute.txt"',
        'filename="..\\\\up.txt"',
        'filename=".."',
    ],
)
def test_hostile_names_never_leave_the_folder(tmp_path: Path, header: str) -> None:
    folder = tmp_path / "inside" / "downloads"
    folder.mkdir(parents=True)
    path = save_attachment(raw_with_attachment(header), 0, folder)
    assert path.parent == folder
    assert path.read_bytes() == b"payload"
    everything = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert everything == [Path("inside"), Path("inside/downloads"), path.relative_to(tmp_path)]


def test_a_symlink_on_the_name_is_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched")
    (folder / "report.pdf").symlink_to(outside)
    raw = mime(attachments=[("report.pdf", PDF, "application/pdf")])
    path = save_attachment(raw, 0, folder)
    assert path == folder / "report (1).pdf"
    assert outside.read_bytes() == b"untouched"


def test_save_errors_are_worded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = mime(attachments=[("report.pdf", PDF, "application/pdf")])
    with pytest.raises(SaveError, match="no attachment number 2"):
        save_attachment(raw, 1, tmp_path)
    with pytest.raises(SaveError, match="does not exist"):
        save_attachment(raw, 0, tmp_path / "missing" / "x.pdf")

    def denied(*args: Any, **kwargs: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(SaveError, match="No permission to write in") as caught:
        save_attachment(raw, 0, tmp_path)
    assert caught.value.errno == errno.EACCES
    assert isinstance(caught.value, PoptuiError)  # the CLI and the app word it as such


@contextlib.contextmanager
def tiny_tmpfs(directory: Path) -> Iterator[bool]:
    """A 64 KB tmpfs on `directory` (True), or False when mounting is not allowed here."""
    directory.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", f"poptui-{uuid.uuid4().hex[:6]}", directory],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", directory], capture_output=True, check=False)


def test_a_full_disk_is_reported_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = os.urandom(300_000)
    raw = mime(attachments=[("big.bin", big, "application/octet-stream")])
    folder = tmp_path / "small-disk"
    with tiny_tmpfs(folder) as mounted:
        if not mounted:  # no mount permission: make the write itself fail the same way
            real_write = os.write

            def full(fd: int, data: Any) -> int:
                real_write(fd, bytes(data)[:1000])
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "write", full)
        with pytest.raises(SaveError) as caught:
            save_attachment(raw, 0, folder)
        assert caught.value.errno == errno.ENOSPC
        message = str(caught.value)
        assert message.startswith("The disk is full: big.bin (300,000 bytes)")
        assert str(folder) in message
        assert list(folder.iterdir()) == []
        # the disk still works for what fits
        small = mime(attachments=[("small.txt", b"fits", "text/plain")])
        assert save_attachment(small, 0, folder).read_bytes() == b"fits"


def test_full_disk_message_without_a_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    raw = mime(attachments=[("a.bin", b"x" * 10, "application/octet-stream")])
    with pytest.raises(SaveError, match=r"^The disk is full: a.bin \(10 bytes\)"):
        save_attachment(raw, 0, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_core_modules_do_not_import_textual() -> None:
    code = (
        "import sys, tui.core.mail.render, tui.core.storage.queries; "
        "assert 'textual' not in sys.modules and 'rich' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_summary_decodes_raw_8bit_headers() -> None:
    from tui.core.mail.parse import summarize

    assert summarize("Subject: café\r\nFrom: Zoë <z@x.org>\r\n\r\nx".encode()).subject == "café"
    assert summarize(b"Subject: caf\xe9\r\n\r\nx").subject == "caf\xe9"  # Latin-1 fallback
    assert summarize(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx").subject == "café"


def test_the_mail_package_face_loads_the_email_package_only_when_used() -> None:
    code = (
        "import sys, tui.core.mail as mail\n"
        "assert not [m for m in sys.modules if m == 'email' or m.startswith('email.')]\n"
        "for name in mail.__all__: getattr(mail, name)\n"
        "assert 'email.parser' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
