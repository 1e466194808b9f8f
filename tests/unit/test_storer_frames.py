"""The pipes between a fetch and its storing process (`sync.storer_frames`), over real pipes.

Frames go through a real `os.pipe` to a reader thread: many of them, bodies larger than the
pipe, empty and non-ASCII keys, header summaries holding what a stranger wrote (escape
sequences, NULs, the surrogates poptui keeps undecodable bytes as), and writes cut short by
signals on a pipe narrowed to one page. Replies come back whole or as `PipeClosed`; an error
keeps the chain its words are in, and one that will not pickle still arrives, as words.
`StoringService.start` is tried in a fresh interpreter, where no test runner's thread can
change its answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import peewee
import pytest

from tui.core.mail.headers import summarize_fast
from tui.core.mail.parse import MessageSummary
from tui.core.storage.failures import DiskFull, explain
from tui.core.sync import storer_frames as frames

Frame = tuple[bytes, str, bytes, bytes]
HOSTILE = "\x1b[31mred\x1b]0;owned\x07\x1b[2J\x00nul\r\n\u202eevil\udcff\udc80 ünï 😀"
"""Terminal escapes, a NUL, CR LF, a bidi override, lone surrogates (undecodable bytes as
`surrogateescape` keeps them) and characters outside the BMP."""


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    try:
        yield read_fd, write_fd
    finally:
        for fd in (read_fd, write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class Reader(threading.Thread):
    """Reads frames from `fd` until the pipe closes, optionally slowly."""

    def __init__(self, fd: int, *, pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.stream = frames.FrameReader(fd)
        self.pause = pause
        self.frames: list[Frame] = []
        self.ended: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                self.frames.append(self.stream.next())
                if self.pause:
                    time.sleep(self.pause)
        except BaseException as error:  # PipeClosed at the end; anything else fails the test
            self.ended = error


def through_pipe(sent: list[Frame], read_fd: int, write_fd: int, *, pause: float = 0.0) -> Reader:
    reader = Reader(read_fd, pause=pause)
    reader.start()
    for kind, key, extra, body in sent:
        frames.send(write_fd, kind, key, extra, body)
    os.close(write_fd)
    reader.join(60)
    assert not reader.is_alive(), "the reader is stuck: a frame was cut or misframed"
    assert isinstance(reader.ended, frames.PipeClosed), reader.ended
    return reader


def summary(**fields: Any) -> MessageSummary:
    return MessageSummary(**fields)


def test_many_frames_of_every_shape_arrive_whole_and_in_order(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    capacity = fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ)
    huge = bytes(range(256)) * (3 * capacity // 256 + 7)  # several pipes full, every byte value
    hostile = frames.summary_bytes(summary(subject=HOSTILE, from_addr=HOSTILE, date=None))
    sent: list[Frame] = [
        (frames.ADD, "", b"", b""),
        (frames.ADD, "ключ-ü-😀-\u202e", hostile, b"\x00\r\n.\r\n"),
        (frames.ADD, "k" * 65535, b"", huge),  # the longest key a frame can name
        (frames.FLUSH, "", b"", b""),
        *((frames.ADD, f"uidl-{n}", hostile[: n % 50], b"x" * (n * 37)) for n in range(400)),
        (frames.ADD, "after-the-many", b"", huge[:capacity]),  # exactly one pipe full
        (frames.END, "", b"", b""),
    ]
    reader = through_pipe(sent, read_fd, write_fd)
    assert len(reader.frames) == len(sent)
    assert reader.frames == sent


def test_a_key_too_long_for_the_header_is_refused_not_misframed(pipe: tuple[int, int]) -> None:
    """The key length is 16 bits: a longer key must fail before anything is written."""
    read_fd, write_fd = pipe
    with pytest.raises(struct.error):  # before anything is written on the pipe
        frames.send(write_fd, frames.ADD, "k" * 65536, b"", b"body")
    os.set_blocking(read_fd, False)
    with pytest.raises(BlockingIOError):
        os.read(read_fd, 1)


def test_writes_cut_short_by_signals_on_a_one_page_pipe_lose_nothing(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipe narrowed to one page, a reader that sips, and a timer signal every millisecond
    interrupting the blocked `writev`: every short write is followed by the rest."""
    read_fd, write_fd = pipe
    page = fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    assert page == 4096
    short_writes = [0]
    real_writev = os.writev

    def counting_writev(fd: int, buffers: list[memoryview]) -> int:  # counts; the real call writes
        written = real_writev(fd, buffers)
        if written < sum(len(b) for b in buffers):
            short_writes[0] += 1
        return written

    previous = signal.signal(signal.SIGALRM, lambda *_: None)  # a Python handler: EINTR
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    sent = [(frames.ADD, f"k{n}", b"e" * n, os.urandom(20_000 + n * 997)) for n in range(60)]
    monkeypatch.setattr(os, "writev", counting_writev)
    try:
        reader = through_pipe(sent, read_fd, write_fd, pause=0.002)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
    assert short_writes[0] > 0, "no write was cut short: the test proved nothing"
    assert reader.frames == sent


