"""`poptui fetch` when there is nothing new: log in, list, compare, record, all without peewee.

A cron fetch every few minutes almost always finds nothing. This check does only what such a
run needs (sqlite3, one POP3 session, the mailbox lock) and records exactly the rows the engine
records for it: the fetch-log row, the account's outcome and its failure counters reset. It
acts only when it can prove there is nothing to do; on anything else (a mailbox never fetched,
new or reused UIDLs, a deletion due, mail gone from the server, a delivery target, OAuth2,
PostgreSQL, another schema version, a server that answers oddly, any error) it returns None
having written nothing, and the engine (`tui.core.sync.engine`) runs as usual. The proof that
both record the same is tests/integration/test_quick_check.py.

When `poptui fetch` runs it for one mailbox and the listing shows something to do, the check
does not end its session: it hands it, logged in, with the mailbox's lock and the password,
to the engine about to run in the same process (`sync.session_handover`), so a cron run that
finds mail logs in once (tests/integration/test_session_handover.py). A mailbox never fetched
gets its session opened in a thread instead, while this process loads the engine. Either way
the new mail is asked for on that session before the engine is loaded (`sync.early_retrieval`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime

from tui.core.sync.lock import lock_file, pid_lock
from tui.core.sync.quick_password import command_password
from tui.core.sync.quick_session import Listing, Refused, Session, Unsure, well_formed

TYPE_CHECKING = False  # not `typing`'s: that import is a few ms of a "nothing new" run
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ALL = "--all"
"""`target` for every enabled mailbox (`poptui fetch --all`)."""

_OVERLAP_LIMIT = 1.0
"""Seconds the password may take while a connection waits for it (longer: a new one)."""


_WAL_CHECKPOINT_BYTES = 256 << 10
"""A WAL this large is checkpointed (and truncated) when a check ends (`_Check._shrink_wal`)."""
_WAL_CHECKPOINT_WAIT_MS = 100
"""How long that checkpoint waits for other connections; busy, it is left to the next run."""

_ACCOUNT_COLUMNS = (
    "id, name, incoming_host, incoming_port, incoming_security, username, delete_policy, "
    "delete_after_days, pinned_fingerprint, auth_method, secret_key, disabled, "
    "max_message_bytes, max_messages_per_fetch"
)
_EARLY_MESSAGES = 5_000
_EARLY_OCTETS = 64 << 20
"""How far the first download's LIST reply is read for the early reader: `early_retrieval`'s
MOST_MESSAGES and SPOOL_CAP (not imported here: the check loads it only when it hands over)."""
_EARLY_SIZE_LIMIT = 4 << 20
"""The early reader (`sync.early_retrieval`) stops before the first message larger than this:
far below the engine's ceiling, so the engine's plan fetches every one it asked for."""


class NothingNew:
    """One mailbox found (and recorded) with nothing to fetch or delete."""

    __slots__ = ("account", "seconds")

    def __init__(self, account: str, seconds: float) -> None:
        self.account = account
        self.seconds = seconds

    def summary_line(self) -> str:
        """What `poptui fetch` prints for it: the engine's words for an empty fetch."""
        return f"{self.account}: 0 new messages in {self.seconds:.1f}s"


