"""The quick "nothing new" check (`tui.core.sync.quick_check`) against the engine.

The proof it may exist: on twin databases, `poptui fetch` through the quick check and through
the engine leave every table the same (fetch log, the account's outcome and counters, all the
rest), and print the same line. Then the cases it must leave to the engine, each shown to
change nothing: new mail, a deletion due, mail gone, a reused UIDL, a locked mailbox, a wrong
password, another schema version, and hostile server replies.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.certs import CertMaterial
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import FakePop3Server, FakeSession
from tui.core.sync import quick_check
from tui.core.sync.lock import lock_file, pid_lock

POPTUI = [sys.executable, "-m", "tui"]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?")
WHICH_PATH = (
    "import sys\nfrom tui.cli import main\ncode = main(sys.argv[1:])\n"
    "print('ENGINE' if 'peewee' in sys.modules else 'QUICK', file=sys.stderr)\nsys.exit(code)\n"
)
"""`poptui` with, on stderr, which path ran: the quick check never loads peewee."""


class Home:
    """One user's poptui: a database file and the XDG folders (locks) around it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "poptui.db"
        self.env = dict(
            os.environ,
            HOME=str(root),
            POPTUI_DATABASE=f"sqlite:///{self.db}",
            XDG_DATA_HOME=str(root / "data"),
            XDG_STATE_HOME=str(root / "state"),
        )

    @property
    def url(self) -> str:
        return self.env["POPTUI_DATABASE"]

    def poptui(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`poptui ARGS`; stderr ends with QUICK or ENGINE."""
        command = [sys.executable, "-c", WHICH_PATH, *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)

    def sql(self, statement: str, *args: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as db:
            return db.execute(statement, args).fetchall()

    def twin(self, root: Path) -> Home:
        """A copy of this database in another home (WAL included, by SQLite's backup)."""
        other = Home(root)
        root.mkdir()
        with sqlite3.connect(self.db) as source, sqlite3.connect(other.db) as target:
            source.backup(target)
        return other

    def dump(self, *, log_ids: bool = True) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table, timestamps replaced by their shape; without the fetch
        log's ids if `log_ids` is false (mailboxes fetched at once finish in any order)."""
        with sqlite3.connect(self.db) as db:
            tables = [
                name
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not name.startswith("sqlite_")
            ]
            dump = {
                table: sorted(
                    (
                        tuple(_shape(value) for value in row)
                        for row in db.execute(f'SELECT * FROM "{table}"')
                    ),
                    key=repr,
                )
                for table in tables
            }
        if not log_ids:
            dump["fetch_log"] = sorted(((None, *row[1:]) for row in dump["fetch_log"]), key=repr)
        return dump

    def quick(self, target: str | None = "Box") -> list[quick_check.NothingNew] | None:
        """The quick check in this process, as `poptui fetch` would call it here."""
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return quick_check.fetch_if_nothing_new(self.url, target, timeout=10)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _shape(value: object) -> object:
    if isinstance(value, str) and TIMESTAMP.fullmatch(value):
        return "<timestamp>"
    return value


def _summary(output: str) -> str:
    return re.sub(r" in \d+\.\ds$", " in <s>", output.strip(), flags=re.M)


def add_box(home: Home, host: str, port: int, user: PopUser, *extra: str) -> None:
    add = ["account", "add", "Box", "--email", f"{user.name}@example.com", "--no-preset"]
    add += ["--incoming-host", host, "--incoming-port", str(port), "--username", user.name]
    for args in (
        [*add, *extra],
        ["secrets", "use", "command", "Box", "--incoming", f"printf %s {user.password}"],
    ):
        done = home.poptui(*args)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def home(tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser) -> Iterator[Home]:
    """A mailbox of three messages on the suite's Dovecot, fetched once (plain POP3)."""
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    root = tmp_path / "a"
    root.mkdir()
    home = Home(root)
    add_box(home, "127.0.0.1", dovecot.plain_port, pop_user, "--incoming-security", "none")
    first = home.poptui("fetch")
    assert first.returncode == 0 and first.stdout.startswith("Box: 3 new messages"), first
    yield home


# ------------------------------------------------------------------ the same rows written


def _as_after_a_crash(home: Home) -> None:
    """A fetch killed mid-way (a "running" log row) and failures counted before."""
    home.sql(
        "INSERT INTO fetch_log (account_id, started_at, status) "
        "VALUES (1, '2026-01-02 03:04:05.000006', 'running')"
    )
    home.sql(
        "UPDATE account SET consecutive_connect_failures = 3, consecutive_auth_failures = 2, "
        "last_fetch_status = 'error', last_fetch_error = 'Could not connect', last_fetch_new = 9"
    )


def _assert_twins_agree(
    quick: Home, engine: Home, *, args: tuple[str, ...], log_ids: bool = True
) -> None:
    fast = quick.poptui("fetch", *args)
    slow = engine.poptui("fetch", *args, "--jobs", "4")  # --jobs: words the quick path leaves
    assert fast.stderr.strip().endswith("QUICK"), fast.stderr
    assert slow.stderr.strip().endswith("ENGINE"), slow.stderr
    assert (fast.returncode, _summary(fast.stdout)) == (slow.returncode, _summary(slow.stdout))
    assert quick.dump(log_ids=log_ids) == engine.dump(log_ids=log_ids)


@pytest.mark.parametrize(
    "policy", [("--delete-policy", "leave"), ("--delete-policy", "after_days")]
)
def test_quick_check_writes_what_the_engine_writes(
    home: Home, tmp_path: Path, policy: tuple[str, str]
) -> None:
    done = home.poptui("account", "edit", "Box", *policy, "--delete-after-days", "30")
    assert done.returncode == 0, done.stderr
    _as_after_a_crash(home)
    twin = home.twin(tmp_path / "b")
    before = home.dump()
    _assert_twins_agree(home, twin, args=("--account", "Box"))
    assert home.dump() != before  # the test can fail: something was recorded
    _assert_twins_agree(home, twin, args=("--quiet",))  # the active mailbox, a second time
    log = home.sql("SELECT status, error_kind, new_messages FROM fetch_log ORDER BY id")
    assert log[-3:] == [("interrupted", "", 0), ("ok", "", 0), ("ok", "", 0)]


def test_quick_check_over_tls_and_for_every_mailbox(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(2)])
    root = tmp_path / "a"
    root.mkdir()
    home = Home(root)
    pin = ("--pin-fingerprint", dovecot.cert_fingerprint)
    add_box(home, "127.0.0.1", dovecot.tls_port, pop_user, "--incoming-security", "ssl", *pin)
    second = ["account", "add", "Second", "--email", "s@example.com", "--no-preset"]
    second += ["--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.starttls_port)]
    second += ["--incoming-security", "starttls", "--username", pop_user.name, *pin]
    assert home.poptui(*second).returncode == 0
    command = f"printf %s {pop_user.password}"
    assert home.poptui("secrets", "use", "command", "Second", "--incoming", command).returncode == 0
    assert home.poptui("fetch", "--all").returncode == 0
    twin = home.twin(tmp_path / "b")
    _assert_twins_agree(home, twin, args=("--all",), log_ids=False)
    printed = home.poptui("fetch", "--all").stdout.splitlines()
    assert [line.split(":")[0] for line in printed] == ["Box", "Second"]


# ------------------------------------------------------------------ left to the engine


def _leaves_it(home: Home, target: str | None = "Box") -> None:
    before = home.dump()
    assert home.quick(target) is None
    assert home.dump() == before


def test_honest_mailbox_is_quick_in_process(home: Home) -> None:
    """The cases below start from a mailbox the check does take (so each can fail)."""
    outcomes = home.quick()
    assert outcomes is not None
    assert [o.summary_line().split(" in ")[0] for o in outcomes] == ["Box: 0 new messages"]


def test_new_mail_is_the_engines(home: Home, dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, make_message(7))
    _leaves_it(home)
    done = home.poptui("fetch")
    assert "ENGINE" in done.stderr and done.stdout.startswith("Box: 1 new message")


def test_a_due_deletion_is_the_engines(
    home: Home, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    assert home.poptui("account", "edit", "Box", "--delete-policy", "after_fetch").returncode == 0
    _leaves_it(home)
    done = home.poptui("fetch")
    assert done.returncode == 0 and "ENGINE" in done.stderr, done.stderr
    assert dovecot.maildir_messages(pop_user.name) == []
    assert home.quick() is not None  # nothing left to delete: quick again


def test_mail_gone_from_the_server_is_the_engines(
    home: Home, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.clear(pop_user.name)
    _leaves_it(home)
    assert home.poptui("fetch").returncode == 0
    assert home.sql("SELECT count(*) FROM message WHERE deleted_on_server") == [(3,)]


def test_a_reused_uidl_is_the_engines(home: Home) -> None:
    home.sql("UPDATE message SET size = size + 1 WHERE id = 2")  # the listed size no longer fits
    _leaves_it(home)


def test_a_uidl_once_shared_is_the_engines(home: Home) -> None:
    home.sql("UPDATE message SET uidl = uidl || ' sha256:00', deleted_on_server = 1 WHERE id = 2")
    home.sql(
        "INSERT INTO imported_uidl (account_id, uidl, source, imported_at) "
        "SELECT 1, substr(uidl, 1, instr(uidl, ' ') - 1), 'fetchmail', '2026-01-01 00:00:00' "
        "FROM message WHERE id = 2"
    )
    _leaves_it(home)


def test_a_locked_mailbox_is_the_engines(home: Home) -> None:
    (secret_key,) = home.sql("SELECT secret_key FROM account")[0]
    folder = home.root / "state" / "poptui" / "locks"
    with pid_lock(lock_file(folder, str(secret_key)), busy=RuntimeError):
        _leaves_it(home)
        done = home.poptui("fetch")
    assert done.returncode == 1 and "already being fetched" in done.stderr


def test_a_wrong_password_is_worded_and_counted_once(home: Home) -> None:
    done = home.poptui("secrets", "use", "command", "Box", "--incoming", "printf %s wrong")
    assert done.returncode == 0
    _leaves_it(home)
    failed = home.poptui("fetch")
    assert failed.returncode == 1 and "ENGINE" in failed.stderr
    assert "Box: The password was rejected by 127.0.0.1" in failed.stderr  # the engine's words
    counters = "SELECT consecutive_auth_failures, last_fetch_status FROM account"
    assert home.sql(counters) == [(1, "error")]


def test_a_delivery_target_is_the_engines(home: Home, tmp_path: Path) -> None:
    done = home.poptui("account", "edit", "Box", "--deliver-to", f"maildir:{tmp_path / 'Mail'}")
    assert done.returncode == 0, done.stderr
    _leaves_it(home)


def test_a_disabled_mailbox_is_the_engines(home: Home) -> None:
    home.sql("UPDATE account SET disabled = 1, disabled_reason = 'too many failures'")
    _leaves_it(home)
    _leaves_it(home, quick_check.ALL)  # --all skips it: no mailbox left to check


@pytest.mark.parametrize("change", [1, -1])
def test_another_schema_version_is_the_engines(home: Home, change: int) -> None:
    home.sql("UPDATE schema_version SET version = version + ?", change)
    _leaves_it(home)


def test_no_user_registered_is_the_engines(home: Home) -> None:
    home.sql("DELETE FROM app_user")
    _leaves_it(home)


def test_the_migration_count_is_the_engines() -> None:
    from tui.core.storage.migrations import all_migrations

    assert quick_check.schema_known() == all_migrations()[-1].version


@pytest.mark.parametrize(
    "variables",
    [
        {"HOME": "/home/x"},
        {"HOME": "/home/x", "XDG_DATA_HOME": "/d", "XDG_STATE_HOME": "/s"},
        {"HOME": "/home/x/", "XDG_DATA_HOME": "", "XDG_STATE_HOME": ""},
        {"HOME": "/home/x", "XDG_DATA_HOME": "rel", "XDG_STATE_HOME": "/s/../t"},
        {"HOME": "relative"},
        {"HOME": "/"},
    ],
)
def test_the_folders_are_platformdirs(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    from tui.core.storage.db import default_database_url
    from tui.core.sync.lock import default_lock_dir

    for name in ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    url, locks = quick_check.default_database_url(), quick_check.default_lock_dir()
    if url is not None:  # where the rule is not plain the check declines; never a wrong path
        assert url == default_database_url()
    if locks is not None:
        assert Path(locks) == default_lock_dir()


# ------------------------------------------------------------------ hostile servers


HOSTILE_UIDL = [
    b"+OK\r\n1 uid0001\r\n2 uid\x1b[31m2\r\n.\r\n",  # an escape sequence in a unique-id
    b"+OK\r\n1 uid0001\r\n1 uid0002\r\n.\r\n",  # a number twice
    b"+OK\r\n1 uid0001\r\n3 uid0002\r\n.\r\n",  # a number out of range
    b"+OK\r\n01 uid0001\r\n2 uid0002\r\n.\r\n",  # a leading zero
    b"+OK\r\n1 uid0001\r\n2 uid0001\r\n.\r\n",  # one unique-id twice
    b"+OK\r\n1 uid0001\n2 uid0002\r\n.\r\n",  # a bare LF
    b"+OK\r\n1 uid0001 x\r\n2 uid0002\r\n.\r\n",  # a third word
    b"+OK\r\n1 " + b"u" * 71 + b"\r\n2 uid0002\r\n.\r\n",  # too long
    b"+OK\r\n1 uid0001\r\n..2 uid0002\r\n.\r\n",  # dot-stuffed
    b"+OK\r\n1 uid0001\r\n",  # never ends (the server then hangs up)
    b"-ERR no UIDL here\r\n",
    b"+OK\r\n" + b"1 uid0001\r\n" * 50_000,  # far longer than STAT's count allows
]


@pytest.fixture
def fake_home(tmp_path: Path) -> Iterator[tuple[Home, FakePop3Server]]:
    """Two messages on a scriptable server, fetched once by the engine."""
    server = FakePop3Server([make_message(1), make_message(2)], users={"alice": "secret"})
    with server:
        home = Home(tmp_path)
        user = PopUser("alice", "secret")
        add_box(home, server.host, server.port, user, "--incoming-security", "none")
        first = home.poptui("fetch")
        assert first.stdout.startswith("Box: 2 new messages"), first
        yield home, server


def test_a_first_fetch_is_the_engines_without_a_session_of_its_own(tmp_path: Path) -> None:
    """A mailbox never fetched has nothing stored: only an empty mailbox could be proven to
    have nothing new, so the check leaves it to the engine before connecting (a first download
    logs in once, not twice), and takes the mailbox once the engine has fetched it."""
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
        _leaves_it(home)
        assert server.sessions == []  # not even connected
        first = home.poptui("fetch")
        assert "ENGINE" in first.stderr and first.stdout.startswith("Box: 2 new messages")
        assert len(server.sessions) == 1  # the engine's own session, the only one
        assert home.quick() is not None  # fetched once: the check takes it from now on


@pytest.mark.parametrize("reply", HOSTILE_UIDL, ids=range(len(HOSTILE_UIDL)))
def test_hostile_listings_are_the_engines(
    fake_home: tuple[Home, FakePop3Server], reply: bytes
) -> None:
    home, server = fake_home
    assert home.quick() is not None  # honest, the same server is quick

    def hostile(session: FakeSession, _args: list[str]) -> bytes:
        session.close_after_reply = True
        return reply

    server.handlers["UIDL"] = hostile
    _leaves_it(home)
    assert "DELE" not in server.last.verbs


def test_a_server_that_says_nothing_is_the_engines(fake_home: tuple[Home, FakePop3Server]) -> None:
    home, server = fake_home
    server.greeting = "-ERR go away"
    _leaves_it(home)


_SETTINGS = [
    '{"kind": "command", "commands": {"K:incoming": "printf %s pw"}}',
    '{"commands": {"K:outgoing": "printf %s o", "K:incoming": "printf %s pw"}, "kind": "command"}',
    '{"kind": "command", "commands": {"K:incoming": "  printf  %s  pw  "}}',
    '{"kind": "command", "commands": {"K:incoming": "printf %s p|w"}}',  # a shell's
    '{"kind": "command", "commands": {"K:incoming": "printf \'%s\' pw"}}',  # quoted: shlex's
    '{"kind": "command", "commands": {"K:incoming": "A=1 printf %s pw"}}',  # an assignment
    '{"kind": "command", "commands": {"K:incoming": "printf %s pw", "K:bad": "x"}}',
    '{"kind": "command", "commands": {"K:incoming": 5}}',
    '{"kind": "command", "commands": {":incoming": "printf %s pw"}}',
    '{"kind": "command", "commands": {}}',
    '{"kind": "command", "commands": ["K:incoming"]}',
    '{"kind": "command", "commands": {"K:incoming": "printf %s pw"}, "path": null}',
    '{"kind": "Command", "commands": {"K:incoming": "printf %s pw"}}',
    '{"kind": "keyring", "commands": {"K:incoming": "printf %s pw"}}',
    '{"kind": "command", "kind": "command", "commands": {"K:incoming": "printf %s pw"}}',
    '{"kind": "command", "commands": {"K:incoming": "printf %s a", "K:incoming": "printf %s b"}}',
    '{"kind": "command", "commands": {"K:incoming": "printf %s p\tw"}}',
    '{"kind": "command", "commands": {"K:incoming": "printf %s \\u00e9"}}',
    '{"kind": "command", "commands": {"K:incoming": "false"}}',
    '{"kind": "command", "commands": {"K:incoming": "printf \\\\n%s pw"}}',
    '["command"]',
    "not json",
]


@pytest.mark.parametrize("setting", _SETTINGS, ids=range(len(_SETTINGS)))
def test_the_plain_command_path_reads_what_the_store_reads(setting: str) -> None:
    """`quick_password` answers only where `tui.core.secrets` would give the same password
    (or fail: Unsure), and otherwise leaves the store to it (None)."""
    import json

    from tui.core.secrets.base import SecretKind
    from tui.core.secrets.choice import StoreChoice, open_store
    from tui.core.secrets.errors import SecretStoreError
    from tui.core.sync.quick_password import command_password
    from tui.core.sync.quick_session import Unsure

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE setting (owner TEXT, key TEXT, value TEXT)")
    db.execute("INSERT INTO setting VALUES ('me', 'secret_store', ?)", (setting,))
    try:
        quick: str | type[Unsure] | None = command_password(db, "me", "K")
    except Unsure:
        quick = Unsure
    try:
        store = open_store(StoreChoice.from_dict(json.loads(setting)))
        stored: str | type[Unsure] | None = store.get("K", SecretKind.INCOMING)
    except (SecretStoreError, ValueError, AttributeError):
        stored = Unsure
    if quick is not None:
        assert quick == stored
    plain = setting in _SETTINGS[:3]
    assert (quick is not None) == (plain or "false" in setting)


@pytest.mark.parametrize(
    "command", ["printf %s pw", "pass show mail/work", "a.b-c_d:e@f%g+h,i 1 2", " x  y\t"]
)
def test_a_plain_command_splits_as_the_store_splits_it(command: str) -> None:
    from tui.core.secrets.command import PasswordCommand
    from tui.core.sync.quick_password import PLAIN_COMMAND_CHARACTERS

    parsed = PasswordCommand.parse(command)
    if PLAIN_COMMAND_CHARACTERS.issuperset(command.strip()):
        assert parsed.argv == tuple(command.strip().split())
    else:
        assert "\t" in command  # the one case here the quick path leaves to the store


def test_a_shell_password_command_is_still_quick(home: Home, pop_user: PopUser) -> None:
    command = f"printf %s {pop_user.password} | cat"
    assert home.poptui("secrets", "use", "command", "Box", "--incoming", command).returncode == 0
    assert home.quick() is not None  # through `tui.core.secrets`, as before


def test_a_failing_password_command_is_the_engines(home: Home) -> None:
    assert home.poptui("secrets", "use", "command", "Box", "--incoming", "false").returncode == 0
    _leaves_it(home)
    failed = home.poptui("fetch")
    assert failed.returncode == 1 and "ENGINE" in failed.stderr
    assert "failed with exit status 1" in failed.stderr, failed.stderr


def test_the_command_inherits_no_more_than_under_subprocess() -> None:
    """subprocess closes what this process was given (`close_fds`); the quick path too."""
    from tui.core.sync.quick_password import _first_line, _inherited_descriptors

    given = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(given, True)
    try:
        argv = ["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]
        quick = _first_line(argv, _inherited_descriptors())
        assert quick == subprocess.run(argv, capture_output=True, text=True).stdout
    finally:
        os.close(given)


def test_the_quick_limit_is_the_engines() -> None:
    """Above the engine's listing limit the engine refuses from STAT alone; the check must
    not read (and hold) such a listing first."""
    from tui.core.net.pop3.limits import MAX_LISTING_ENTRIES
    from tui.core.sync import quick_session

    assert quick_session._MAX_MESSAGES == MAX_LISTING_ENTRIES


# ------------------------------------------------------------------ the work done meanwhile


def test_a_write_while_the_server_logs_in_is_read_again(
    fake_home: tuple[Home, FakePop3Server],
) -> None:
    """The stored mail is read while the server checks the password; a commit by another
    connection after that (here: a stored size changed, as a reused UIDL looks) must be seen."""
    home, server = fake_home

    def stat_after_a_write(session: FakeSession, args: list[str]) -> object:
        home.sql("UPDATE message SET size = size + 1 WHERE id = 2")
        return server._transaction_reply(session, "STAT", args)

    server.handlers["STAT"] = stat_after_a_write
    before = home.dump()
    assert home.quick() is None
    assert home.dump()["fetch_log"] == before["fetch_log"]  # nothing recorded


def test_a_slow_password_gets_a_fresh_connection(
    fake_home: tuple[Home, FakePop3Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password that took longer than the overlap allows (a prompt) is not sent on the
    connection that waited for it: that one is closed unused and a new one logs in."""
    home, server = fake_home
    sessions = len(server.sessions)
    monkeypatch.setattr(quick_check, "_OVERLAP_LIMIT", 0.0)
    assert home.quick() is not None
    # The server's threads register the two connections in whichever order they start.
    waited, used = sorted(server.sessions[sessions:], key=lambda session: bool(session.commands))
    assert waited.commands == [] and "AUTH" not in waited.raw.decode()
    assert used.verbs[:2] == ["CAPA", "AUTH"]


def test_a_pin_reads_as_the_regular_expressions_read_it() -> None:
    """`normalize_fingerprint` dropped its regexes (compiled on every TLS run); fuzzed
    against them: the same fingerprint or the same refusal."""
    import random

    from tui.core.net.tls_context import normalize_fingerprint

    def by_regex(text: str) -> str | None:
        cleaned = re.sub(r"[\s:]", "", text).lower()
        if cleaned.startswith("sha256"):
            cleaned = cleaned.removeprefix("sha256").lstrip("=")
        return cleaned if re.fullmatch(r"[0-9a-f]{64}", cleaned) else None

    pieces = [*"0123456789abcdefABCDEF", ":", " ", "\t", "\n", "\x1c", "\u00a0", "\u2003"]
    pieces += ["SHA256", "sha256=", "=", "g", "\u0130", "\u212a", "-", "\x00", "\U0001d7d8"]
    hexes = "0123456789abcdef"
    rng = random.Random(11)
    for trial in range(20_000):
        if trial % 2:
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(90)))
        else:  # mostly a real fingerprint, a piece changed here and there
            digits = [rng.choice(hexes + hexes.upper()) for _ in range(64)]
            for _ in range(rng.randrange(4)):
                digits.insert(rng.randrange(65), rng.choice(pieces))
            text = rng.choice(["", "SHA256:", "sha256=", " "]) + ":".join(digits)
        try:
            ours: str | None = normalize_fingerprint(text)
        except ValueError:
            ours = None
        assert ours == by_regex(text), repr(text)


@pytest.mark.parametrize("quiet", [False, True])
def test_the_entry_point_leaves_after_a_quick_fetch_with_all_written(
    home: Home, quiet: bool
) -> None:
    """`python -m tui fetch` (the `poptui` script's entry point too) ends a quick fetch without
    the interpreter's tear-down: its line printed, its rows committed, exit status 0."""
    runs = len(home.sql("SELECT id FROM fetch_log"))
    command = [sys.executable, "-X", "importtime", "-m", "tui", "fetch", *["--quiet"] * quiet]
    env = {k: v for k, v in home.env.items() if k != "PYTHONUNBUFFERED"}  # a buffered stdout
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "peewee" not in done.stderr  # the quick path answered (-X importtime lists it)
    assert _summary(done.stdout) == ("" if quiet else "Box: 0 new messages in <s>")
    assert len(home.sql("SELECT id FROM fetch_log WHERE status = 'ok'")) == runs + 1


# ------------------------------------------------------------------ certificates


def _tls_case(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[CertMaterial, str, str | None]:
    """The certificate a server shows, the pin set (or ""), and SSL_CERT_FILE (or None)."""
    import datetime as dt

    from tests.servers import certs
    from tests.servers.certs import make_self_signed

    good = make_self_signed(tmp_path / "good", san=("127.0.0.1",))
    other = make_self_signed(tmp_path / "other", san=("127.0.0.1",))
    if case == "expired":
        now = dt.datetime.now(dt.UTC)
        gone = (now - dt.timedelta(days=10), now - dt.timedelta(days=1))
        monkeypatch.setattr(certs, "_validity", lambda _days: gone)
        shown = make_self_signed(tmp_path / "expired", san=("127.0.0.1",))
    elif case == "wrong host":
        shown = make_self_signed(tmp_path / "wrong", san=("wrong.example",))
    else:
        shown = good
    pin = {"pinned": good.fingerprint, "pinned another": other.fingerprint}.get(case, "")
    trusted = {"untrusted": str(other.cert_path), "pinned": None, "pinned another": None}
    return shown, pin, trusted.get(case, str(shown.cert_path))


TLS_CASES = ["verified", "pinned", "expired", "wrong host", "untrusted", "pinned another"]
REFUSED = {
    "expired": "is not trusted: the certificate has expired",
    "wrong host": "is not trusted: host name mismatch",
    "untrusted": "is not trusted: self-signed certificate",
    "pinned another": "does not match the pinned fingerprint",
}
"""How the engine refuses each (the quick check words nothing: it hands over)."""


@pytest.mark.parametrize("security", ["ssl", "starttls"])
@pytest.mark.parametrize("case", TLS_CASES)
def test_the_certificate_is_held_to_the_engines_rules(
    tmp_path: Path, case: str, security: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty mailbox over TLS or STARTTLS: the check answers exactly when the engine
    accepts the certificate (a CA file or a pin); an expired, misnamed, untrusted or unpinned
    certificate leaves everything to the engine, which refuses it in its own words."""
    shown, pin, trusted = _tls_case(tmp_path, case, monkeypatch)
    context = shown.server_context()
    implicit, starttls = (context, None) if security == "ssl" else (None, context)
    server = FakePop3Server([], implicit_tls=implicit, starttls=starttls)
    with server:
        home = Home(tmp_path / "home")
        home.root.mkdir()
        extra = ["--pin-fingerprint", pin] if pin else []
        user = PopUser("alice", "secret")
        add_box(home, server.host, server.port, user, "--incoming-security", security, *extra)
        # Fetched before (a mailbox never fetched is the engine's before any connection).
        home.sql("UPDATE account SET last_fetch_at = '2026-01-02 03:04:05.000006'")
        twin = home.twin(tmp_path / "engine")
        for each in (home, twin):
            each.env.pop("SSL_CERT_DIR", None)
            each.env.pop("SSL_CERT_FILE", None)
            each.env.update({"SSL_CERT_FILE": trusted} if trusted else {})
        before = home.dump()
        outcomes = home.quick()
        engine = twin.poptui("fetch", "--jobs", "1")
    if case in ("verified", "pinned"):
        assert outcomes is not None and engine.returncode == 0, engine.stderr
        assert engine.stdout.startswith("Box: 0 new messages")
    else:
        assert outcomes is None and home.dump() == before
        assert engine.returncode == 1 and "ENGINE" in engine.stderr
        assert REFUSED[case] in engine.stderr, engine.stderr


def test_the_plain_connection_is_made_without_the_socket_module() -> None:
    """`quick_session._connected` (on `_socket`) refuses as `socket.create_connection` does, and
    what it connects becomes a full `socket.socket` for the engine, its timeout kept."""
    import socket

    from tui.core.sync import quick_session

    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        raw = quick_session._connected(b"127.0.0.1", port, 7.0)
        accepted, _peer = listening.accept()
        with accepted:
            full = quick_session._full_socket(raw)
            with full:
                assert isinstance(full, socket.socket) and full.gettimeout() == 7.0
                full.sendall(b"QUIT\r\n")
                assert accepted.recv(16) == b"QUIT\r\n"
                assert full.getpeername() == ("127.0.0.1", port)
    with pytest.raises(ConnectionRefusedError):
        quick_session._connected(b"127.0.0.1", port, 2.0)  # nobody listens there now