@pytest.mark.parametrize(
    "value",
    [
        summary(),  # every default, date None
        summary(
            from_addr=HOSTILE, to_addrs=HOSTILE * 3, subject=HOSTILE, date=None,
            message_id="<\x00@\udcfe>", has_attachments=True, party_domains=" \x1b.com ",
        ),
        summary(subject="x" * 200_000, date=datetime(1, 1, 1, tzinfo=UTC)),
        summary(date=datetime(2026, 2, 28, 23, 59, 59, 999999,
                              tzinfo=timezone(timedelta(hours=-12, minutes=-45)))),
    ],
)  # fmt: skip
def test_a_summary_survives_the_frame_exactly(value: MessageSummary) -> None:
    assert frames.summary_from(frames.summary_bytes(value)) == value


def test_a_summary_poptui_read_from_a_hostile_header_survives_the_frame() -> None:
    """What `summarize_fast` makes of raw bytes a stranger sent (8-bit junk, escapes, NULs,
    a date no one can read) is what the storer gets."""
    raw = (
        b"From: \x1b[2J\xff\xfe <evil@\xc3\x28.example>\r\n"
        b"To: \x00@example.com\r\n"
        b"Subject: =?utf-8?b?G1szMW0=?= \x9b31m\xed\xa0\x80\r\n"
        b"Date: the day after never\r\n"
        b"Message-ID: <\x07@x>\r\n\r\nbody\r\n"
    )
    value = summarize_fast(raw)
    assert value.date is None
    assert frames.summary_from(frames.summary_bytes(value)) == value