def utcnow() -> datetime:
    """As `tui.core.storage.models.utcnow`: naive UTC, stored as peewee stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def fetch_if_nothing_new(
    url: str,
    target: str | None,
    *,
    timeout: float = 30.0,
    now: Callable[[], datetime] = utcnow,
    hand_over: bool = False,
) -> list[NothingNew] | None:
    """Record a "nothing new" fetch of `target` (an account name, None for the active mailbox,
    `ALL`) and return one outcome per mailbox, in the engine's order; None, with nothing
    written, when any mailbox may have something to do (the engine must run).

    With `hand_over` (`poptui fetch`, which then runs the engine in this process), a single
    mailbox whose listing shows something to do has its logged-in session and its lock
    offered to the engine (`sync.session_handover`) instead of ended: one login per run."""
    try:
        path = _sqlite_path(url)
        if path is None or not os.path.isfile(path):
            return None
        with _Check(path, timeout, now, hand_over) as check:
            return check.run(target)
    except Exception:  # Unsure, or any failure: the engine runs, and words it if it recurs
        return None


def _sqlite_path(url: str) -> str | None:
    """The file of a plain `sqlite:///` URL (as `tui.core.storage.db.sqlite_file`), else None."""
    if url[:9].lower() != "sqlite://" or "?" in url:
        return None
    rest = url[9:]
    path = rest[1:] if rest.startswith("/") else rest
    return os.path.expanduser(path) if path and path != ":memory:" else None


def default_database_url() -> str | None:
    """`tui.core.storage.db.default_database_url` without platformdirs, where its rule is
    plain (Linux, absolute paths); None elsewhere, and the engine resolves it."""
    data = _xdg_home("XDG_DATA_HOME", ".local/share")
    return None if data is None else f"sqlite:///{data}/poptui/poptui.db"


def default_lock_dir() -> str | None:
    """`tui.core.sync.lock.default_lock_dir` without platformdirs, or None (as above)."""
    state = _xdg_home("XDG_STATE_HOME", ".local/state")
    return None if state is None else f"{state}/poptui/locks"


def _xdg_home(variable: str, under_home: str) -> str | None:
    import sys

    if sys.platform != "linux":
        return None
    value = os.environ.get(variable, "")
    if not value.startswith("/"):
        if value:
            return None  # a relative XDG variable: platformdirs' rule, not repeated here
        home = os.environ.get("HOME", "")
        if not home.startswith("/"):
            return None
        value = f"{home}/{under_home}"
    # "//x" is left as it is by normpath but not by platformdirs (HOME=/): declined too.
    plain = os.path.normpath(value) == value and not value.startswith("//")
    return value if plain else None


def schema_known() -> int:
    """The newest migration this program has (`all_migrations()[-1].version`), by file name."""
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "storage", "migrations")
    numbers = [
        int(name[1:5])
        for name in os.listdir(folder)
        if name.startswith("m") and name[1:5].isdigit() and name.endswith(".py")
    ]
    return max(numbers, default=0)


class _Check:
    """One run: the database open, the mailboxes' locks held until it ends."""

    def __init__(
        self, path: str, timeout: float, now: Callable[[], datetime], hand_over: bool = False
    ) -> None:
        self.db = sqlite3.connect(path, timeout=15.0, isolation_level=None)
        self.path = path
        self.timeout = timeout
        self.now = now
        self.hand_over = hand_over
        self.locks: list[Any] = []
        self.open: tuple[dict[str, Any], Session, str, str] | None = None
        """A single mailbox's session kept logged in through the proof (`hand_over`): its
        account, the session, its lock file and the password it logged in with."""

    def __enter__(self) -> _Check:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if self.open is not None:  # proven (or failed otherwise): the session ends here
            self.open[1].quit_unanswered()
            self.open = None
        for held in reversed(self.locks):
            held.__exit__(None, None, None)
        if exc_type is None:  # proven and recorded: not when the engine is about to run
            self._shrink_wal()
        self.db.close()

    def _shrink_wal(self) -> None:
        """Checkpoint a large WAL into the database file and truncate it. A full fetch ends
        without closing the database (`tui.cli.end_after_fetch`) and so leaves its WAL behind,
        as do these checks, a few pages each; every later open would read all of it again to
        index it (~4 ms for the 12 MB of 5,000 messages). Done here, in a run that found
        nothing to fetch, once after each fetch of new mail."""
        try:
            if os.stat(self.path + "-wal").st_size < _WAL_CHECKPOINT_BYTES:
                return
            # TRUNCATE waits (the busy timeout) for readers to leave the WAL: an app open on a
            # long read would hold a cron run for the connection's 15 s. A moment, then later.
            self.db.execute(f"PRAGMA busy_timeout = {_WAL_CHECKPOINT_WAIT_MS}")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except (OSError, sqlite3.Error):
            pass  # busy (a fetch is writing), or no WAL: the next run tries again

    def run(self, target: str | None) -> list[NothingNew]:
        db = self.db
        db.execute("PRAGMA foreign_keys = 1")
        db.execute("PRAGMA synchronous = FULL")  # as `storage.db` opens it: a durable commit
        row = db.execute("SELECT version FROM schema_version").fetchone()
        if row is None or row[0] != schema_known():
            raise Unsure("the engine migrates (or refuses) the database")
        owner = _login_name()
        if db.execute("SELECT 1 FROM app_user WHERE name = ?", (owner,)).fetchone() is None:
            raise Unsure("the engine registers a new user")
        accounts = self._accounts(owner, target)
        password = _PasswordSource(db, owner)
        lock_dir = default_lock_dir()
        if lock_dir is None:
            raise Unsure("the lock folder is platformdirs' to find")
        started = []
        keep_open = self.hand_over and len(accounts) == 1
        for account in accounts:
            clock = time.monotonic()
            self._lock(lock_dir, account["secret_key"])
            listing, stored, kept = self._listing(account, password, keep_open=keep_open)
            if kept is not None:
                session, secret = kept
                self.open = (account, session, lock_file(lock_dir, account["secret_key"]), secret)
            started.append((account, clock, self.now(), listing, stored))
        outcomes = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for account, clock, start, listing, stored in started:
                if not stored.current(db):  # another connection wrote since: read it again
                    stored = _Stored(db, account["id"])
                _prove_nothing_to_do(db, account, listing, stored, self.now())
                self._record(account["id"], start)
                outcomes.append(NothingNew(account["name"], time.monotonic() - clock))
        except BaseException as error:
            db.execute("ROLLBACK")
            if isinstance(error, Unsure) and len(started) == 1:
                _account, _clock, _start, listing, stored = started[0]
                self._offer_session(listing, stored)
            raise
        db.execute("COMMIT")
        return outcomes

    def _offer_session(self, listing: Listing, stored: _Stored) -> None:
        """Hand the mailbox's logged-in session and its lock to the engine, which is about
        to run in this process (`sync.session_handover`); kept here when it cannot be. The
        new mail (as listed) is asked for while the engine loads (`early_retrieval`), and
        with enough of it a summary process is started too."""
        if self.open is None:
            return
        account, session, lock_path, secret = self.open
        try:
            sock = session.hand_over()
        except Unsure:
            return  # ended with the others when the check ends
        lock = self.locks.pop()  # the one mailbox's
        self.open = None
        new = self._certainly_new(account["id"], listing, stored)
        directory = os.path.dirname(self.path)
        _offer(account, session, sock, listing.sizes, new, (lock, lock_path, secret, directory))
        _start_summaries(account["id"], sum(new))

    def _certainly_new(self, account_id: int, listing: Listing, stored: _Stored) -> list[bool]:
        """For each listed message, whether the engine's plan will certainly fetch it: a UIDL
        listed once, never stored (in any state), aliased, imported or stored apart by digest.
        The early reader asks only for these: a message the plan leaves alone (mail imported
        from another tool is never fetched again) must never see a RETR."""
        seen: set[str] = set()
        twice: set[str] = set()
        for uidl in listing.uidls:
            (twice if uidl in seen else seen).add(uidl)
        # Only the first candidates are looked up (the reader asks for at most that many), and
        # only those can be new here: one past them might be imported, and the reader goes on
        # past the candidates it finds known.
        candidates = [u for u in listing.uidls if u not in stored.still][:_EARLY_MESSAGES]
        known = twice | {key.split(" ", 1)[0] for key in stored.keyed}
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = _KNOWN_AMONG.format(marks=marks)
            known.update(row[0] for row in self.db.execute(sql, (account_id, *chunk) * 3))
        looked_up = set(candidates)
        return [uidl in looked_up and uidl not in known for uidl in listing.uidls]

    def _accounts(self, owner: str, target: str | None) -> list[dict[str, Any]]:
        """The mailboxes `poptui fetch` would fetch (as `cli.fetch._targets`), or Unsure."""
        where = "owner = ? AND archived_at IS NULL"
        args: tuple[Any, ...] = (owner,)
        if target == ALL:
            sql = f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE {where} ORDER BY name"
        elif target is None:
            sql = f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE {where} AND is_active"
        else:
            sql = f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE {where} AND name = ?"
            args = (owner, target)
        cursor = self.db.execute(sql, args)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if target == ALL:
            rows = [row for row in rows if not row["disabled"]]
        if not rows or (target != ALL and len(rows) != 1):
            raise Unsure("no such mailbox, or no single active one: the engine words it")
        if any(row["disabled"] or row["auth_method"] != "password" for row in rows):
            raise Unsure("disabled, or OAuth2: the engine words or signs in")
        marks = ", ".join("?" for _ in rows)
        never = f"SELECT 1 FROM account WHERE last_fetch_at IS NULL AND id IN ({marks})"
        if self.db.execute(never, [row["id"] for row in rows]).fetchone() is not None:
            # Nothing stored yet: only an empty mailbox could be proven to have nothing new,
            # and the engine would log in again for everything else (a first download).
            if self.hand_over and len(rows) == 1:  # `poptui fetch` of one, about to run
                self._open_for_engine(rows[0], owner)
                _start_summaries(rows[0]["id"], None)
            raise Unsure("never fetched: the engine fetches the mailbox's first mail")
        return rows

    def _open_for_engine(self, account: dict[str, Any], owner: str) -> None:
        """A first download: open the mailbox's session in a thread while this process loads
        the engine (~0.17 s, one core busy), and hand it over with its first messages already
        being read (`early_retrieval`). Done in series before the engine loads, it was no
        faster than the engine's own login (the seventeenth session's measurement); in a
        thread the connection, TLS, login and listing wait on the network, not on Python.
        Never raises: without it the engine opens its own session, as before."""
        try:
            lock_dir = default_lock_dir()
            if lock_dir is None:
                return
            self._lock(lock_dir, account["secret_key"])
            secret = _PasswordSource(self.db, owner).of(account)
            # Mail imported from another tool (or stored, or aliased) is never fetched again:
            # the early reader must not ask for it, so with any such row it asks for nothing.
            known = self.db.execute(_ANY_KNOWN, (account["id"],) * 3).fetchone() is not None
        except Exception:
            return  # a lock taken is let go when the check ends
        import threading

        from tui.core.sync import session_handover

        opener = threading.Thread(
            target=_open_and_offer,
            args=(
                account,
                secret,
                self.locks.pop(),
                lock_file(lock_dir, account["secret_key"]),
                self.timeout,
                None if known else os.path.dirname(self.path),
                session_handover.expect(account["id"], secret),
            ),
            name="poptui-first-session",
            daemon=True,
        )
        opener.start()

    def _lock(self, lock_dir: str, secret_key: str) -> None:
        os.makedirs(lock_dir, exist_ok=True)

        def busy(_holder: str) -> Unsure:
            return Unsure("another fetch runs: the engine says so")

        held = pid_lock(lock_file(lock_dir, secret_key), busy=busy)
        held.__enter__()
        self.locks.append(held)

    def _listing(
        self, account: dict[str, Any], password: _PasswordSource, *, keep_open: bool = False
    ) -> tuple[Listing, _Stored, tuple[Session, str] | None]:
        """The server's listing, and the stored mail read while the server logs the user in;
        with `keep_open`, the session too, still logged in, and the password it logged in with
        (else None: it has ended).

        Connected first: the server starts its side (Dovecot: a login process) while the
        password command runs and ssl loads. A password that took longer (a prompt) gets a
        fresh connection, as before, so no server's idle limit is ever tested here.
        """
        session = Session(account, self.timeout)
        kept = False
        try:
            clock = time.monotonic()
            secret = password.of(account)
            if time.monotonic() - clock > _OVERLAP_LIMIT:
                session.close()
                session = Session(account, self.timeout)
            session.open()
            session.send_login(account["username"], secret)
            stored = _Stored(self.db, account["id"])
            try:
                session.logged_in()
            except Refused as refusal:
                if keep_open:  # the engine runs next, here: it words the refusal
                    _refused(account, secret, refusal)
                raise
            listing = session.listing(keep_open=keep_open)
            if not keep_open:
                session.quit()
            kept = keep_open
        finally:
            if not kept:
                session.close()
        return listing, stored, (session, secret) if kept else None

    def _record(self, account_id: int, start: datetime) -> None:
        """The rows `engine.fetch_account` and `record.record_outcome` leave after an ok,
        empty fetch (see the module's docstring for the test that holds them together)."""
        end = self.now()
        db = self.db
        db.execute(
            "UPDATE fetch_log SET status = 'interrupted', finished_at = ? "
            "WHERE account_id = ? AND status = 'running'",
            (str(start), account_id),
        )
        db.execute(
            "INSERT INTO fetch_log (account_id, started_at, finished_at, status, error_kind, "
            "error_message, new_messages, bytes_fetched, deleted_on_server) "
            "VALUES (?, ?, ?, 'ok', '', '', 0, 0, 0)",
            (account_id, str(start), str(end)),
        )
        db.execute(
            "UPDATE account SET last_fetch_at = ?, last_fetch_new = 0, last_fetch_status = 'ok',"
            " last_fetch_error = '', consecutive_auth_failures = 0,"
            " consecutive_connect_failures = 0 WHERE id = ?",
            (str(end), account_id),
        )


