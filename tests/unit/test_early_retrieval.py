"""RETR answers read into a file while the engine loads (`sync.early_retrieval`), then read by
the engine's own client (`Pop3Client.adopt(early=...)`) as if they had just arrived.

Against the scriptable server: every message arrives whole and is asked for once, wherever the
file ends (between answers, inside one); answers the engine does not want are read past, not
taken for others; the engine's checks apply to what was read early exactly as to the socket
(an answer longer than listed, a refused RETR); a server that hangs up mid-way makes `stop` say
the session is unusable. The file has no name and is the user's alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.fake_pop3 import CLOSE, FakePop3Server, FakeSession
from tui.core.net.pop3 import CommandRejected, Mechanism, MessageSizeMismatch, Pop3Client
from tui.core.settings import Security
from tui.core.sync import quick_check
from tui.core.sync.early_retrieval import EarlyRetrieval, wanted_prefix
from tui.core.sync.quick_session import Listing, well_formed
from tui.core.sync.session_handover import HandedSession, SessionLost

PASSWORD = "s3cret-Pa55"


def _message(number: int) -> bytes:
    """Sizes from ~100 bytes to ~12 KB, and lines that need dot-stuffing."""
    lines = [f"Subject: message {number}", "", f".leading dot in {number}", "."]
    lines += [f"line {i} of {number} " + "x" * (number * 7 % 90) for i in range(number * 3)]
    return ("\r\n".join(lines) + "\r\n").encode()


MESSAGES = [_message(n) for n in range(1, 41)]
SIZES = [len(m) for m in MESSAGES]


@pytest.fixture
def server() -> Iterator[FakePop3Server]:
    with FakePop3Server(MESSAGES, users={"alice": PASSWORD}) as running:
        yield running


def _logged_in(server: FakePop3Server) -> socket.socket:
    """A session logged in with USER/PASS, one command at a time, nothing left unread."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    for command in (None, b"USER alice\r\n", b"PASS " + PASSWORD.encode() + b"\r\n"):
        if command is not None:
            sock.sendall(command)
        line = b""
        while not line.endswith(b"\r\n"):
            line += sock.recv(1)
        assert line.startswith(b"+OK"), line
    return sock


def _listed(messages: list[bytes]) -> tuple[int, int, bytes, bytes]:
    sizes = b"".join(b"%d %d\r\n" % (n, len(m)) for n, m in enumerate(messages, 1))
    uids = b"".join(b"%d uid%04d\r\n" % (n, n) for n in range(1, len(messages) + 1))
    return len(messages), sum(map(len, messages)), sizes, uids


def _read_early(
    server: FakePop3Server, tmp_path: Path, numbers: list[int], *, cap: int = 64 << 20
) -> tuple[Pop3Client, list[int]]:
    """A logged-in session whose first `numbers` were asked for and read early (until the
    file's `cap`, or everything), then adopted by the engine's client."""
    sock = _logged_in(server)
    early = EarlyRetrieval(sock, numbers, SIZES, str(tmp_path), spool_cap=cap)
    early.start()
    # Until it has read all it asked for (it asks for nothing past the cap): no more for 0.2 s.
    seen, still_since = -1, time.monotonic()
    while time.monotonic() - still_since < 0.2:
        if early.spooled != seen:
            seen, still_since = early.spooled, time.monotonic()
        time.sleep(0.005)
    stopped = early.stop()
    assert stopped is not None
    client = Pop3Client.adopt(
        sock, server.host, server.port, Security.NONE, peer_der=None,
        mechanism=Mechanism.USER, listed=_listed(MESSAGES), early=stopped,
    )  # fmt: skip
    client.listings()  # the handed listing: no command
    return client, stopped[1]


def _retr_counts(session: FakeSession) -> dict[int, int]:
    counts: dict[int, int] = {}
    for command in session.commands:
        if command.upper().startswith("RETR "):
            number = int(command.split()[1])
            counts[number] = counts.get(number, 0) + 1
    return counts


@pytest.mark.parametrize("cap", [64 << 20, 20_000], ids=["all", "some"])
def test_every_message_arrives_whole_and_is_asked_for_once(
    server: FakePop3Server, tmp_path: Path, cap: int
) -> None:
    everything = list(range(1, len(MESSAGES) + 1))
    client, sent = _read_early(server, tmp_path, everything, cap=cap)
    assert sent == (everything if cap > sum(SIZES) else everything[: len(sent)])
    assert 0 < len(sent) < len(everything) or cap > sum(SIZES)
    _all_once(client, server, everything)


