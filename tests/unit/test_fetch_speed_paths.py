"""The fetch's cheaper paths give exactly what the plain ones gave (issue #11).

The RETR reader finds the end marker and dot-stuffing in one scan; the header summary looks
for attachment lines only from one LF to the next; new SQLite databases get 32 KiB pages.
Each is checked against the straightforward version over hostile and random inputs. The
receive loop writes batches into one held transaction and commits every 16 MB: what is
written is committed on the way out, whatever ends the loop, and a failed write rolls back.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration.fetch_helpers import make_message
from tui.core.mail import parse
from tui.core.mail.blocks import MAX_HEADER_BYTES, header_block
from tui.core.mail.headers import summarize_fast
from tui.core.mail.parse import _ATTACHMENT, summarize
from tui.core.net.pop3 import wire as wire_module
from tui.core.net.pop3.wire import Pop3Wire
from tui.core.settings import AccountSettings
from tui.core.storage import db as dbmod
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account
from tui.core.sync.batch import BATCH_BYTES, HELD_COMMIT_BYTES, BatchWriter

# ------------------------------------------------------------------------- RETR bodies


def reference_body(stream: bytes) -> bytes:
    """The reader before the single scan: the end marker, then un-stuffing in two passes."""
    end = stream.find(b"\r\n.\r\n")
    if stream.startswith(b".\r\n"):
        return b""
    body = stream[: end + 2]
    if body[:2] == b"..":
        body = body[1:]
    if b"\r\n.." in body:
        body = body.replace(b"\r\n..", b"\r\n.")
    return body


def read_body(stream: bytes, recv_size: int, settle: int, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """`stream` (a body and its end marker, then another reply) through a real socket, read
    `recv_size` bytes at a time with buffers settled past `settle` bytes."""
    monkeypatch.setattr(wire_module, "_RECV_SIZE", recv_size)
    monkeypatch.setattr(wire_module, "_SETTLE", settle)
    ours, theirs = socket.socketpair()
    wire = Pop3Wire(ours, "pair", 1, 5)
    sender = threading.Thread(target=theirs.sendall, args=(stream + b"+OK next\r\n",))
    sender.start()
    try:
        body = wire.read_multiline()
        assert wire.read_line() == b"+OK next"  # nothing of the next reply was eaten
        return body
    finally:
        sender.join(timeout=10)
        wire.close()
        theirs.close()


LINES = st.lists(
    st.sampled_from(["", ".", "..", "...", ".x", "x.", "a\r", "\r", "\n", "text", "..\r", ". "]),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(LINES, st.sampled_from([1, 2, 3, 5, 64]), st.sampled_from([8, 16, 1 << 20]))
def test_any_stuffed_body_reads_back_as_sent(lines: list[str], recv_size: int, settle: int) -> None:
    sent_lines = [line.encode() + b"\r\n" for line in lines]
    sent = b"".join(sent_lines)
    stream = b"".join(b"." + x if x.startswith(b".") else x for x in sent_lines) + b".\r\n"
    with pytest.MonkeyPatch.context() as monkeypatch:
        got = read_body(stream, recv_size, settle, monkeypatch)
    assert got == reference_body(stream) == sent


@pytest.mark.parametrize(
    "stream",
    [
        b".\r\n",
        b"..\r\n.\r\n",
        b"a\r\n..b\r\n.\r\n",
        b"a\r\n.\r.\r\n\r\n.\r\n",  # ".\r" is no end marker
        b"a\r\n.b\r\n..\r\n.\r\n",  # a line with an unstuffed dot, then a stuffed one
        b"x" * 100 + b"\r\n..y" + b"z" * 100 + b"\r\n.\r\n",
    ],
)
def test_hostile_dot_lines(stream: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    for recv_size in (1, 4, 7, 1 << 18):
        assert read_body(stream, recv_size, 16, monkeypatch) == reference_body(stream)


def test_a_stuffed_line_in_a_large_body_is_unstuffed(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"".join(b"line %d\r\n" % i for i in range(20_000))
    stream = body + b"..dotted\r\n" + body + b".\r\n"
    got = read_body(stream, 4096, 64 * 1024, monkeypatch)
    assert got == body + b".dotted\r\n" + body


# ------------------------------------------------------------------------- attachment mark

ATTACHMENT_CASES = [
    b"From: a@b.example\r\n\r\nContent-Disposition: attachment; filename=x\r\n",  # first line
    b"From: a@b.example\r\n\r\nhello\r\ncontent-disposition:\tATTACHMENT\r\n",
    b"From: a@b.example\r\n\r\nhello\nContent-Type: application/pdf;\n name=x.pdf\n",
    b"From: a@b.example\r\n\r\nhello\r\n Content-Disposition: attachment\r\n",  # indented
    b"From: a@b.example\r\n\r\nhello\rContent-Disposition: attachment\r\n",  # bare CR
    b"From: a@b.example\r\n\r\nxContent-Type: text/plain; name=a\r\n",
    b"From: a@b.example\r\n\r\n\r\nContent-Type: text/plain;\r\n\tcharset=x;\r\n\tname = a\r\n",
    b"From: a@b.example\r\nContent-Type: multipart/mixed; name=a\r\n\r\nno mark in the body\r\n",
    b"From: a@b.example\n\nContent-Type: x; name=y",
    b"From: a@b.example\r\n\r\n",
]


@pytest.mark.parametrize("raw", ATTACHMENT_CASES)
def test_the_attachment_mark_is_the_full_parsers(raw: bytes) -> None:
    fast = summarize_fast(raw)
    assert fast == summarize(raw)
    assert fast.has_attachments == (
        _ATTACHMENT.search(raw, len(parse.header_block(raw))) is not None
    )


BODY_LINES = [
    b"Content-Type: a; name=b", b"content-disposition: attachment", b"CONTENT-TYPE: x",
    b" name=c", b"\tname = d", b"text", b"", b"Content-Disposition:inline",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BODY_LINES), max_size=6), st.sampled_from([b"\r\n", b"\n"]))
def test_random_bodies_get_the_full_parsers_mark(lines: list[bytes], eol: bytes) -> None:
    raw = b"From: a@b.example" + eol + eol + eol.join(lines)
    assert summarize_fast(raw).has_attachments == summarize(raw).has_attachments


# ------------------------------------------------------------------------- header block


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b":", b" "]), max_size=16))
def test_the_header_block_ends_where_the_full_parsers_does(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    assert header_block(raw) == parse.header_block(raw)


def test_a_header_block_without_an_end_is_cut_at_the_cap_as_before() -> None:
    raw = b"X: " + b"y" * MAX_HEADER_BYTES + b"\r\n\r\nbody"
    assert header_block(raw) == parse.header_block(raw) == raw[:MAX_HEADER_BYTES]
    cap = MAX_HEADER_BYTES
    for end in (b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\n\n"):
        for shift in range(-5, 2):
            edge = b"X" * (cap + shift - len(end)) + end + b"body"
            assert header_block(edge) == parse.header_block(edge), (end, shift)


# ------------------------------------------------------------------------- page size


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as raw:
        return int(raw.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_database_gets_large_pages(tmp_path: Path) -> None:
    db = dbmod.open_database(f"sqlite:///{tmp_path}/new.db")
    db.close()
    assert _page_size(tmp_path / "new.db") == dbmod.SQLITE_PAGE_SIZE


def test_an_existing_database_keeps_its_pages_and_its_mail(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA page_size = 4096")
        raw.execute("PRAGMA journal_mode = wal")
        raw.execute("CREATE TABLE keep (x)")
        raw.execute("INSERT INTO keep VALUES (42)")
    db = dbmod.open_database(f"sqlite:///{path}")
    try:
        assert db.execute_sql("SELECT x FROM keep").fetchone()[0] == 42
        Account.create(
            owner="o", name="A", email="a@x.example", incoming_host="h", incoming_port=110,
            incoming_security="none", username="u", delete_policy="leave", secret_key="k",
        )  # fmt: skip
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    assert _page_size(path) == 4096


# ------------------------------------------------------------------------- held transactions


@pytest.fixture
def writer_db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "held.db"
    db = dbmod.open_database(f"sqlite:///{path}")
    try:
        yield path
    finally:
        db.close()


def _committed(path: Path) -> int:
    """Messages another connection sees: committed ones only."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        return int(other.execute("SELECT count(*) FROM message_source").fetchone()[0])