def _open_and_offer(
    account: dict[str, Any],
    secret: str,
    lock: Any,
    lock_path: str,
    timeout: float,
    directory: str | None,
    arrived: Any,
) -> None:
    """In a thread: log in to a mailbox never fetched, list it and offer the session to the
    engine (`session_handover`) with its first messages being read; on any failure, end the
    session and let the lock go (the engine then logs in itself and words what happened)."""
    session: Session | None = None
    offered = False
    try:
        session = Session(account, timeout)
        session.open()
        session.send_login(account["username"], secret)
        session.logged_in()
        # Kept as received, for the engine's parser: no column of Python objects per message
        # is made here, in a thread beside the engine's imports (at 50,000 messages they
        # stayed behind as 5 MB of fragmented heap).
        session.listing(keep_open=True, columns=False)
        sock = session.hand_over()
        if session.listed is None:
            raise Unsure("kept open, so listed: never reached")
        count, _octets, sizes_body, uidls_body = session.listed
        sizes: list[int] = []
        # Only a listing whose every line is well formed: the plan fetches all its messages.
        # Not for a mailbox larger than the reader's share: checking its whole listing here,
        # beside the engine's imports, left 5 MB of heap behind at 50,000 messages, and the
        # start-up it saves is a small part of so long a fetch.
        if (
            count <= _EARLY_MESSAGES
            and well_formed(sizes_body, "LIST", count)
            and well_formed(uidls_body, "UIDL", count)
        ):
            sizes = _first_sizes(sizes_body, _EARLY_MESSAGES, _EARLY_OCTETS)
        new = [True] * len(sizes)
        _offer(account, session, sock, sizes, new, (lock, lock_path, secret, directory))
        offered = True
    except Refused as refusal:  # the engine words it, without logging in again
        _refused(account, secret, refusal)
    except Exception:  # the engine's own session words it
        pass
    finally:
        if not offered:
            try:
                if session is not None:
                    session.quit_unanswered()
            finally:
                lock.__exit__(None, None, None)
        arrived.set()