@pytest.mark.parametrize("cut", [1, 80, 2_000, -1])
def test_a_file_that_ends_inside_an_answer_goes_on_from_the_socket(
    server: FakePop3Server, tmp_path: Path, cut: int
) -> None:
    """The file ends wherever the reader stopped: inside CAPA's answer, inside a message, one
    byte before an answer's end. The engine reads on from the socket without a seam."""
    sock = _logged_in(server)
    sock.sendall(b"CAPA\r\n" + b"".join(b"RETR %d\r\n" % n for n in (1, 2, 3, 4)))
    waiting = b""
    sock.settimeout(0.3)
    with contextlib.suppress(TimeoutError):  # all four answers read, and nothing more comes
        while chunk := sock.recv(65536):
            waiting += chunk
    assert waiting.endswith(b"\r\n.\r\n") and waiting.count(b"+OK") == 5
    split = cut if cut > 0 else len(waiting) - 1
    fd = os.open(tmp_path, os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, waiting[:split])
    os.lseek(fd, 0, os.SEEK_SET)
    # The rest goes back on the wire: a socket pair stands in for the server's socket.
    near, far = socket.socketpair()
    far.sendall(waiting[split:])
    client = Pop3Client.adopt(
        near, server.host, server.port, Security.NONE, peer_der=None,
        mechanism=Mechanism.USER, listed=_listed(MESSAGES), early=(fd, [1, 2, 3, 4]),
    )  # fmt: skip
    client.listings()
    assert "PIPELINING" in client.capabilities
    with client:
        got = list(client.retrieve([1, 2, 3, 4], expected_sizes=dict(enumerate(SIZES, 1))))
    assert got == [(n, MESSAGES[n - 1]) for n in (1, 2, 3, 4)]
    for each in (sock, far):
        each.close()


def _all_once(client: Pop3Client, server: FakePop3Server, everything: list[int]) -> None:
    with client:
        got = list(client.retrieve(everything, expected_sizes=dict(enumerate(SIZES, 1))))
        client.quit()
    assert got == list(zip(everything, MESSAGES, strict=True))
    assert _retr_counts(server.last) == {n: 1 for n in everything}
    assert server.last.verbs.count("CAPA") == 1  # the early reader's, answered to the engine
    assert server.last.verbs[-1] == "QUIT"


def test_answers_the_engine_does_not_want_are_read_past(
    server: FakePop3Server, tmp_path: Path
) -> None:
    """The engine's plan does not begin with what was asked for early (here it skips message
    1): those answers are dropped, never taken for other messages, and asked for again."""
    client, sent = _read_early(server, tmp_path, [1, 2, 3, 4, 5])
    assert sent == [1, 2, 3, 4, 5]
    wanted = list(range(3, 9))
    with client:
        got = list(client.retrieve(wanted))
    assert got == [(n, MESSAGES[n - 1]) for n in wanted]
    counts = _retr_counts(server.last)
    assert counts == {1: 1, 2: 1, 3: 2, 4: 2, 5: 2, 6: 1, 7: 1, 8: 1}


def test_another_command_first_reads_past_the_early_answers(
    server: FakePop3Server, tmp_path: Path
) -> None:
    client, _sent = _read_early(server, tmp_path, [1, 2, 3], cap=500)
    with client:
        client.dele(2)  # its answer is read after the three RETR answers, not as one of them
        assert list(client.retrieve([1])) == [(1, MESSAGES[0])]
        client.quit()
    assert server.committed_deletions == [2]


def test_what_was_read_early_is_checked_as_the_socket_is(
    server: FakePop3Server, tmp_path: Path
) -> None:
    """A RETR refused, and an answer far longer than LIST said, in the early bytes: the
    engine's client raises what it raises for them off the socket, and stays in step."""

    def retr(session: FakeSession, args: list[str]) -> object:
        number = int(args[0])
        if number == 2:
            return b"-ERR message 2 is not here\r\n"
        if number == 3:
            return b"+OK\r\n" + b"y" * 50_000 + b"\r\n.\r\n"
        return server._transaction_reply(session, "RETR", args)

    server.handlers["RETR"] = retr
    client, sent = _read_early(server, tmp_path, [1, 2, 3, 4])
    assert sent == [1, 2, 3, 4]
    sizes = dict(enumerate(SIZES, 1))
    with client:
        retrieved = client.retrieve([1, 2, 3, 4], expected_sizes=sizes)
        assert next(retrieved) == (1, MESSAGES[0])
        with pytest.raises(CommandRejected) as refused:
            next(retrieved)
        assert refused.value.number == 2
        with pytest.raises(MessageSizeMismatch) as longer:
            list(client.retrieve([3], expected_sizes=sizes))
        assert longer.value.in_sync
        assert list(client.retrieve([4])) == [(4, MESSAGES[3])]
        client.quit()