def _writer() -> BatchWriter:
    account = AccountStore("tester").create(
        AccountSettings(name="Held", email="a@example.com", incoming_host="h", username="a")
    )
    return BatchWriter(account, dedupe_message_id=False)


def _big(index: int) -> bytes:
    return make_message(index, body=b"x" * (BATCH_BYTES // 2) + b"\r\n")


def test_held_batches_are_written_at_once_and_committed_together(writer_db: Path) -> None:
    writer = _writer()
    with writer.holding():
        for index in range(4):  # two batches of 2 MB written into one open transaction
            writer.add(f"u{index}", _big(index))
        assert writer._written_count == 4 and not writer.pending
        assert _committed(writer_db) == 0 and writer.stored == 0 and writer.commits == 0
        writer.add("small", make_message(99))  # pending, not written yet
    assert _committed(writer_db) == 5 and writer.stored == 5 and writer.commits == 1


def test_held_commits_come_by_bytes(writer_db: Path) -> None:
    writer = _writer()
    per_commit = HELD_COMMIT_BYTES // len(_big(0)) + 1
    with writer.holding():
        for index in range(per_commit + 1):
            writer.add(f"u{index}", _big(index))
        assert writer.commits == 1 and _committed(writer_db) == per_commit
    assert _committed(writer_db) == per_commit + 1


def test_leaving_with_an_error_commits_what_was_written_and_leaves_the_rest(
    writer_db: Path,
) -> None:
    writer = _writer()
    with pytest.raises(ConnectionError), writer.holding():
        for index in range(2):
            writer.add(f"u{index}", _big(index))  # written (2 MB)
        writer.add("pending", make_message(7))
        raise ConnectionError("the server went away")
    assert _committed(writer_db) == 2 and writer.stored == 2
    assert [key for key, _raw, _summary in writer.pending] == ["pending"]
    writer.flush()  # as the engine does after any failure
    assert _committed(writer_db) == 3


def test_a_failed_write_rolls_the_held_transaction_back(writer_db: Path) -> None:
    writer = _writer()
    with pytest.raises(sqlite3.IntegrityError), writer.holding():
        for index in range(2):
            writer.add(f"u{index}", _big(index))
        writer.add("u0", _big(0))  # the same key again: the unique index refuses the batch
        writer.add("u9", _big(9))
    assert _committed(writer_db) == 0 and writer.stored == 0
    assert writer._open is None
    writer.pending.clear()
    writer.add("after", make_message(1))
    writer.flush()  # the connection is usable: no transaction was left open
    assert _committed(writer_db) == 1
