"""The summary process (`mail.summary_process`): a real child Python reading header blocks.

Every test compares against `headers.summarize_fast`, the in-process reading the fetch used
before: whatever the child does (answer, die, hang, talk nonsense, get a Ctrl+C), each message
gets exactly its own summary, in order, and a broken child is given up, never waited for long.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tui.core.mail import summary_process
from tui.core.mail.blocks import MAX_HEADER_BYTES
from tui.core.mail.headers import summarize_fast
from tui.core.mail.summary import MessageSummary
from tui.core.mail.summary_process import SummaryProcess


def odd_messages() -> list[bytes]:
    """Header blocks the fast reader hands to the full parser, or that try to break either."""
    attachment = (
        b"From: a@example.org\r\nSubject: files\r\nContent-Type: multipart/mixed; b=x\r\n\r\n"
        b"--x\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nJVBERi0=\r\n--x--\r\n"
    )
    return [
        attachment,
        b"From someone@example.org Mon Jan  1 00:00:00 2024\nFrom: a@b.example\nSubject: mbox\n\nx",
        b"From: a@b.example\rSubject: bare CR\r\n\r\nbody",
        b'Subject: =?utf-8?b?w6nDqMOg?= =?iso-8859-1?q?caf=E9?=\r\nFrom: "Q, R" <q@r.example>'
        b"\r\nTo: x@y.example, Some Name <z@w.example>\r\nDate: Fri, 01 Mar 2024 08:02:30 +0530"
        b"\r\n\r\nbody",
        "Subject: raw 8-bit ünïcödé\r\nFrom: Zoë <zoe@ex.example>\r\n\r\nbody".encode(),
        b"Subject: latin-1 \xe9t\xe9\r\nFrom: x@y.example\r\n\r\n",
        b"Subject: no blank line ends this block",
        b"",
        b"\r\n\r\nno headers at all",
        b"Subject: folded\r\n  over\r\n\tthree lines\r\nDate: not a date\r\n\r\n",
        b"Date: Fri, 01 Mar 0999 08:02:30 +9999\r\nFrom: <>\r\nTo: ,,,\r\n\r\n",
        b"X-Filler: " + b"y" * (MAX_HEADER_BYTES + 10) + b"\r\nSubject: past the cap\r\n\r\n",
        b"Subject: nul \x00 and \x1b[31mescape\r\nMessage-ID: <" + b"m" * 2000 + b">\r\n\r\n",
    ]


def messages(count: int) -> list[bytes]:
    plain = [make_message(index) for index in range(count)]
    odd = odd_messages()
    return [plain[i] if i % 7 else odd[(i // 7) % len(odd)] for i in range(count)]


@pytest.fixture
def process() -> Iterator[SummaryProcess]:
    started = SummaryProcess.start()
    assert started is not None
    yield started
    started.close()
    assert started._child.wait(timeout=5) is not None, "close() left the child running"


def summaries(process: SummaryProcess, raws: list[bytes]) -> list[MessageSummary]:
    """All sent first, then all read back: the order a fetch's two threads keep."""
    marks = [process.send(raw) for raw in raws]
    assert None not in marks
    return [process.summary(raw, bool(mark)) for raw, mark in zip(raws, marks, strict=True)]


def test_the_childs_summaries_are_the_in_process_ones(process: SummaryProcess) -> None:
    raws = messages(400)
    assert summaries(process, raws) == [summarize_fast(raw) for raw in raws]
    assert not process.broken
    read_fully = summarize_fast(odd_messages()[0])
    assert read_fully.has_attachments and read_fully.subject == "files"


def test_a_child_killed_midway_leaves_every_message_its_own_summary(
    process: SummaryProcess,
) -> None:
    raws = messages(300)
    marks = [process.send(raw) for raw in raws[:100]]
    pairs = zip(raws[:50], marks[:50], strict=True)
    got = [process.summary(raw, bool(mark)) for raw, mark in pairs]
    os.kill(process._child.pid, signal.SIGSTOP)
    marks += [process.send(raw) for raw in raws[100:200]]  # never read by the child
    os.kill(process._child.pid, signal.SIGKILL)
    process._child.wait()
    pairs = zip(raws[50:200], marks[50:], strict=True)
    got += [process.summary(raw, bool(mark)) for raw, mark in pairs]
    assert got == [summarize_fast(raw) for raw in raws[:200]]
    assert "ended" in process.broken
    assert [process.send(raw) for raw in raws[200:]] == [None] * 100, "a dead child got work"


