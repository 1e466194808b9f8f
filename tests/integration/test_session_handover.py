"""One login per `poptui fetch` that finds mail: the quick check's session goes to the engine.

The quick "nothing new" check logs in and lists; when the listing shows something to do, the
engine used to connect and log in again. Now the check hands its logged-in session over with
the mailbox's lock still held (`tui.core.sync.session_handover`). Shown here against the real
Dovecot (one login in its log, plain and TLS; deletions done on the handed session), and on a
scriptable server: the lock never let go in between, a session nobody takes is ended, a stale
one is replaced by a fresh login, and settings changed in between are not trusted.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.integration.test_quick_check import Home, add_box
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import CLOSE, DEFAULT_CAPA, FakePop3Server, FakeSession
from tui.core.mail.summary_process import SUMMARY_PROCESS_MESSAGES, SummaryProcess, usable_cores
from tui.core.sync import quick_check, session_handover

TRY_LOCK = (
    "import fcntl, sys\n"
    "handle = open(sys.argv[1], 'a')\n"
    "try:\n"
    "    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "except BlockingIOError:\n"
    "    print('busy')\n"
    "else:\n"
    "    print('free')\n"
)
"""Another process asking for a mailbox's lock, as a second poptui would."""


def _quick_handing_over(home: Home) -> list[quick_check.NothingNew] | None:
    """The quick check in this process as `poptui fetch` runs it: handing its session over."""
    saved = dict(os.environ)
    os.environ.update(home.env)
    try:
        return quick_check.fetch_if_nothing_new(home.url, "Box", timeout=10, hand_over=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _logins(dovecot: DovecotServer, user: str) -> int:
    return len(re.findall(rf"Login: user=<{re.escape(user)}>", dovecot.log_text()))


def _lock_state(home: Home) -> str:
    (secret_key,) = home.sql("SELECT secret_key FROM account")[0]
    path = home.root / "state" / "poptui" / "locks" / f"account-{secret_key}.lock"
    done = subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(path)], capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_new_mail_is_fetched_with_the_checks_login(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser, security: str
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    home = Home(tmp_path)
    port = dovecot.plain_port if security == "none" else dovecot.tls_port
    tls = [] if security == "none" else ["--pin-fingerprint", dovecot.cert_fingerprint]
    add_box(home, "127.0.0.1", port, pop_user, "--incoming-security", security, *tls)
    assert home.poptui("fetch").stdout.startswith("Box: 3 new messages")
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3, 5)])
    before = _logins(dovecot, pop_user.name)
    done = home.poptui("fetch")
    assert done.returncode == 0 and "ENGINE" in done.stderr, done.stderr
    assert done.stdout.startswith("Box: 2 new messages"), done.stdout
    assert _logins(dovecot, pop_user.name) == before + 1  # was 2: the check's, the engine's
    assert home.sql("SELECT count(*) FROM message") == [(5,)]
    again = home.poptui("fetch")  # and the next run finds nothing new, quickly
    assert "QUICK" in again.stderr and again.stdout.startswith("Box: 0 new messages")


def test_deletions_are_committed_on_the_handed_session(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(2)])
    home = Home(tmp_path)
    add_box(home, "127.0.0.1", dovecot.plain_port, pop_user, "--incoming-security", "none")
    assert home.poptui("fetch").returncode == 0
    assert home.poptui("account", "edit", "Box", "--delete-policy", "after_fetch").returncode == 0
    dovecot.deliver(pop_user.name, make_message(9))
    before = _logins(dovecot, pop_user.name)
    done = home.poptui("fetch")
    assert done.returncode == 0 and done.stdout.startswith("Box: 1 new message"), done
    assert _logins(dovecot, pop_user.name) == before + 1
    assert dovecot.maildir_messages(pop_user.name) == []  # DELE and QUIT on that session
    assert home.sql("SELECT count(*) FROM message WHERE deleted_on_server") == [(3,)]


