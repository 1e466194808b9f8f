"""A logged-in POP3 session, with its mailbox's lock, handed from the quick check to the engine.

`poptui fetch` from cron first runs the quick "nothing new" check (`sync.quick_check`): it logs
in and lists. When the listing shows something to do (new mail, a deletion due), the engine ran
and logged in a second time: one more connection, TLS handshake and login for every cron run
that finds mail, which a provider counting logins sees twice. Now the check offers its session
here instead, still holding the mailbox's lock (so no other poptui can log in between), and the
engine goes on with it (`engine.fetch_account`): one login per run, and one listing (the
check's STAT, LIST and UIDL replies go with the session, `HandedSession.listed`).

A session is taken only for the account it was opened for, with the same server, security,
user name and pinned certificate, and the same lock file; anything else leaves it to
`discard_all`, which `poptui fetch` calls when it ends: QUIT (nothing was deleted in it),
then the socket and the lock closed. Standard library only: the quick check loads this module.

A session may come with a thread already reading its first RETR answers into a file
(`sync.early_retrieval`), which the engine stops and reads first (`HandedSession.stop_early`).
For a first download the session is opened in a thread (`quick_check._open_for_engine`): `expect`
says one is coming, and `take` waits for it.

The check may also hand over a summary process (`mail.summary_process`, started for the new
mail it saw: `quick_check._start_summaries`), which the engine's fetch of that account takes
(`take_summaries`); one nobody took is ended by `discard_all` too.
"""

from __future__ import annotations

import contextlib
import os
import threading

TYPE_CHECKING = False  # not `typing`'s: the quick check imports this module
if TYPE_CHECKING:
    import socket
    from contextlib import AbstractContextManager

    from tui.core.mail.summary_process import SummaryProcess
    from tui.core.sync.early_retrieval import EarlyRetrieval


class SessionLost(Exception):
    """The early reader failed on a handed session (the server hung up, its file could not be
    written): the session is out of step, to be ended, and the engine logs in afresh."""


class HandedSession:
    """A logged-in session in the TRANSACTION state, nothing pending on it, and the entered
    lock of its mailbox."""

    __slots__ = (
        "account_id",
        "early",
        "listed",
        "lock",
        "lock_path",
        "mechanism",
        "password",
        "peer_der",
        "settings",
        "sock",
    )

    def __init__(
        self,
        account_id: int,
        settings: tuple[object, ...],
        sock: socket.socket,
        peer_der: bytes | None,
        mechanism: str,
        lock: AbstractContextManager[None],
        lock_path: str,
        password: str,
        listed: tuple[int, int, bytes, bytes] | None = None,
        early: EarlyRetrieval | None = None,
    ) -> None:
        self.account_id = account_id
        self.settings = settings
        """`session_settings` of the account the session was opened for."""
        self.sock = sock
        self.peer_der = peer_der
        """The server's certificate (DER) when the session is encrypted."""
        self.mechanism = mechanism
        """How it logged in: "PLAIN" (SASL) or "USER/PASS"."""
        self.lock = lock
        self.lock_path = lock_path
        self.password = password
        """The password it logged in with, read from the user's store a moment ago: the
        fetch's own (for a fresh login, should this session not answer) without opening the
        store again."""
        self.listed = listed
        """STAT's count and octets, LIST's and UIDL's bodies as this session received them:
        the engine reads them with its own parser instead of asking again (the maildrop
        stays as it was listed until the session ends, RFC 1939)."""
        self.early = early
        """The thread reading the first RETR answers while the engine loads (`early_retrieval`):
        the engine stops it (`stop_early`) and reads what it read first."""

    def stop_early(self) -> tuple[int, list[int]] | None:
        """Stop the early reader: its file and the numbers it sent (None: there was none).
        Raises SessionLost when the session is unusable after it."""
        early, self.early = self.early, None
        if early is None:
            return None
        stopped = early.stop()
        if stopped is None:
            raise SessionLost("the early reader failed: the session is out of step")
        return stopped

    def release(self) -> None:
        """Let the mailbox's lock go (the engine's run over, or the session discarded)."""
        self.lock.__exit__(None, None, None)

    def quit(self) -> None:
        """QUIT without waiting for the answer (nothing was deleted), and close the socket."""
        try:
            stopped = self.stop_early()
        except SessionLost:
            stopped = None  # its file is closed already
        if stopped is not None:
            os.close(stopped[0])
        with contextlib.suppress(OSError):
            self.sock.settimeout(1.0)
            self.sock.sendall(b"QUIT\r\n")
        with contextlib.suppress(OSError):
            self.sock.close()