def _first_sizes(body: bytes, most: int, octets: int) -> list[int]:
    """The sizes of messages 1, 2, ... from a LIST reply's lines, while they are well formed
    and in order, up to `most` of them or past `octets` of mail: all the early reader needs."""
    sizes: list[int] = []
    total = start = 0
    while len(sizes) < most and total <= octets:
        end = body.find(b"\r\n", start)
        if end < 0:
            break
        number, _, size = body[start:end].partition(b" ")
        if not (size.isdigit() and number == b"%d" % (len(sizes) + 1)) or len(size) > 18:
            break
        sizes.append(int(size))
        total += sizes[-1]
        start = end + 2
    return sizes


def _offer(
    account: dict[str, Any],
    session: Session,
    sock: Any,
    sizes: list[int],
    new: list[bool],
    kept: tuple[Any, str, str, str | None],
) -> None:
    """Offer the engine `session` (its logged-in `sock`) with `kept`: the mailbox's entered
    lock, its lock file, the password it logged in with and the database's folder, where the
    early reader (started here) spools the `new` mail it asks for."""
    from tui.core.sync import session_handover

    lock, lock_path, secret, directory = kept
    early = (
        None if directory is None else _early_reader(sock, session, sizes, new, account, directory)
    )
    if early is not None:
        try:
            early.start()
        except RuntimeError:  # no thread to be had: the engine asks for everything itself
            early.discard()
            early = None
    session_handover.offer(
        session_handover.HandedSession(
            account["id"],
            _settings(account),
            sock,
            session.peer_der,
            session.mechanism,
            lock,
            lock_path,
            secret,
            session.listed,
            early,
        )
    )