def test_a_frame_cut_by_a_vanished_writer_is_pipe_closed(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    whole = frames.HEADER.pack(frames.ADD, 3, 0, 100) + b"key" + b"only forty bytes of it.."
    os.write(write_fd, whole)
    os.close(write_fd)
    with pytest.raises(frames.PipeClosed):
        frames.FrameReader(read_fd).next()


def test_the_storer_waits_for_a_frame_no_longer_than_asked(pipe: tuple[int, int]) -> None:
    """The storer's deadline (`FrameReader.wait`): nothing in the pipe → False after the
    timeout; a frame already read into the chunk → True at once, without the pipe; the end of
    the pipe → True (the next read then says PipeClosed)."""
    read_fd, write_fd = pipe
    reader = frames.FrameReader(read_fd)
    started = time.monotonic()
    assert reader.wait(0.2) is False
    assert time.monotonic() - started >= 0.19
    frames.send(write_fd, frames.ADD, "one", b"", b"first")
    frames.send(write_fd, frames.ADD, "two", b"", b"second")
    assert reader.wait(5) is True
    assert reader.next() == (frames.ADD, "one", b"", b"first")
    assert reader.buffered  # the second frame came in the same chunk
    assert reader.wait(0) is True
    assert reader.next() == (frames.ADD, "two", b"", b"second")
    assert not reader.buffered
    assert reader.wait(0.05) is False
    os.close(write_fd)
    assert reader.wait(5) is True
    with pytest.raises(frames.PipeClosed):
        reader.next()


@pytest.mark.parametrize(
    "written",
    [b"", b"\x10", frames.REPLY_LENGTH.pack(1000) + pickle.dumps(("ok",))[:5]],
    ids=["nothing", "half a length", "half a reply"],
)
def test_a_reply_cut_short_is_pipe_closed_not_a_hang(pipe: tuple[int, int], written: bytes) -> None:
    read_fd, write_fd = pipe
    os.write(write_fd, written)
    os.close(write_fd)
    with pytest.raises(frames.PipeClosed):
        frames.read_reply(read_fd)


def test_replies_round_trip_and_leave_the_next_one_whole(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    written = {f"uidl-{n}-ü": n for n in range(3000)}  # larger than one read of the pipe

    def send_two() -> None:
        frames.reply(write_fd, ("ok", written, 3000, 2, 7))
        frames.reply(write_fd, ("ok", {}, 0, 0, 0))

    sender = threading.Thread(target=send_two)
    sender.start()
    assert frames.read_reply(read_fd) == ("ok", written, 3000, 2, 7)
    assert frames.read_reply(read_fd) == ("ok", {}, 0, 0, 0)
    sender.join()


def disk_full_error(tmp_path: Path) -> peewee.OperationalError:
    """SQLite's own "database or disk is full" (a page limit stands in for the disk), raised
    through peewee, then the failed rollback after it, as peewee raises both."""
    db = peewee.SqliteDatabase(str(tmp_path / "full.db"))
    db.connect()
    db.execute_sql("CREATE TABLE t (b BLOB)")
    db.execute_sql("PRAGMA max_page_count = 8")
    try:
        db.execute_sql("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except peewee.OperationalError as full:
        assert isinstance(full.__context__, sqlite3.OperationalError)
        try:
            raise peewee.OperationalError("cannot rollback - no transaction is active")
        except peewee.OperationalError as rollback:
            return rollback
    finally:
        db.close()
    raise AssertionError("the page limit did not fill the database")


def across_a_fork(error: BaseException) -> BaseException:
    """`error`, sent by `reply_error` from a forked process and read back by this one."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            os.close(read_fd)
            frames.reply_error(write_fd, error)
        except BaseException:
            status = 1
        os._exit(status)
    os.close(write_fd)
    try:
        kind, received = frames.read_reply(read_fd)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert kind == "error"
    assert isinstance(received, BaseException)
    return received


def chain_of(error: BaseException | None) -> list[BaseException]:
    found = []
    while error is not None:
        found.append(error)
        error = error.__context__
    return found


def test_a_full_disk_in_the_storer_is_still_worded_as_a_full_disk(tmp_path: Path) -> None:
    error = disk_full_error(tmp_path)
    url = f"sqlite:///{tmp_path}/full.db"
    assert isinstance(explain(error, url), DiskFull)  # the words are there before the pipe
    received = across_a_fork(error)
    assert isinstance(received, peewee.OperationalError)
    assert [type(e) for e in chain_of(received)] == [type(e) for e in chain_of(error)]
    inner = chain_of(received)[-1]
    assert isinstance(inner, sqlite3.OperationalError)
    assert "database or disk is full" in str(inner)
    worded = explain(received, url)
    assert isinstance(worded, DiskFull), worded


def test_a_long_chain_comes_back_linked_in_order() -> None:
    error: BaseException | None = None
    for n in range(5):
        try:
            raise ValueError(f"level {n}") from error
        except ValueError as raised:
            error = raised
    assert error is not None
    received = across_a_fork(error)
    assert [str(e) for e in chain_of(received)] == [f"level {n}" for n in range(4, -1, -1)]


class NeedsTwo(Exception):
    """Pickles, but cannot be unpickled (its `__init__` wants two arguments, `args` has one)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def test_an_error_that_will_not_pickle_arrives_as_words() -> None:
    class Local(Exception):
        """A class defined in a function: pickle cannot name it."""

    try:
        try:
            raise NeedsTwo("half", "done")
        except NeedsTwo:
            raise Local("the storer broke \x1b[31m") from None
    except Local as local:
        local.__cause__ = None
        local.__context__ = NeedsTwo("half", "done")
        error: BaseException = local
    received = across_a_fork(error)
    assert isinstance(received, RuntimeError)
    assert str(received) == "Local: the storer broke \x1b[31m"
    assert isinstance(received.__context__, RuntimeError)
    assert str(received.__context__) == "NeedsTwo: half done"


def test_an_error_holding_something_unpicklable_arrives_as_words() -> None:
    error = OSError(5, "I/O error")
    error.handle = threading.Lock()  # type: ignore[attr-defined]
    received = across_a_fork(error)
    assert isinstance(received, RuntimeError)
    assert "OSError" in str(received) and "I/O error" in str(received)


SERVICE = """
import os, sys, threading
from tui.core.sync.storer import StoringService
mode, url = sys.argv[1], sys.argv[2]
if mode == "thread":
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    print(StoringService.start(url) is None)
    stop.set()
    worker.join()
    sys.exit(0)
service = StoringService.start(url)
assert service is not None
pid = service._pid
with open(f"/proc/{pid}/stat") as stat:
    assert stat.read().split(") ")[1].split()[1] == str(os.getpid()), "not our child"
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message
open_database(url)
account = Account.create(
    owner="", name="Box", email="x@example.com", incoming_host="h", incoming_port=110,
    incoming_security="none", username="x", delete_policy="leave", secret_key="k" * 32,
)
lock = os.open(os.devnull, os.O_RDONLY)
writer = service.writer(account.id, dedupe_message_id=False, lock_fd=lock)
raws = [b"Subject: %d\\r\\nMessage-ID: <%d@x>\\r\\n\\r\\nbody\\r\\n" % (n, n) for n in range(50)]
for n, raw in enumerate(raws):
    writer.add(f"uidl-{n}-\\u00fc", raw)
written = writer.flush()
writer.close()
assert sorted(written) == sorted(f"uidl-{n}-\\u00fc" for n in range(50)), written
assert Message.select().count() == 50
service.close()
try:
    os.waitpid(pid, os.WNOHANG)
except ChildProcessError:
    print("reaped")
else:
    print("not reaped")
print("gone" if not os.path.exists(f"/proc/{pid}") else "still there")
"""


def run_service(mode: str, tmp_path: Path) -> list[str]:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-c", SERVICE, mode, f"sqlite:///{tmp_path}/s.db"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_no_standby_is_forked_while_another_thread_runs(tmp_path: Path) -> None:
    """A fork copies every lock another thread holds, held forever: `start` must refuse."""
    assert run_service("thread", tmp_path) == ["True"]


def test_a_standby_stores_through_its_storer_and_is_reaped_when_closed(tmp_path: Path) -> None:
    assert run_service("store", tmp_path) == ["reaped", "gone"]