def session_settings(
    host: object, port: object, security: object, username: object, pinned: object
) -> tuple[object, ...]:
    """What a session is opened with, as both sides compare it."""
    return (str(host).strip(), int(str(port)), str(security), str(username), str(pinned or ""))


_handed: dict[int, HandedSession] = {}
_summaries: dict[int, SummaryProcess] = {}
_coming: dict[int, threading.Event] = {}
_coming_passwords: dict[int, str] = {}
_refusals: dict[int, tuple[tuple[object, ...], str, str]] = {}
"""Account → the settings and password a login was refused with a moment ago, and the
server's reply (`refused`)."""
_guard = threading.Lock()
_COMING_WAIT = 60.0
"""The longest `take` waits for a session still being opened (`expect`): past any login."""


def expect(account_id: int, password: str) -> threading.Event:
    """Say a session for this account is being opened in another thread with `password` (a
    first download: `quick_check`), which `take` waits for; the opener sets the event once it
    has offered the session or given up."""
    arrived = threading.Event()
    with _guard:
        _coming[account_id] = arrived
        _coming_passwords[account_id] = password
    return arrived


def _wait_for(account_id: int) -> None:
    with _guard:
        arrived = _coming.pop(account_id, None)
        _coming_passwords.pop(account_id, None)
    if arrived is not None:
        arrived.wait(_COMING_WAIT)


def offer(session: HandedSession) -> None:
    """Hand `session` to this process's next fetch of its account (one per account)."""
    with _guard:
        earlier = _handed.pop(session.account_id, None)
        _handed[session.account_id] = session
    if earlier is not None:
        end(earlier)


def take(account_id: int, settings: tuple[object, ...], lock_path: str) -> HandedSession | None:
    """The session handed over for this account, if it was opened with these settings and
    holds this lock file; a session that does not match is discarded."""
    _wait_for(account_id)
    with _guard:
        session = _handed.pop(account_id, None)
    if session is None:
        return None
    if session.settings != settings or not _same_file(session.lock_path, lock_path):
        end(session)
        return None
    return session


def offer_summaries(account_id: int, process: SummaryProcess) -> None:
    """Hand a running summary process (`mail.summary_process`) to this process's next fetch
    of the account: the check started it for the new mail it saw (`quick_check`)."""
    with _guard:
        earlier = _summaries.pop(account_id, None)
        _summaries[account_id] = process
    if earlier is not None:
        earlier.close()


def take_summaries(account_id: int) -> SummaryProcess | None:
    """The summary process handed over for this account (the caller's to use and end)."""
    with _guard:
        return _summaries.pop(account_id, None)


def password_of(account_id: int) -> str | None:
    """The password a session waiting for this account logged in with, or is logging in with,
    or was refused with (None: none of these)."""
    with _guard:
        session = _handed.get(account_id)
        coming = _coming_passwords.get(account_id)
        refusal = _refusals.get(account_id)
    if session is not None:
        return session.password
    if coming is not None:
        return coming
    return None if refusal is None else refusal[1]


def refused(account_id: int, settings: tuple[object, ...], password: str, reply: str) -> None:
    """The server refused the login with `password` a moment ago and said `reply` (its text
    after -ERR, masked): the engine, about to run in this process with the same password and
    settings, words that reply instead of logging in again (`refusal`). A wrong password tried
    twice counts twice towards a server's lockout (fail2ban, a provider's "too many failed
    logins"), and a second try waits out the server's penalty (Dovecot: 2 s)."""
    with _guard:
        _refusals[account_id] = (settings, password, reply)


def refusal(account_id: int, settings: tuple[object, ...], password: str) -> str | None:
    """The reply of a login refused with these very settings and password (and forgotten
    here); None when there was none, or when either has changed since."""
    with _guard:
        found = _refusals.pop(account_id, None)
    if found is None or found[0] != settings or found[1] != password:
        return None
    return found[2]


def discard_all() -> None:
    """End every session nobody took (QUIT, close, and let its lock go), and every summary
    process."""
    with _guard:
        coming = list(_coming)
    for account_id in coming:
        _wait_for(account_id)
    with _guard:
        left = list(_handed.values())
        _handed.clear()
        processes = list(_summaries.values())
        _summaries.clear()
        _refusals.clear()
    for process in processes:
        process.close()
    for session in left:
        end(session)


def pending() -> int:
    """How many sessions wait to be taken, or are being opened to be, or how many logins
    were refused (`refused`)."""
    with _guard:
        return len(_handed) + len(_coming) + len(_refusals)


def end(session: HandedSession) -> None:
    """QUIT (a no-op on a socket already closed) and let the mailbox's lock go."""
    try:
        session.quit()
    finally:
        session.release()


def _same_file(one: str, other: str) -> bool:
    try:
        first, second = os.stat(one), os.stat(other)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