def _settings(account: dict[str, Any]) -> tuple[object, ...]:
    from tui.core.sync import session_handover

    return session_handover.session_settings(
        account["incoming_host"],
        account["incoming_port"],
        account["incoming_security"],
        account["username"],
        account["pinned_fingerprint"],
    )


def _refused(account: dict[str, Any], secret: str, refusal: Refused) -> None:
    """Tell the engine, about to run in this process, that `secret` was refused just now."""
    from tui.core.sync import session_handover

    session_handover.refused(account["id"], _settings(account), secret, refusal.reply)


def _early_reader(
    sock: Any,
    session: Session,
    sizes: list[int],
    new: list[bool],
    account: dict[str, Any],
    directory: str,
) -> Any:
    """An `EarlyRetrieval` of the new mail the engine will fetch first, not started; None
    when the server does not pipeline, nothing is new, or no file can be made there."""
    if "PIPELINING" not in session.capabilities:
        return None
    from tui.core.sync.early_retrieval import EarlyRetrieval, wanted_prefix

    limit = min(account["max_message_bytes"] or _EARLY_SIZE_LIMIT, _EARLY_SIZE_LIMIT)
    numbers = wanted_prefix(sizes, new, limit, account["max_messages_per_fetch"] or 0)
    if not numbers:
        return None
    try:
        return EarlyRetrieval(sock, numbers, sizes, directory)
    except OSError:
        return None