def test_a_server_that_hangs_up_makes_the_session_unusable(
    server: FakePop3Server, tmp_path: Path
) -> None:
    server.handlers["RETR"] = lambda _session, _args: CLOSE
    sock = _logged_in(server)
    early = EarlyRetrieval(sock, [1, 2], SIZES, str(tmp_path))
    fd = early.fd
    early.start()
    deadline = time.monotonic() + 10
    while early._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert early.stop() is None
    with pytest.raises(OSError):
        os.fstat(fd)  # closed
    sock.close()


def test_the_file_has_no_name_and_is_the_users_alone(
    server: FakePop3Server, tmp_path: Path
) -> None:
    sock = _logged_in(server)
    early = EarlyRetrieval(sock, [1], SIZES, str(tmp_path))
    try:
        info = os.fstat(early.fd)
        assert info.st_nlink == 0 and stat.S_IMODE(info.st_mode) == 0o600
        assert list(tmp_path.iterdir()) == []
        early.start()
    finally:
        stopped = early.stop()
        assert stopped is not None
        os.close(stopped[0])
        sock.close()


def test_the_early_numbers_are_where_the_engines_plan_begins() -> None:
    sizes = [10, 20, 30, 5_000, 40, 50]
    new = [True, False, True, True, True, True]
    assert wanted_prefix(sizes, new, 10_000, 0) == [1, 3, 4, 5, 6]
    assert wanted_prefix(sizes, new, 1_000, 0) == [1, 3]  # the plan skips message 4
    assert wanted_prefix(sizes, new, 10_000, 3) == [1, 3, 4]  # and stops at its cap
    assert wanted_prefix(sizes, [False] * 6, 10_000, 0) == []
    assert wanted_prefix(sizes, new, 10_000, 0, most=2) == [1, 3]  # few numbers held
    assert wanted_prefix(sizes, new, 10_000, 0, octets=5_040) == [1, 3, 4]  # and little mail


FULL_DISK = """
import os, resource, signal, socket, sys, time
from tui.core.sync.early_retrieval import EarlyRetrieval
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, resource.RLIM_INFINITY))
port, password, directory, sizes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
for command in (b"", b"USER alice\\r\\n", b"PASS " + password.encode() + b"\\r\\n"):
    sock.sendall(command)
    line = b""
    while not line.endswith(b"\\r\\n"):
        line += sock.recv(1)
early = EarlyRetrieval(sock, range(1, len(sizes) + 1), [int(s) for s in sizes], directory)
early.start()
early._thread.join(10)
print(early.stop(), early.spooled)
"""
"""An early reader whose file can take only 5,000 bytes, as on a full disk."""


