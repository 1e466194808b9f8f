"""`poptui fetch`'s processes (`sync.storer`) under the signals a terminal, a service manager or a
careless admin sends, against the suite's real Dovecot.

Each `poptui fetch` runs in a session of its own, as a cron job or a systemd unit runs it. A
relay between it and Dovecot (`Gate`) lets a fixed number of bytes of the server's replies
through, then holds the rest: "mid-fetch" is then a state the test waits for (the fetch waits
on the server with messages handed to its storer, committed or not), not a moment it guesses.
The storer (the fetch's grandchild: fetch → standby → storer) is found through /proc.

After any ending (done, wrong password, Ctrl+C, SIGTERM, a storer killed from outside, the
fetch killed while its storer is stopped) no process of the session may remain, nothing may
be deleted on the server that is not stored, no message may be stored twice, and the next
fetch must finish the mailbox.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.integration.test_fetch_kill import message_ids_on_server
from tests.servers.dovecot import DovecotServer

POPTUI = [sys.executable, "-m", "tui"]
MESSAGES = 300
BODY = b"".join(b"filler line %05d for a medium sized message\r\n" % i for i in range(600))
"""About 27 KB a message, 8 MB in all."""
HELD_AFTER = 2 * 1024 * 1024
"""Bytes of the server's replies the gate lets through before it holds the rest."""
LEFTOVER_SECONDS = 2.0
STORING_LOST = "storing process ended unexpectedly"
SYS_WRITEV = 20  # x86_64


class Gate:
    """A TCP relay to Dovecot that holds the server's bytes after the first `budget` of them
    (per connection) until `release()`; afterwards it relays everything."""

    def __init__(self, port: int, budget: int) -> None:
        self._port = port
        self._budget = budget
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self.holding = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._port))
            self._sockets += [client, server]
            for source, target, gated in ((client, server, False), (server, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, target, gated), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, gated: bool) -> None:
        passed = 0
        try:
            while data := source.recv(65536):
                if gated and not self._open.is_set() and passed + len(data) > self._budget:
                    allowed = max(0, self._budget - passed)
                    target.sendall(data[:allowed])
                    passed += allowed
                    data = data[allowed:]
                    self.holding.set()
                    self._open.wait()
                target.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Box:
    """A mailbox of `MESSAGES` on Dovecot, an account for it reached through `gate`."""

    env: dict[str, str]
    db_path: Path
    expected: set[str]
    dovecot: DovecotServer
    user: str
    password: str
    gate: Gate

    def on_server(self) -> set[str]:
        return set(message_ids_on_server(self.dovecot, self.user))

    def stored(self, account: str = "Box") -> list[str]:
        """Message-IDs stored for `account` (every row: a duplicate shows twice)."""
        if not self.db_path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            rows = db.execute(
                "SELECT m.message_id FROM message m JOIN account a ON a.id = m.account_id "
                "WHERE a.name = ?",
                (account,),
            )
            return [message_id for (message_id,) in rows]

    def lock_of(self, pid: int) -> str:
        """The account whose lock file process `pid` holds open."""
        with contextlib.closing(sqlite3.connect(self.db_path)) as db:
            keys = dict(db.execute("SELECT secret_key, name FROM account").fetchall())
        held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        names = [
            name
            for key, name in keys.items()
            if any(path.endswith(f"-{key}.lock") for path in held)
        ]
        assert len(names) == 1, (held, keys)
        return str(names[0])

    def committed(self) -> int:
        """Messages committed so far, read beside the running fetch (WAL: no lock taken)."""
        if not self.db_path.exists():
            return 0
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=5)) as db:
                return int(db.execute("SELECT count(*) FROM message").fetchone()[0])
        except sqlite3.OperationalError:  # no table yet: the fetch is still migrating
            return 0


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def box(dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path) -> Iterator[Box]:
    dovecot.deliver_many(pop_user.name, [make_message(i, body=BODY) for i in range(MESSAGES)])
    gate = Gate(dovecot.plain_port, HELD_AFTER)
    db_path = tmp_path / "fetch.db"
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{db_path}",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    add_account(env, "Box", pop_user, gate.port)
    expected = set(message_ids_on_server(dovecot, pop_user.name))
    assert len(expected) == MESSAGES
    try:
        yield Box(env, db_path, expected, dovecot, pop_user.name, pop_user.password, gate)
    finally:
        gate.close()