def _start_summaries(account_id: int, new_mail: int | None) -> None:
    """Start the summary process (`mail.summary_process`) a fetch of `new_mail` messages (None:
    a first download, of as yet unknown size) would read its header blocks with, and hand it
    to the engine about to run in this process (`sync.session_handover`).

    Started here, it starts on the other core while this process loads the engine (~0.15 s),
    which was idle then. Started by the engine, it took ~50 ms of CPU in the middle of the
    fetch, where both cores are busy, and its storer waited ~80 ms for the first summary.
    A first download is started one on speculation (the engine ends it if it is small): once in
    a mailbox's life, and the largest fetch it ever has. Never raises: without it, the engine
    starts its own as before."""
    try:
        from tui.core.mail.summary_process import (
            SUMMARY_PROCESS_MESSAGES,
            SummaryProcess,
            worth_starting,
        )
        from tui.core.sync import session_handover

        if not worth_starting(SUMMARY_PROCESS_MESSAGES if new_mail is None else new_mail):
            return
        process = SummaryProcess.start()
    except Exception:
        return
    if process is not None:
        session_handover.offer_summaries(account_id, process)


def _login_name() -> str:
    """`getpass.getuser()` (`storage.accounts.current_user` on SQLite) without importing
    getpass (termios, contextlib, warnings): the same variables, then the password database."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if user := os.environ.get(name):
            return user
    import pwd

    return pwd.getpwuid(os.getuid())[0]


class _PasswordSource:
    """The incoming password from the user's saved store (a command or the keyring), as
    `oauth.login.login_secret` asks it; an encrypted file or no saved choice: Unsure."""

    def __init__(self, db: sqlite3.Connection, owner: str) -> None:
        self.db = db
        self.owner = owner
        self.store: Any = None

    def of(self, account: dict[str, Any]) -> str:
        password = command_password(self.db, self.owner, account["secret_key"])
        if password is None:
            password = self._from_store(account)
        if not password or any(c in account["username"] + password for c in "\r\n\0\x01"):
            raise Unsure("no password, or one POP3 cannot send: the engine words it")
        return password

    def _from_store(self, account: dict[str, Any]) -> str | None:
        from tui.core.secrets.base import SecretKind
        from tui.core.secrets.errors import SecretStoreError

        try:
            password = self._store().get(
                account["secret_key"], SecretKind.INCOMING, mailbox=account["name"]
            )
        except SecretStoreError:
            raise Unsure("the engine words the store's failure") from None
        return None if password is None else str(password)

    def _store(self) -> Any:
        if self.store is None:
            import json

            from tui.core.secrets.choice import StoreChoice, open_store

            sql = "SELECT value FROM setting WHERE owner = ? AND key = 'secret_store'"
            row = self.db.execute(sql, (self.owner,)).fetchone()
            if row is None:
                raise Unsure("no saved store: the engine probes the keyring")
            choice = StoreChoice.from_dict(json.loads(row[0]))
            if choice.kind == "cryptfile":
                raise Unsure("the encrypted file needs its passphrase")
            self.store = open_store(choice)
        return self.store


_ANY_KNOWN = (
    "SELECT 1 FROM message WHERE account_id = ? UNION ALL "
    "SELECT 1 FROM imported_uidl WHERE account_id = ? UNION ALL "
    "SELECT 1 FROM uidl_alias WHERE account_id = ? LIMIT 1"
)
_KNOWN_AMONG = (
    "SELECT uidl FROM message WHERE account_id = ? AND uidl IN ({marks}) UNION ALL "
    "SELECT uidl FROM imported_uidl WHERE account_id = ? AND uidl IN ({marks}) UNION ALL "
    "SELECT uidl FROM uidl_alias WHERE account_id = ? AND uidl IN ({marks})"
)
_ALIASES_AND_IMPORTED = (
    "SELECT uidl FROM uidl_alias WHERE account_id = ? "
    "UNION ALL SELECT uidl FROM imported_uidl WHERE account_id = ?"
)


_MINE = "FROM message WHERE account_id = ? AND"


class _Stored:
    """The stored mail the proof always compares (thousands of rows), read while the server
    logs in, with SQLite's `data_version` then: if no other connection has committed since,
    it is what the recording transaction would read (the rest is read in that transaction)."""

    __slots__ = ("aliases", "keyed", "still", "version")

    def __init__(self, db: sqlite3.Connection, account_id: int) -> None:
        self.version = _data_version(db)
        # Stored and believed on the server; stored apart by digest once; aliases.
        still = f"SELECT uidl, size {_MINE} NOT deleted_on_server"
        self.still = dict(db.execute(still, (account_id,)))
        keyed = f"SELECT uidl {_MINE} instr(uidl, ' ') > 0"
        self.keyed = [key for (key,) in db.execute(keyed, (account_id,))]
        aliases = "SELECT uidl FROM uidl_alias WHERE account_id = ?"
        self.aliases = [uidl for (uidl,) in db.execute(aliases, (account_id,))]

    def current(self, db: sqlite3.Connection) -> bool:
        return _data_version(db) == self.version


def _data_version(db: sqlite3.Connection) -> int:
    """Changes when another connection commits (SQLite's `PRAGMA data_version`)."""
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _prove_nothing_to_do(
    db: sqlite3.Connection,
    account: dict[str, Any],
    listing: Listing,
    stored: _Stored,
    now: datetime,
) -> None:
    """Raise Unsure unless the engine, given this listing, would fetch, delete, mark and
    deliver nothing (`plan.plan_sync`, `engine._mark_gone`, `plan.due_for_deletion`)."""
    account_id = account["id"]
    current = db.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM account WHERE id = ?", (account_id,)
    ).fetchone()
    if current is None or tuple(current) != tuple(account.values()):
        raise Unsure("the account changed while the server was asked")
    targets = "SELECT 1 FROM delivery_target WHERE account_id = ?"
    if db.execute(targets, (account_id,)).fetchone() is not None:
        raise Unsure("delivery targets: the engine delivers what they lack")
    listed = dict(zip(listing.uidls, listing.sizes, strict=True))
    if len(listed) != listing.count:
        raise Unsure("a UIDL listed twice: the engine tells the copies apart")
    # Stored and believed on the server: exactly the listing, sizes included, in the usual
    # case (one comparison). Otherwise: gone, resized (a reused UIDL) or new mail (the
    # engine's), or listed mail known another way (deleted here before, an alias, imported).
    still = stored.still
    if still != listed:
        if any(listed.get(uidl) != size for uidl, size in still.items()):
            raise Unsure("gone from the server, or listed with another size")
        deleted = dict(db.execute(f"SELECT uidl, size {_MINE} deleted_on_server", (account_id,)))
        other = {row[0] for row in db.execute(_ALIASES_AND_IMPORTED, (account_id, account_id))}
        for uidl in listed.keys() - still.keys():
            size = deleted.get(uidl)
            if size is None and uidl not in other:
                raise Unsure("new mail")
            if size is not None and size != listed[uidl]:
                raise Unsure("listed with another size: a reused UIDL")
    for key in stored.keyed:
        if key.split(" ", 1)[0] in listed:
            raise Unsure("a UIDL shared once: the engine decides by the bytes")
    for uidl in stored.aliases:
        if uidl not in listed:
            raise Unsure("an alias gone from the server: the engine marks it")
    policy = account["delete_policy"]
    if policy != "leave":
        due = "SELECT 1 FROM message WHERE account_id = ? AND NOT deleted_on_server"
        args: tuple[Any, ...] = (account_id,)
        if policy == "after_days":
            from datetime import timedelta

            due += " AND first_seen_at <= ?"
            args += (str(now - timedelta(days=account["delete_after_days"])),)
        elif policy == "when_deleted_here":
            due += " AND deleted_here"
        elif policy != "after_fetch":
            raise Unsure("an unknown policy: the engine words it")
        if db.execute(due + " LIMIT 1", args).fetchone() is not None:
            raise Unsure("a deletion is due")