def test_a_file_that_cannot_be_written_makes_the_session_unusable(
    server: FakePop3Server, tmp_path: Path
) -> None:
    """A full disk (here: a file size limit) stops the reader; `stop` says the session is
    out of step, and the engine starts its own. Nothing was deleted."""
    command = [sys.executable, "-c", FULL_DISK, str(server.port), PASSWORD, str(tmp_path)]
    done = subprocess.run([*command, *map(str, SIZES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stopped, spooled = done.stdout.split()
    assert stopped == "None" and int(spooled) <= 5000
    assert "DELE" not in server.last.verbs and "RETR" in server.last.verbs


def test_a_reader_never_started_leaves_nothing_open(server: FakePop3Server, tmp_path: Path) -> None:
    """No thread to be had (`quick_check._offer`): its file and wake-up pipe are closed."""
    sock = _logged_in(server)
    before = _open_fds()
    early = EarlyRetrieval(sock, [1], SIZES, str(tmp_path))
    assert len(_open_fds() - before) == 3
    early.discard()
    assert _open_fds() == before
    sock.close()


def test_a_first_downloads_sizes_are_read_from_the_list_reply_while_it_makes_sense() -> None:
    """The LIST reply is the server's: its sizes are taken from the top while each line is
    `n size` in order, and no further (the engine parses and words the rest)."""
    read = quick_check._first_sizes
    assert read(b"1 10\r\n2 20\r\n3 30\r\n", 5000, 1 << 20) == [10, 20, 30]
    assert read(b"1 10\r\n3 30\r\n", 5000, 1 << 20) == [10]  # out of order
    assert read(b"1 10\r\n2 2x\r\n3 30\r\n", 5000, 1 << 20) == [10]
    assert read(b"1 10\r\n2 " + b"9" * 40 + b"\r\n", 5000, 1 << 20) == [10]  # absurd
    assert read(b"1 10\r\n2 20", 5000, 1 << 20) == [10]  # a line cut short
    assert read(b"1 10\r\n2 20\r\n3 30\r\n", 2, 1 << 20) == [10, 20]
    assert read(b"1 10\r\n2 20\r\n3 30\r\n", 5000, 15) == [10, 20]  # past 15 octets: stop


@pytest.mark.parametrize(
    ("body", "which", "count", "good"),
    [
        (b"1 10\r\n2 20\r\n", "LIST", 2, True),
        (b"1 uid-a\r\n2 uid-b\r\n", "UIDL", 2, True),
        (b"", "UIDL", 0, True),
        (b"2 10\r\n1 20\r\n", "LIST", 2, False),  # out of order
        (b"1 10\r\n1 20\r\n", "LIST", 2, False),  # a number twice
        (b"1 10\r\n2 \r\n", "LIST", 2, False),  # an empty word
        (b"1 1x\r\n2 20\r\n", "LIST", 2, False),  # not a size
        (b"1 uid a\r\n2 b\r\n", "UIDL", 2, False),  # a space inside
        (b"1 " + b"u" * 71 + b"\r\n", "UIDL", 1, False),  # longer than RFC 1939 allows
        (b"1 " + b"u" * 70 + b"\r\n", "UIDL", 1, True),
        (b"1 10\r\n2 20\r\n3 30\r\n", "LIST", 2, False),  # more lines than STAT said
        (b"1 10\r\n2 20", "LIST", 2, False),  # cut short
        (b" 1 10\r\n", "LIST", 1, False),
    ],
)
def test_a_listing_is_well_formed_only_as_the_engine_reads_it(
    body: bytes, which: str, count: int, good: bool
) -> None:
    """A first download's early reader asks for nothing unless every listing line is one the
    engine's parser accepts: the plan never fetches a message whose line is malformed."""
    assert well_formed(body, which, count) is good


def test_a_reader_that_cannot_be_made_leaves_nothing_open(
    server: FakePop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors after the file was opened (no wake-up pipe): the file is closed
    again and the caller carries on without an early reader."""
    sock = _logged_in(server)

    def no_pipe() -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "pipe", no_pipe)
    before = _open_fds()
    with pytest.raises(OSError):
        EarlyRetrieval(sock, [1], SIZES, str(tmp_path))
    assert _open_fds() == before
    sock.close()


def _open_fds() -> set[str]:
    """This process's descriptors, without the one listing them (closed by then)."""
    return {fd for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")}


def _handed(sock: Any, early: EarlyRetrieval | None) -> HandedSession:
    return HandedSession(
        1, ("h",), sock, None, "USER/PASS", contextlib.nullcontext(), "lock", PASSWORD, None, early
    )


def test_a_handed_session_says_whether_its_early_reader_left_it_usable(
    server: FakePop3Server, tmp_path: Path
) -> None:
    """Three outcomes for the engine: no reader (None), its answers (file and numbers), or a
    session out of step (SessionLost, the file closed); ending the session closes whatever
    is left, in each case."""
    before = _open_fds()
    with _logged_in(server) as sock:
        assert _handed(sock, None).stop_early() is None

    reading = EarlyRetrieval(sock := _logged_in(server), [1, 2], SIZES, str(tmp_path))
    reading.start()
    stopped = _handed(sock, reading).stop_early()
    assert stopped is not None and stopped[1] == [1, 2][: len(stopped[1])]
    os.close(stopped[0])
    sock.close()

    server.handlers["RETR"] = lambda _session, _args: CLOSE
    for end_it in (False, True):
        failing = EarlyRetrieval(sock := _logged_in(server), [1, 2], SIZES, str(tmp_path))
        failing.start()
        failing._thread.join(10)
        handed = _handed(sock, failing)
        if end_it:
            handed.quit()  # what `discard_all` and the engine do with it
        else:
            with pytest.raises(SessionLost):
                handed.stop_early()
            sock.close()
    # The scriptable server runs in this process: its side of each session closes soon after.
    deadline = time.monotonic() + 10
    while _open_fds() - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _open_fds() - before == set()


def test_only_looked_up_mail_is_certainly_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check looks up its first candidates only (up to the reader's count); mail after
    them is never called new, even when a known one among them lets the reader go further:
    an imported UIDL past the looked-up ones must not be asked for."""
    import sqlite3

    monkeypatch.setattr(quick_check, "_EARLY_MESSAGES", 3)
    db = sqlite3.connect(":memory:")
    for table in ("message", "imported_uidl", "uidl_alias"):
        db.execute(f"CREATE TABLE {table} (account_id INTEGER, uidl TEXT)")
    db.executemany("INSERT INTO imported_uidl VALUES (1, ?)", [("u2",), ("u4",)])
    check = quick_check._Check.__new__(quick_check._Check)
    check.db = db
    listing = Listing(6, [10] * 6, [f"u{n}" for n in range(1, 7)])
    stored = type("Stored", (), {"still": {}, "keyed": []})()
    new = check._certainly_new(1, listing, stored)
    assert new == [True, False, True, False, False, False]
    asked = wanted_prefix([10] * 6, new, 1_000, 0, most=3)
    assert 4 not in asked and asked == [1, 3]