def test_a_child_that_stops_answering_is_given_up_in_time(
    process: SummaryProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary_process, "WAIT_SECONDS", 0.5)
    raws = messages(20)
    os.kill(process._child.pid, signal.SIGSTOP)
    marks = [process.send(raw) for raw in raws]  # the pipe holds them all
    started = time.monotonic()
    got = [process.summary(raw, bool(mark)) for raw, mark in zip(raws, marks, strict=True)]
    assert time.monotonic() - started < 3
    assert got == [summarize_fast(raw) for raw in raws]
    assert "in time" in process.broken


@pytest.mark.parametrize("filler", [MAX_HEADER_BYTES - 100, 200_000], ids=["at the cap", "200 KB"])
def test_a_child_that_takes_no_input_is_given_up_in_time(
    process: SummaryProcess, monkeypatch: pytest.MonkeyPatch, filler: int
) -> None:
    """Whatever room the pipe has left (200 KB blocks leave some, less than a block), a send
    returns within its deadline; it never blocks in the write."""
    monkeypatch.setattr(summary_process, "WAIT_SECONDS", 0.5)
    os.kill(process._child.pid, signal.SIGSTOP)
    huge = b"Subject: x\r\nX-Filler: " + b"z" * filler + b"\r\n\r\n"
    marks: list[bool | None] = []
    sending = threading.Thread(
        target=lambda: marks.extend(process.send(huge) for _ in range(30)), daemon=True
    )  # far more than any pipe holds
    sending.start()
    sending.join(timeout=5)
    assert not sending.is_alive(), "a send blocked past its deadline"
    assert None in marks
    sent = marks[: marks.index(None)]
    assert all(mark is False for mark in sent)
    # What was sent before it broke is still answered, from the message itself.
    assert [process.summary(huge, False) for _ in sent] == [summarize_fast(huge)] * len(sent)


NONSENSE_CHILD = r"""
import marshal, os, struct, sys
answers = [
    marshal.dumps(("a", 2, "c", None, "e", "f")), b"\xff\x00garbage", marshal.dumps(("a", "b"))
]
for index in range(3):
    head = os.read(0, 1 << 20)
    if not head:
        break
    answer = answers[int(sys.argv[1])]
    os.write(1, struct.pack("<I", len(answer)) + answer)
"""


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["wrong types", "not marshal", "wrong shape"])
def test_a_child_answering_nonsense_is_not_believed(kind: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", NONSENSE_CHILD, str(kind)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    process = SummaryProcess(child)
    raw = make_message(1)
    try:
        mark = process.send(raw)
        assert mark is not None
        assert process.summary(raw, mark) == summarize_fast(raw)
        assert "not a summary" in process.broken
    finally:
        process.close()


def test_ctrl_c_does_not_end_the_child(process: SummaryProcess) -> None:
    raws = messages(30)
    time.sleep(0.3)  # let it reach its loop (its SIGINT handler is set before)
    os.kill(process._child.pid, signal.SIGINT)
    assert summaries(process, raws) == [summarize_fast(raw) for raw in raws]
    assert not process.broken


def test_the_child_ends_when_its_parent_is_gone(process: SummaryProcess) -> None:
    """A fetch killed outright closes the pipe by dying: the child ends on its own."""
    assert process._child.stdin is not None
    process._child.stdin.close()
    assert process._child.wait(timeout=5) == 0


def test_no_child_is_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert SummaryProcess.start() is None


def test_a_child_that_dies_at_start_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """It starts but dies at once (here: its program fails): every summary read here."""
    monkeypatch.setattr(summary_process, "_BOOTSTRAP", "import no_such_module")
    process = SummaryProcess.start()
    assert process is not None, "the interpreter itself starts"
    try:
        raws = messages(10)
        marks = [process.send(raw) for raw in raws]
        asked = [(raw, mark) for raw, mark in zip(raws, marks, strict=True) if mark is not None]
        got = [process.summary(raw, mark) for raw, mark in asked]
        assert got == [summarize_fast(raw) for raw, _ in asked]
        assert process.broken
    finally:
        process.close()


def test_a_planted_poptui_in_the_working_directory_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else's `tui/` in the folder poptui is started from (or on PYTHONPATH) must not
    become the child's code: the child runs the parent's own package, found by path."""
    marker = tmp_path / "planted-code-ran"
    for package in ("tui", "tui/core", "tui/core/mail"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write({package!r} + '\\n')\n"
        )
    for module in ("summary_process", "summary_child"):
        (tmp_path / f"tui/core/mail/{module}.py").write_text(
            f"open({str(marker)!r}, 'a').write('module\\n')\n"
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    process = SummaryProcess.start()
    assert process is not None
    try:
        raws = messages(20)
        assert summaries(process, raws) == [summarize_fast(raw) for raw in raws]
        assert not process.broken
    finally:
        process.close()
    assert not marker.exists(), marker.read_text()