WATCHING_STARTS = (
    "import sys\n"
    "from tui.core.mail import summary_process\n"
    "Process = summary_process.SummaryProcess\n"
    "start, send = Process.start.__func__, Process.send\n"
    "started, sent = [], []\n"
    "def watched_start(cls):\n"
    "    process = start(cls)\n"
    "    started.append((process, 'peewee' in sys.modules))\n"
    "    return process\n"
    "def watched_send(self, raw):\n"
    "    sent.append(self)\n"
    "    return send(self, raw)\n"
    "Process.start, Process.send = classmethod(watched_start), watched_send\n"
    "from tui.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "for process, engine_loaded in started:\n"
    "    ended = process is not None and process._child.wait(timeout=10) == 0\n"
    "    used = sum(each is process for each in sent)\n"
    "    print('START', process is not None, engine_loaded, used, ended, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""`poptui ARGS` saying, on stderr, each summary process it started: whether one started,
whether the engine (peewee) was loaded by then, how many header blocks it was sent, and
whether it ended cleanly once the run was over."""


@pytest.mark.parametrize("first", [True, False], ids=["first-download", "new-mail"])
def test_a_large_fetch_starts_its_summary_process_before_the_engine(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser, first: bool
) -> None:
    """Enough new mail for a summary process: the quick check starts the child before the
    engine loads (for a first download on speculation, before connecting; for new mail seen in
    its listing, as it hands the session over), and the engine's fetch reads every header block
    with that very child, which then ends."""
    home = Home(tmp_path)
    add_box(home, "127.0.0.1", dovecot.plain_port, pop_user, "--incoming-security", "none")
    if not first:
        dovecot.deliver(pop_user.name, make_message(-1))
        assert home.poptui("fetch").stdout.startswith("Box: 1 new message")
    count = SUMMARY_PROCESS_MESSAGES + 10
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(count)])
    before = _logins(dovecot, pop_user.name)
    command = [sys.executable, "-c", WATCHING_STARTS, "fetch", "--account", "Box"]
    done = subprocess.run(command, env=home.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith(f"Box: {count} new messages"), done
    assert _logins(dovecot, pop_user.name) == before + 1
    starts = [line.split()[1:] for line in done.stderr.splitlines() if line.startswith("START")]
    if usable_cores() > 1:
        assert starts == [["True", "False", str(count), "True"]], done.stderr
    else:  # one core: no child at all, the headers are read in-process
        assert starts == [], done.stderr
    subjects = home.sql("SELECT subject FROM message ORDER BY id")
    expected = [(f"Message number {i}",) for i in range(-1 if not first else 0, count)]
    assert subjects == expected


WATCHING_EARLY = (
    "import sys\n"
    "from tui.core.sync.early_retrieval import EarlyRetrieval\n"
    "start, stop = EarlyRetrieval.start, EarlyRetrieval.stop\n"
    "def watched_start(self):\n"
    "    print('EARLY-START', 'peewee' in sys.modules, file=sys.stderr, flush=True)\n"
    "    start(self)\n"
    "def watched_stop(self):\n"
    "    stopped = stop(self)\n"
    "    sent = -1 if stopped is None else len(stopped[1])\n"
    "    print('EARLY-STOP', self.spooled, sent, file=sys.stderr, flush=True)\n"
    "    return stopped\n"
    "EarlyRetrieval.start, EarlyRetrieval.stop = watched_start, watched_stop\n"
    "from tui.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
"""`poptui ARGS` saying, on stderr, when it starts reading early (whether the engine, peewee,
was loaded by then) and, when the engine stops it, how many bytes it had read and how many
RETRs it had sent."""


def _retrieved(dovecot: DovecotServer, user: str) -> list[int]:
    """RETRs of each of `user`'s sessions so far, from Dovecot's logout lines."""
    lines = re.findall(rf"pop3\({re.escape(user)}\).*retr=(\d+)/", dovecot.log_text())
    return [int(count) for count in lines]


@pytest.mark.parametrize(
    ("first", "security"),
    [(True, "none"), (True, "ssl"), (False, "none")],
    ids=["first-download", "first-download-tls", "new-mail"],
)
def test_the_first_messages_are_read_while_the_engine_loads(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser, first: bool, security: str
) -> None:
    """`poptui fetch` asks for the new mail on the handed session before the engine is
    loaded, and the engine goes on from what was read: one login, each message asked for
    once (Dovecot's own count), every one stored whole, in order."""
    home = Home(tmp_path)
    port = dovecot.plain_port if security == "none" else dovecot.tls_port
    tls = [] if security == "none" else ["--pin-fingerprint", dovecot.cert_fingerprint]
    add_box(home, "127.0.0.1", port, pop_user, "--incoming-security", security, *tls)
    if not first:
        dovecot.deliver(pop_user.name, make_message(-1))
        assert home.poptui("fetch").stdout.startswith("Box: 1 new message")
    count = 120
    body = b"".join(b"line %d of a longer message\r\n" % n for n in range(700))  # ~20 KB
    mail = [make_message(i, body=body) for i in range(count)]
    dovecot.deliver_many(pop_user.name, mail)
    before, sessions = _logins(dovecot, pop_user.name), len(_retrieved(dovecot, pop_user.name))
    command = [sys.executable, "-c", WATCHING_EARLY, "fetch", "--account", "Box"]
    done = subprocess.run(command, env=home.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith(f"Box: {count} new messages"), done
    assert _logins(dovecot, pop_user.name) == before + 1
    early = [line.split()[1:] for line in done.stderr.splitlines() if line.startswith("EARLY")]
    assert early[0] == ["False"], done.stderr  # EARLY-START, the engine not loaded yet
    spooled, sent = (int(word) for word in early[1])
    assert len(early) == 2 and spooled > 0 and 0 < sent <= count, done.stderr
    assert _eventually(lambda: len(_retrieved(dovecot, pop_user.name)) == sessions + 1)
    assert _retrieved(dovecot, pop_user.name)[-1] == count  # none asked for twice
    stored = home.sql("SELECT subject, size FROM message ORDER BY id")
    assert stored[-count:] == [(f"Message number {i}", len(mail[i])) for i in range(count)]
    assert len(stored) == count + (0 if first else 1)


def _watch_starts(monkeypatch: pytest.MonkeyPatch) -> list[SummaryProcess | None]:
    started: list[SummaryProcess | None] = []
    start = SummaryProcess.start.__func__  # type: ignore[attr-defined]

    def watched(cls: type[SummaryProcess]) -> SummaryProcess | None:
        process: SummaryProcess | None = start(cls)
        started.append(process)
        return process

    monkeypatch.setattr(SummaryProcess, "start", classmethod(watched))
    return started


@pytest.mark.parametrize("first", [True, False], ids=["first-download", "new-mail"])
def test_a_summary_process_nobody_takes_is_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bool
) -> None:
    """`poptui fetch` ends a summary process its engine did not take (the command failed
    before fetching, the account changed), as it ends such a session."""
    mail = [make_message(i) for i in range(SUMMARY_PROCESS_MESSAGES)]
    server = FakePop3Server([] if first else mail[:1], users={"alice": "secret"})
    with server:
        home = Home(tmp_path)
        user = PopUser("alice", "secret")
        add_box(home, server.host, server.port, user, "--incoming-security", "none")
        if not first:
            assert home.poptui("fetch").stdout.startswith("Box: 1 new message")
        server.messages.extend(mail)
        server.sessions.clear()
        started = _watch_starts(monkeypatch)
        try:
            assert _quick_handing_over(home) is None
            # New mail was listed; a first download's session is opened in a thread.
            assert session_handover.pending() == 1
            assert _eventually(lambda: len(server.sessions) == 1)
        finally:
            session_handover.discard_all()
        assert session_handover.take_summaries(1) is None
        assert session_handover.pending() == 0
        assert _lock_state(home) == "free"
        # Ended: QUIT sent, though with RETR answers still unread (the early reader's) the
        # closing socket's reset may reach the server first. Nothing was deleted either way.
        assert _eventually(lambda: server.last.ended)
        assert "DELE" not in server.last.verbs
    if usable_cores() > 1:
        (process,) = started
        assert process is not None and process._child.wait(timeout=10) == 0
    else:
        assert started == []


@pytest.fixture
def fetched(tmp_path: Path) -> Iterator[tuple[Home, FakePop3Server]]:
    """Two messages on a scriptable server, fetched once; a third has arrived since."""
    server = FakePop3Server([make_message(1), make_message(2)], users={"alice": "secret"})
    with server:
        home = Home(tmp_path)
        add_box(
            home,
            server.host,
            server.port,
            PopUser("alice", "secret"),
            "--incoming-security",
            "none",
        )
        assert home.poptui("fetch").stdout.startswith("Box: 2 new messages")
        server.messages.append(make_message(3))
        server.sessions.clear()
        yield home, server
        session_handover.discard_all()  # whatever a test left in this process


def test_one_session_does_it_all(fetched: tuple[Home, FakePop3Server]) -> None:
    home, server = fetched
    done = home.poptui("fetch")
    assert done.stdout.startswith("Box: 1 new message"), done
    assert len(server.sessions) == 1
    verbs = server.last.verbs
    # One listing: the engine reads the check's (the maildrop stays as listed, RFC 1939).
    assert [verbs.count(verb) for verb in ("STAT", "LIST", "UIDL")] == [1, 1, 1], verbs
    assert "RETR" in verbs and verbs[-1] == "QUIT"


def test_the_lock_is_held_from_the_check_to_the_engine(
    fetched: tuple[Home, FakePop3Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, server = fetched
    started = _watch_starts(monkeypatch)
    assert _quick_handing_over(home) is None  # new mail: offered, not ended
    assert started == []  # one new message: no summary process for it
    assert session_handover.pending() == 1
    assert _lock_state(home) == "busy"  # no other poptui can log in meanwhile
    assert "QUIT" not in server.last.verbs
    session_handover.discard_all()  # `poptui fetch` ends it if its engine did not take it
    assert session_handover.pending() == 0
    assert _lock_state(home) == "free"
    assert _eventually(lambda: "QUIT" in server.last.verbs)
    assert "DELE" not in server.last.verbs


def test_a_session_for_other_settings_is_not_taken(fetched: tuple[Home, FakePop3Server]) -> None:
    home, server = fetched
    assert _quick_handing_over(home) is None
    ((account_id, secret_key),) = home.sql("SELECT id, secret_key FROM account")
    lock = home.root / "state" / "poptui" / "locks" / f"account-{secret_key}.lock"
    other = session_handover.session_settings(server.host, server.port, "none", "bob", "")
    assert session_handover.take(int(str(account_id)), other, str(lock)) is None
    assert session_handover.pending() == 0  # and ended: QUIT, the lock let go
    assert _lock_state(home) == "free"
    assert _eventually(lambda: "QUIT" in server.last.verbs)


def test_a_session_that_no_longer_answers_is_replaced(
    fetched: tuple[Home, FakePop3Server],
) -> None:
    home, server = fetched
    after_login: list[FakeSession] = []

    def capa(session: FakeSession, _args: list[str]) -> object:
        if session.authenticated and not after_login:
            after_login.append(session)
            return CLOSE  # the handed session dies at the engine's first command
        return b"+OK\r\n" + "".join(f"{word}\r\n" for word in DEFAULT_CAPA).encode() + b".\r\n"

    server.handlers["CAPA"] = capa
    done = home.poptui("fetch")
    assert done.returncode == 0 and done.stdout.startswith("Box: 1 new message"), done
    assert len(server.sessions) == 2 and server.sessions[0] is after_login[0]
    assert "RETR" in server.sessions[1].verbs


def test_the_password_command_runs_once(fetched: tuple[Home, FakePop3Server]) -> None:
    home, _server = fetched
    runs = home.root / "runs"
    command = f"echo run >> {runs}; printf %s secret"
    assert home.poptui("secrets", "use", "command", "Box", "--incoming", command).returncode == 0
    done = home.poptui("fetch")
    assert done.stdout.startswith("Box: 1 new message"), done
    assert runs.read_text().splitlines() == ["run"]  # the check's; the engine took its password


def test_a_first_download_runs_the_password_command_once(tmp_path: Path) -> None:
    """The first download's session is opened in a thread with the password the check read;
    the engine takes that password too, even before the session has arrived."""
    with FakePop3Server([make_message(1), make_message(2)], users={"alice": "secret"}) as server:
        home = Home(tmp_path)
        add_box(home, server.host, server.port, PopUser("alice", "secret"),
                "--incoming-security", "none")  # fmt: skip
        runs = home.root / "runs"
        command = f"echo run >> {runs}; printf %s secret"
        assert (
            home.poptui("secrets", "use", "command", "Box", "--incoming", command).returncode == 0
        )

        def slow_capa(session: FakeSession, _args: list[str]) -> object:
            if not session.authenticated:
                time.sleep(1.0)  # a slow server: the engine is loaded before the session is
            return b"+OK\r\n" + "".join(f"{w}\r\n" for w in DEFAULT_CAPA).encode() + b".\r\n"

        server.handlers["CAPA"] = slow_capa
        done = home.poptui("fetch")
        assert done.stdout.startswith("Box: 2 new messages"), done
        assert runs.read_text().splitlines() == ["run"]
        assert len(server.sessions) == 1


@pytest.mark.parametrize("first", [True, False], ids=["first-download", "new-mail"])
def test_mail_the_plan_leaves_alone_is_never_asked_for_early(tmp_path: Path, first: bool) -> None:
    """Mail imported from another tool is never fetched (`poptui import`), nor mail stored
    here and since marked gone from the server: the early reader sends it no RETR either."""
    mail = [make_message(i) for i in range(1, 7)]
    with FakePop3Server(mail[:2], users={"alice": "secret"}) as server:
        home = Home(tmp_path)
        add_box(home, server.host, server.port, PopUser("alice", "secret"),
                "--incoming-security", "none")  # fmt: skip
        ((account_id,),) = home.sql("SELECT id FROM account")
        if not first:
            assert home.poptui("fetch").stdout.startswith("Box: 2 new messages")
            # Message 2 stored here, and believed gone from the server since.
            home.sql("UPDATE message SET deleted_on_server = 1 WHERE uidl = 'uid0002'")
        server.messages.extend(mail[2:])
        home.sql(
            "INSERT INTO imported_uidl (account_id, uidl, source, imported_at) "
            f"VALUES ({account_id}, 'uid0004', 'fetchmail', '2026-01-01 00:00:00')"
        )
        server.sessions.clear()
        done = home.poptui("fetch")
        assert done.returncode == 0, done
        retrieved = {
            c.split()[1] for s in server.sessions for c in s.commands if c.startswith("RETR")
        }
        assert "4" not in retrieved  # imported: never fetched
        if first:
            assert retrieved == {"1", "2", "3", "5", "6"}
        else:
            assert "2" not in retrieved and retrieved == {"3", "5", "6"}


def test_bytes_nobody_asked_for_keep_the_session_from_the_engine(
    fetched: tuple[Home, FakePop3Server],
) -> None:
    """A server that sends more after the listing (a reply to nothing) gets no say in the
    engine's session: the check ends its own, and the engine logs in afresh."""
    home, server = fetched

    def uidl(session: FakeSession, args: list[str]) -> object:
        listing = server._transaction_reply(session, "UIDL", args)
        assert isinstance(listing, bytes)
        if session is not server.sessions[0]:
            return listing
        return listing + b"+OK 1 99\r\n"  # e.g. a forged answer to the engine's STAT

    server.handlers["UIDL"] = uidl
    done = home.poptui("fetch")
    assert done.returncode == 0 and done.stdout.startswith("Box: 1 new message"), done
    assert len(server.sessions) == 2  # the check's, ended; the engine's own
    assert "RETR" not in server.sessions[0].verbs and "RETR" in server.sessions[1].verbs


def _refusals(dovecot: DovecotServer, user: str) -> int:
    """Logins Dovecot refused for `user`: its auth process logs each password it checked."""
    return len(
        re.findall(
            rf"\({re.escape(user)},127\.0\.0\.1[^)]*\): Password mismatch", dovecot.log_text()
        )
    )


@pytest.mark.parametrize("first", [True, False], ids=["first-download", "new-mail"])
def test_a_wrong_password_is_tried_once(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser, first: bool
) -> None:
    """The check's login is refused: the engine words that refusal and does not try the same
    password again (twice would count twice towards a lockout, and wait out Dovecot's penalty
    a second time). What the account records is what a refusal of its own login records."""
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(2)])
    home = Home(tmp_path)
    add_box(home, "127.0.0.1", dovecot.plain_port, pop_user, "--incoming-security", "none")
    if not first:
        assert home.poptui("fetch").stdout.startswith("Box: 2 new messages")
        dovecot.deliver_many(pop_user.name, [make_message(2)])
    wrong = home.poptui("secrets", "use", "command", "Box", "--incoming", "printf %s not-it")
    assert wrong.returncode == 0, wrong.stderr
    before = _refusals(dovecot, pop_user.name)
    done = home.poptui("fetch")
    assert done.returncode != 0
    assert "The password was rejected by 127.0.0.1" in done.stderr, done.stderr
    assert _eventually(lambda: _refusals(dovecot, pop_user.name) >= before + 1)
    time.sleep(0.3)  # a second attempt, had there been one, is logged by now
    assert _refusals(dovecot, pop_user.name) == before + 1, dovecot.log_text()[-2000:]
    said = "The password was rejected by 127.0.0.1. The server said: [AUTH] Authentication failed."
    account = home.sql(
        "SELECT last_fetch_status, last_fetch_error, consecutive_auth_failures FROM account"
    )
    assert account == [("error", said, 1)]
    last = home.sql("SELECT status, error_kind, error_message FROM fetch_log ORDER BY id DESC")
    assert last[0] == ("error", "auth", said)
    assert home.sql("SELECT count(*) FROM message") == [(0 if first else 2,)]


def _fetch_refused(
    tmp_path: Path, refusal: str
) -> tuple[Home, subprocess.CompletedProcess[str], int]:
    """`poptui fetch` of a mailbox whose server answers every login with `refusal`; and how
    many sessions the server saw."""
    with FakePop3Server([make_message(1)], users={"alice": "secret"}, auth_error=refusal) as server:
        home = Home(tmp_path)
        add_box(home, server.host, server.port, PopUser("alice", "not-it"),
                "--incoming-security", "none")  # fmt: skip
        done = home.poptui("fetch")
        assert done.returncode != 0
        return home, done, len(server.sessions)


def test_a_refusal_that_repeats_the_password_is_masked(tmp_path: Path) -> None:
    """A hostile server answering the login with the password (and its SASL token) in its
    text: what the account records, prints and logs says "********", as when the engine's
    own login is refused; and the password was sent once."""
    token = base64.b64encode(b"\0alice\0not-it").decode()
    home, done, sessions = _fetch_refused(tmp_path, f"-ERR [AUTH] no: not-it / {token}")
    assert "no: ******** / ********" in done.stderr, done.stderr
    recorded = home.sql("SELECT last_fetch_error FROM account")[0][0]
    assert "no: ******** / ********" in str(recorded)
    logged = home.sql("SELECT error_message FROM fetch_log")
    for text in [done.stdout, done.stderr, str(recorded), str(logged)]:
        assert "not-it" not in text and token not in text
    assert sessions == 1


def test_a_refusal_not_about_the_password_is_tried_again(tmp_path: Path) -> None:
    """A login refused for another reason (the mailbox in use elsewhere) may pass a moment
    later: the engine logs in itself, as it always did, and words what it meets."""
    _home, done, sessions = _fetch_refused(tmp_path, "-ERR [IN-USE] locked")
    assert "in use by another client" in done.stderr, done.stderr
    assert sessions == 2


def test_a_refusal_is_worded_only_for_the_same_password_and_settings() -> None:
    settings = session_handover.session_settings("h", 110, "none", "alice", "")
    other = session_handover.session_settings("h", 110, "none", "bob", "")
    try:
        for asked_settings, asked_password in [(settings, "other"), (other, "pw")]:
            session_handover.refused(7, settings, "pw", "[AUTH] no")
            assert session_handover.password_of(7) == "pw"
            assert session_handover.refusal(7, asked_settings, asked_password) is None
            assert session_handover.refusal(7, settings, "pw") is None  # asked once, forgotten
        session_handover.refused(7, settings, "pw", "[AUTH] no")
        assert session_handover.pending() == 1
        assert session_handover.refusal(7, settings, "pw") == "[AUTH] no"
        assert session_handover.pending() == 0 and session_handover.password_of(7) is None
    finally:
        session_handover.discard_all()