def add_account(env: dict[str, str], name: str, user: PopUser, port: int) -> None:
    added = run(
        env, "account", "add", name, "--email", f"{user.name}@example.com",
        "--incoming-host", "127.0.0.1", "--incoming-port", str(port),
        "--incoming-security", "none", "--username", user.name,
        "--delete-policy", "after_fetch",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    use_password(env, user.password, name)


def use_password(env: dict[str, str], password: str, account: str = "Box") -> None:
    chosen = run(env, "secrets", "use", "command", account, "--incoming", f"printf %s {password}")
    assert chosen.returncode == 0, chosen.stderr


# ------------------------------------------------------------------------- processes
def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, ..."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(") ", 1)[1].split()


def session_members(session: int) -> list[int]:
    """Live (not zombie) processes of `session`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = stat_fields(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[3] == str(session) and fields[0] not in "ZX":
            found.append(int(entry))
    return found


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(FileNotFoundError),
                open(f"/proc/{pid}/task/{task}/children") as listing,
            ):
                found += [int(child) for child in listing.read().split()]
    return found


def wait_for(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s in vain: {what}")
        time.sleep(0.02)


def the_storer(fetch: subprocess.Popen[str]) -> int:
    """The fetch's storer (its standby's one child), once it exists."""
    found: list[int] = []

    def exists() -> bool:
        assert fetch.poll() is None, fetch.communicate()
        found[:] = [pid for standby in children(fetch.pid) for pid in children(standby)]
        return len(found) == 1

    wait_for("the storing process", exists)
    return found[0]


def no_leftovers(session: int) -> None:
    wait_for(
        f"processes of the fetch's session to end: {session_members(session)}",
        lambda: session_members(session) == [],
        LEFTOVER_SECONDS,
    )


@contextlib.contextmanager
def fetching(box: Box, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`poptui fetch ARGS` in a session of its own; whatever is left of it is killed after."""
    fetch = subprocess.Popen(
        [*POPTUI, "fetch", *args],
        env=box.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield fetch
    finally:
        for pid in session_members(fetch.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            fetch.communicate(timeout=10)


def ended(fetch: subprocess.Popen[str], seconds: float = 30) -> tuple[int, str, str]:
    try:
        out, err = fetch.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the fetch did not end within {seconds} s") from None
    return fetch.returncode, out, err


def mid_fetch(box: Box, fetch: subprocess.Popen[str], *, commit: bool = True) -> int:
    """Wait until the gate holds the server's bytes (and, with `commit`, until the storer has
    committed what came before): the fetch waits on the server with its storer alive. The
    storer's pid."""
    storer = the_storer(fetch)
    wait_for("the gate to hold the server's replies", box.gate.holding.is_set)
    if commit:
        wait_for("a first commit", lambda: box.committed() > 0)
    assert fetch.poll() is None
    return storer


def finishes_the_mailbox(box: Box) -> None:
    """Nothing was deleted or stored twice; the next fetch stores the rest and deletes all."""
    assert box.on_server() == box.expected, "a message was deleted on the server"
    stored = box.stored()
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(stored) < box.expected
    box.gate.release()
    with fetching(box, "--account", "Box") as again:
        code, out, err = ended(again)
        assert code == 0, (out, err)
        no_leftovers(again.pid)
    assert sorted(box.stored()) == sorted(box.expected)
    assert box.on_server() == set()
    with contextlib.closing(sqlite3.connect(box.db_path)) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        running = db.execute("SELECT count(*) FROM fetch_log WHERE status = 'running'")
        assert running.fetchone() == (0,)


# ------------------------------------------------------------------------------ tests
def test_a_fetch_leaves_no_process_behind_when_done_or_refused(box: Box) -> None:
    use_password(box.env, "not-the-password")
    with fetching(box, "--account", "Box") as refused:
        code, out, err = ended(refused)
        assert code == 1, (out, err)
        no_leftovers(refused.pid)
    assert box.on_server() == box.expected and box.stored() == []

    use_password(box.env, box.password)
    box.gate.release()
    with fetching(box, "--account", "Box") as done:
        code, out, err = ended(done)
        assert code == 0, (out, err)
        assert f"{MESSAGES} new messages" in out, out
        no_leftovers(done.pid)
    assert sorted(box.stored()) == sorted(box.expected)
    assert box.on_server() == set()


def test_ctrl_c_mid_fetch_ends_worded_and_keeps_what_was_stored(box: Box) -> None:
    """Ctrl+C reaches the whole process group: the storer ignores it and commits what the
    fetch flushes on its way out; the fetch alone says it was interrupted. Sent as soon as the
    gate holds, it lands before the storer's first commit (due `BATCH_SECONDS` after the first
    message) unless the machine is very slow: then what it proves is weaker, never wrong."""
    with fetching(box, "--account", "Box") as fetch:
        mid_fetch(box, fetch, commit=False)
        committed = box.committed()
        os.killpg(fetch.pid, signal.SIGINT)
        code, out, err = ended(fetch)
        assert code == 130, (out, err)
        assert "interrupted" in err, err
        assert STORING_LOST not in out + err, err
        assert "Traceback" not in out + err, err
        no_leftovers(fetch.pid)
    assert len(box.stored()) > committed, "the messages received whole were not committed"
    finishes_the_mailbox(box)


def test_ctrl_c_while_the_storer_is_behind_commits_what_it_was_sent(box: Box) -> None:
    """The storer is the fetch's bottleneck, so Ctrl+C often lands while the fetch's storing
    thread is blocked writing a message into a full pipe (here: the storer is stopped). The
    fetch must neither hang nor cut a frame in half; once the storer runs again it commits
    every message the fetch received whole, and the fetch ends as interrupted."""
    box.gate.release()
    with fetching(box, "--account", "Box") as fetch:
        storer = the_storer(fetch)
        os.kill(storer, signal.SIGSTOP)

        def blocked_writing() -> bool:
            assert fetch.poll() is None, fetch.communicate()
            calls = []
            for task in os.listdir(f"/proc/{fetch.pid}/task"):
                with (
                    contextlib.suppress(FileNotFoundError, ProcessLookupError),
                    open(f"/proc/{fetch.pid}/task/{task}/syscall") as syscall,
                ):
                    calls.append(syscall.read().split()[0])
            return str(SYS_WRITEV) in calls

        wait_for("the fetch to block on the full pipe", blocked_writing)
        time.sleep(0.2)  # still blocked: the pipe is full, not a write in passing
        assert blocked_writing()
        assert box.committed() == 0
        os.killpg(fetch.pid, signal.SIGINT)
        time.sleep(0.2)  # Ctrl+C is handled while the storer still sleeps
        os.kill(storer, signal.SIGCONT)
        code, out, err = ended(fetch, 20)
        assert code == 130, (out, err)
        assert "interrupted" in err, err
        assert STORING_LOST not in out + err, err
        no_leftovers(fetch.pid)
    assert len(box.stored()) > 0, "what the fetch had handed over was not committed"
    finishes_the_mailbox(box)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_the_group_mid_fetch_leaves_nothing_running(
    box: Box, signum: signal.Signals
) -> None:
    """systemd stops a timer's unit with SIGTERM to every process of it; closing a terminal
    sends its session SIGHUP. The fetch dies of it; its storer and standby must follow."""
    with fetching(box, "--account", "Box") as fetch:
        storer = mid_fetch(box, fetch)
        os.killpg(fetch.pid, signum)
        code, out, err = ended(fetch)
        assert code == -signum, (out, err)
        no_leftovers(fetch.pid)
        assert not os.path.exists(f"/proc/{storer}") or stat_fields(storer)[0] == "Z"
    finishes_the_mailbox(box)


def test_a_storer_killed_from_outside_ends_the_fetch_in_words(box: Box) -> None:
    with fetching(box, "--account", "Box") as fetch:
        storer = mid_fetch(box, fetch)
        os.kill(storer, signal.SIGKILL)
        box.gate.release()  # the fetch hands over the next message and finds no one
        code, out, err = ended(fetch)
        assert code == 1, (out, err)
        assert "Traceback" not in out + err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and STORING_LOST in lines[0], err
        no_leftovers(fetch.pid)
    finishes_the_mailbox(box)


def test_the_lock_outlives_a_killed_fetch_while_its_storer_lives(box: Box) -> None:
    """A storer that still runs may still commit: no second fetch may read the mailbox's
    state (and DELE what it thinks stored) until it is gone."""
    with fetching(box, "--account", "Box") as fetch:
        storer = mid_fetch(box, fetch)
        os.kill(storer, signal.SIGSTOP)
        fetch.kill()
        code, _out, _err = ended(fetch)
        assert code == -signal.SIGKILL
        box.gate.release()
        with fetching(box, "--account", "Box") as second:
            code, out, err = ended(second)
            assert code != 0, (out, err)
            assert "already being fetched" in out + err, (out, err)
            no_leftovers(second.pid)
        assert box.on_server() == box.expected
        os.kill(storer, signal.SIGKILL)
        no_leftovers(fetch.pid)
    finishes_the_mailbox(box)


def test_a_standby_killed_mid_fetch_lets_the_running_storer_finish(box: Box) -> None:
    """The standby only forks storers: killed while one works, that storer still commits
    everything and the fetch ends well; nothing of the session is left."""
    with fetching(box, "--account", "Box") as fetch:
        storer = mid_fetch(box, fetch)
        (standby,) = children(fetch.pid)
        assert children(standby) == [storer]
        os.kill(standby, signal.SIGKILL)
        box.gate.release()
        code, out, err = ended(fetch)
        assert code == 0, (out, err)
        no_leftovers(fetch.pid)
    assert sorted(box.stored()) == sorted(box.expected)
    assert box.on_server() == set()


@pytest.fixture
def second_user(dovecot: DovecotServer) -> Iterator[PopUser]:
    user = PopUser(f"u{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12))
    dovecot.add_user(user.name, user.password)
    try:
        yield user
    finally:
        dovecot.clear(user.name)
        dovecot.remove_user(user.name)


def test_one_mailboxs_storer_killed_leaves_the_other_mailboxs_fetch_whole(
    box: Box, second_user: PopUser
) -> None:
    """Two mailboxes fetched at once have a storer each, each holding its own mailbox's lock;
    killing one storer fails that mailbox alone, in words, and the other completes."""
    other = [make_message(MESSAGES + i, body=BODY) for i in range(MESSAGES)]
    box.dovecot.deliver_many(second_user.name, other)
    other_ids = set(message_ids_on_server(box.dovecot, second_user.name))
    assert len(other_ids) == MESSAGES and not other_ids & box.expected
    add_account(box.env, "Other", second_user, box.gate.port)
    with fetching(box, "--all", "--jobs", "2") as fetch:
        storers: list[int] = []

        def two_storers() -> bool:
            assert fetch.poll() is None, fetch.communicate()
            storers[:] = [pid for standby in children(fetch.pid) for pid in children(standby)]
            return len(storers) == 2

        wait_for("a storer for each mailbox", two_storers)
        wait_for("the gate to hold the server's replies", box.gate.holding.is_set)
        by_account = {box.lock_of(pid): pid for pid in storers}
        assert sorted(by_account) == ["Box", "Other"]
        os.kill(by_account["Box"], signal.SIGKILL)
        box.gate.release()
        code, out, err = ended(fetch)
        assert code == 1, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and STORING_LOST in lines[0] and "Box" in lines[0], err
        assert f"Other: {MESSAGES} new messages" in out, out
        no_leftovers(fetch.pid)
    assert sorted(box.stored("Other")) == sorted(other_ids)
    assert message_ids_on_server(box.dovecot, second_user.name) == []
    finishes_the_mailbox(box)
