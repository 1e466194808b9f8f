"""The sync algorithm: fetch a mailbox's new mail without ever losing or duplicating a message.

Order per session: UIDL → RETR (pipelined) → one durable commit per batch → DELE only for
messages already stored → QUIT. Any error closes the connection without QUIT, so the server
deletes nothing. Shared by the TUI's worker and `poptui fetch`; no Textual here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from platformdirs import user_state_path

from tui.core.net import pop3
from tui.core.storage.models import (
    Account,
    FetchLog,
    Message,
    MessageSource,
    UidlAlias,
    database_proxy,
    utcnow,
)
from tui.core.storage.settings import DeletePolicy, Security

AUTH_FAILURES_BEFORE_DISABLE = 10
CONNECT_FAILURES_BEFORE_DISABLE = 50
BATCH_MESSAGES = 100
BATCH_BYTES = 16 * 1024 * 1024
"""A batch is committed (one durable transaction) when either limit is reached."""
RESET_MIN_EXPECTED = 10
"""UIDL reset detection needs at least this many messages we believe are still on the server."""


class FetchError(Exception):
    """A fetch that could not run or did not finish, worded for the user."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyFetching(FetchError):
    kind = "already_fetching"


class AccountDisabled(FetchError):
    kind = "disabled"


class MissingPassword(FetchError):
    kind = "missing_password"


class UidlRequired(FetchError):
    kind = "uidl_unsupported"


class FetchCancelled(FetchError):
    kind = "cancelled"


@dataclass
class FetchProgress:
    """Where a fetch is; posted after each message so a UI can draw a bar."""

    account: str
    phase: str
    """connecting | listing | fetching | deleting | done"""
    total: int = 0
    done: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        elapsed = time.monotonic() - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0


@dataclass
class FetchResult:
    account: str
    new_messages: int = 0
    bytes_fetched: int = 0
    deleted_on_server: int = 0
    skipped_too_large: int = 0
    left_for_next_time: int = 0
    """New messages not fetched because of the per-cycle limit."""
    duplicates_by_message_id: int = 0
    uidl_reset_suspected: bool = False
    seconds: float = 0.0
    error: FetchError | pop3.Pop3Error | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.account}: {_error_text(self.error)}"
        parts = [f"{self.new_messages} new message{'s' if self.new_messages != 1 else ''}"]
        if self.bytes_fetched:
            parts.append(_human_bytes(self.bytes_fetched))
        if self.deleted_on_server:
            parts.append(f"{self.deleted_on_server} deleted on the server")
        if self.skipped_too_large:
            parts.append(f"{self.skipped_too_large} skipped as too large")
        if self.left_for_next_time:
            parts.append(f"{self.left_for_next_time} left for the next fetch (per-fetch limit)")
        if self.duplicates_by_message_id:
            parts.append(f"{self.duplicates_by_message_id} already here (same Message-ID)")
        if self.uidl_reset_suspected:
            parts.append("the server renumbered its messages: nothing was deleted")
        return f"{self.account}: " + ", ".join(parts) + f" in {self.seconds:.1f}s"


def _human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _error_text(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    hint = getattr(error, "hint", None)
    return f"{message} — {hint}" if hint else str(message)


# ---------------------------------------------------------------- the per-account lock


def default_lock_dir() -> Path:
    return user_state_path("poptui", appauthor=False) / "locks"


@contextmanager
def account_lock(
    account: Account, *, lock_dir: Path | None = None, wait: float = 0.0
) -> Iterator[None]:
    """Only one fetch per account at a time, across processes (the TUI and a cron job).

    An flock on a file: the kernel drops it when the process dies, so a killed fetch never
    leaves a stale lock behind.
    """
    directory = lock_dir or default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"account-{account.secret_key}.lock"
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AlreadyFetching(
                        f"{account.name} is already being fetched by another poptui "
                        "(the app or a scheduled `poptui fetch`); try again when it finishes"
                    ) from None
                time.sleep(0.1)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


# ---------------------------------------------------------------- what to fetch and delete


@dataclass
class ServerListing:
    """The server's view of the mailbox for one session."""

    uidls: dict[int, str]
    sizes: dict[int, int]

    def duplicates(self) -> set[str]:
        counts = Counter(self.uidls.values())
        return {uidl for uidl, count in counts.items() if count > 1}


@dataclass
class SyncPlan:
    to_fetch: list[int]
    skipped_too_large: int
    left_for_next_time: int
    reset_suspected: bool


def _known_uidls(account: Account) -> dict[str, tuple[int, bool]]:
    """UIDL → (message id, believed still on the server), for messages and aliases."""
    known: dict[str, tuple[int, bool]] = {}
    db = database_proxy.obj
    # A plain cursor: this runs on every fetch, and building 5,000 peewee rows costs more than
    # the query ("nothing new" is meant to take well under a second, from cron every minute).
    rows = db.execute_sql(
        f"SELECT id, uidl, deleted_on_server FROM message WHERE account_id = {db.param}",
        (account.id,),
    ).fetchall()
    for message_id, uidl, deleted in rows:
        known[uidl] = (message_id, not deleted)
    aliases: Any = (
        UidlAlias.select(UidlAlias.uidl, UidlAlias.message)
        .where(UidlAlias.account == account)
        .tuples()
    )
    for uidl, message_id in aliases:
        known.setdefault(uidl, (message_id, True))
    return known


def plan_sync(account: Account, listing: ServerListing, known: dict[str, Any]) -> SyncPlan:
    expected_on_server = {u for u, (_, on_server) in known.items() if on_server}
    on_server = set(listing.uidls.values())
    reset = (
        len(expected_on_server) >= RESET_MIN_EXPECTED
        and len(on_server) >= RESET_MIN_EXPECTED
        and not (expected_on_server & on_server)
    )
    seen: set[str] = set()
    new: list[int] = []
    for number in sorted(listing.uidls):
        uidl = listing.uidls[number]
        if uidl in known or uidl in seen:
            continue
        seen.add(uidl)
        new.append(number)
    skipped = 0
    if account.max_message_bytes:
        fits = [n for n in new if listing.sizes.get(n, 0) <= account.max_message_bytes]
        skipped = len(new) - len(fits)
        new = fits
    left = 0
    if account.max_messages_per_fetch and len(new) > account.max_messages_per_fetch:
        left = len(new) - account.max_messages_per_fetch
        new = new[: account.max_messages_per_fetch]
    return SyncPlan(new, skipped, left, reset)


def deletable(
    account: Account, listing: ServerListing, now: datetime, *, reset_suspected: bool
) -> dict[int, int]:
    """Server message number → stored message id, for the messages the policy deletes now.

    Only messages already stored here qualify; duplicated UIDLs and a suspected UIDL reset
    delete nothing, because then a UIDL no longer names one known message.
    """
    policy = DeletePolicy(account.delete_policy)
    if policy is DeletePolicy.LEAVE or reset_suspected:
        return {}
    duplicates = listing.duplicates()
    query = Message.select(Message.id, Message.uidl).where(
        (Message.account == account) & ~Message.deleted_on_server
    )
    if policy is DeletePolicy.AFTER_DAYS:
        query = query.where(
            Message.first_seen_at <= now - timedelta(days=account.delete_after_days)
        )
    elif policy is DeletePolicy.WHEN_DELETED_HERE:
        query = query.where(Message.deleted_here)
    wanted: dict[int, str] = dict(query.tuples())  # type: ignore[arg-type]
    wanted_by_uidl = {uidl: message_id for message_id, uidl in wanted.items()}
    return {
        number: wanted_by_uidl[uidl]
        for number, uidl in listing.uidls.items()
        if uidl in wanted_by_uidl and uidl not in duplicates
    }


# ---------------------------------------------------------------- storing


class BatchWriter:
    """Collects retrieved messages and stores each batch in one durable transaction."""

    def __init__(self, account: Account, *, dedupe_message_id: bool) -> None:
        self.account = account
        self.dedupe_message_id = dedupe_message_id
        self.pending: list[tuple[str, bytes]] = []
        self.pending_bytes = 0
        self.stored = 0
        self.duplicates = 0

    def add(self, uidl: str, raw: bytes) -> None:
        self.pending.append((uidl, raw))
        self.pending_bytes += len(raw)
        if len(self.pending) >= BATCH_MESSAGES or self.pending_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        from tui.core.mail.parse import summarize  # the email package: only when mail arrives

        now = utcnow()
        with database_proxy.atomic():
            for uidl, raw in self.pending:
                summary = summarize(raw)
                if self.dedupe_message_id and summary.message_id:
                    existing = (
                        Message.select(Message.id)
                        .where(
                            (Message.account == self.account)
                            & (Message.message_id == summary.message_id)
                        )
                        .first()
                    )
                    if existing is not None:
                        UidlAlias.insert(
                            account=self.account, uidl=uidl, message=existing.id, seen_at=now
                        ).on_conflict_ignore().execute()
                        self.duplicates += 1
                        continue
                # No ON CONFLICT here: the lock and the known-UIDL filter make a conflict a bug,
                # and failing the batch (no DELE follows) is the safe answer to a bug.
                message_id = Message.insert(
                    account=self.account,
                    uidl=uidl,
                    size=len(raw),
                    from_addr=summary.from_addr,
                    to_addrs=summary.to_addrs,
                    subject=summary.subject,
                    date=summary.date,
                    message_id=summary.message_id,
                    has_attachments=summary.has_attachments,
                    party_domains=summary.party_domains,
                    first_seen_at=now,
                    fetched_at=now,
                ).execute()
                MessageSource.insert(message=message_id, raw=raw).execute()
                self.stored += 1
        self.pending.clear()
        self.pending_bytes = 0


# ---------------------------------------------------------------- the fetch


class FetchControl:
    """Stops a fetch from another thread at once (quitting the app): between messages, and by
    closing the socket if the fetch is blocked in a read. Closing without QUIT deletes nothing;
    messages already committed stay stored."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._client: pop3.Pop3Client | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            client = self._client
        if client is not None:
            client.abort()

    def attach(self, client: pop3.Pop3Client) -> None:
        with self._lock:
            self._client = client
        if self.cancelled:
            client.abort()


ProgressCallback = Callable[[FetchProgress], None]
CancelCheck = Callable[[], bool]


@dataclass
class FetchOptions:
    timeout: float = 30.0
    ca_file: str | None = None
    lock_dir: Path | None = None
    lock_wait: float = 0.0
    pipeline_batch: int = 50
    ignore_disabled: bool = False


def _endpoint_security(account: Account) -> Security:
    return Security(account.incoming_security)


def _no_uidl_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:64]


def fetch_account(
    account: Account,
    password: str | None,
    *,
    options: FetchOptions | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    control: FetchControl | None = None,
    now: Callable[[], datetime] = utcnow,
) -> FetchResult:
    """Fetch one account's new mail; never raises for server or network trouble.

    The outcome (counts, or the error) is returned and recorded on the account and in the
    fetch log; failure counters drive the auto-disable rule.
    """
    options = options or FetchOptions()
    if control is not None:
        outer = cancelled

        def cancelled() -> bool:
            return control.cancelled or (outer is not None and outer())

    result = FetchResult(account=account.name)
    started = time.monotonic()
    if account.disabled and not options.ignore_disabled:
        result.error = AccountDisabled(
            f"{account.name} is disabled: {account.disabled_reason} Fix the password "
            f"(poptui password set {account.name!r} --incoming) or the settings to enable it."
        )
        return result
    if not password:
        result.error = MissingPassword(
            f"No incoming password is stored for {account.name}: set it with "
            f"`poptui password set {account.name!r} --incoming` or in the password editor"
        )
        _record(account, result, log=None, now=now())
        return result
    try:
        with account_lock(account, lock_dir=options.lock_dir, wait=options.lock_wait):
            log = FetchLog.create(account=account, started_at=now())
            try:
                _run(account, password, options, result, progress, cancelled, control, now)
            except (pop3.Pop3Error, FetchError) as error:
                result.error = error
                if control is not None and control.cancelled:
                    result.error = FetchCancelled(
                        f"Fetch of {account.name} stopped; {result.new_messages} new messages "
                        "were stored, nothing was deleted on the server"
                    )
            result.seconds = time.monotonic() - started
            _record(account, result, log=log, now=now())
    except AlreadyFetching as error:
        result.error = error
    result.seconds = time.monotonic() - started
    return result


def _run(
    account: Account,
    password: str,
    options: FetchOptions,
    result: FetchResult,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    control: FetchControl | None,
    now: Callable[[], datetime],
) -> None:
    state = FetchProgress(account=account.name, phase="connecting")
    report = progress or (lambda _p: None)
    report(state)
    client = pop3.Pop3Client.connect(
        account.incoming_host,
        account.incoming_port,
        _endpoint_security(account),
        timeout=options.timeout,
        pinned_fingerprint=account.pinned_fingerprint,
        ca_file=options.ca_file,
    )
    if control is not None:
        control.attach(client)
    try:
        client.login(account.username, password)
        state.phase = "listing"
        report(state)
        sizes = client.list_sizes()
        try:
            uidls = dict(client.uidl())
        except pop3.UidlUnsupported:
            if DeletePolicy(account.delete_policy) is not DeletePolicy.AFTER_FETCH:
                raise UidlRequired(
                    f"{account.incoming_host} does not support UIDL, so poptui cannot tell which "
                    "messages it already has. Only “delete from the server after fetching” works "
                    "with this server; nothing was fetched."
                ) from None
            _fetch_without_uidl(client, account, sizes, state, report, cancelled, result)
            return
        listing = ServerListing(uidls=uidls, sizes=sizes)
        known = _known_uidls(account)
        plan = plan_sync(account, listing, known)
        result.skipped_too_large = plan.skipped_too_large
        result.left_for_next_time = plan.left_for_next_time
        result.uidl_reset_suspected = plan.reset_suspected
        if plan.reset_suspected:
            plan.to_fetch = _remap_after_reset(client, account, listing, plan.to_fetch)
        if not plan.reset_suspected:
            _mark_gone(account, listing, known)
        state.phase = "fetching"
        state.total = len(plan.to_fetch)
        state.bytes_total = sum(sizes.get(n, 0) for n in plan.to_fetch)
        report(state)
        writer = BatchWriter(
            account,
            dedupe_message_id=account.username.strip().lower().startswith("recent:"),
        )
        retrieved = client.retrieve(
            plan.to_fetch, expected_sizes=sizes, batch=options.pipeline_batch
        )
        try:
            for number, raw in retrieved:
                writer.add(listing.uidls[number], raw)
                state.done += 1
                state.bytes_done += len(raw)
                result.bytes_fetched += len(raw)
                report(state)
                if cancelled is not None and cancelled():
                    writer.flush()
                    result.new_messages = writer.stored
                    raise FetchCancelled(
                        f"Fetch of {account.name} stopped; {writer.stored} messages were stored, "
                        "the rest come next time"
                    )
        except BaseException:
            # Messages received whole before the failure are valid: keep them. Nothing is
            # deleted on the server in this session, so the rest come next time.
            with contextlib.suppress(Exception):
                writer.flush()
            result.new_messages = writer.stored
            raise
        finally:
            close = getattr(retrieved, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        writer.flush()
        result.new_messages = writer.stored
        result.duplicates_by_message_id = writer.duplicates
        doomed = deletable(account, listing, now(), reset_suspected=plan.reset_suspected)
        if doomed:
            state.phase = "deleting"
            report(state)
            client.dele_many(sorted(doomed))
        client.quit()
        if doomed:
            stamp = now()
            Message.update(deleted_on_server=True, deleted_on_server_at=stamp).where(
                Message.id.in_(list(doomed.values()))
            ).execute()
            result.deleted_on_server = len(doomed)
        state.phase = "done"
        report(state)
    except BaseException:
        client.abort()
        raise


def _mark_gone(
    account: Account, listing: ServerListing, known: dict[str, tuple[int, bool]]
) -> None:
    """Messages we stored that the server no longer lists were deleted there by someone else."""
    on_server = set(listing.uidls.values())
    gone = [mid for uidl, (mid, still) in known.items() if still and uidl not in on_server]
    for start in range(0, len(gone), 500):
        Message.update(deleted_on_server=True, deleted_on_server_at=utcnow()).where(
            Message.id.in_(gone[start : start + 500])
        ).execute()


def _remap_after_reset(
    client: pop3.Pop3Client, account: Account, listing: ServerListing, to_fetch: list[int]
) -> list[int]:
    """After the server renumbered every UIDL: match messages by Message-ID instead of
    re-importing them; only messages we truly do not have are fetched."""
    from tui.core.mail import parse as mailparse

    rows: Any = (
        Message.select(Message.id, Message.message_id)
        .where((Message.account == account) & (Message.message_id != ""))
        .tuples()
    )
    by_message_id: dict[str, int] = {mid: pk for pk, mid in rows}
    still_new: list[int] = []
    with database_proxy.atomic():
        for number in to_fetch:
            head = client.top(number, 0)
            message_id = mailparse.summarize(head).message_id
            pk = by_message_id.get(message_id) if message_id else None
            if pk is None:
                still_new.append(number)
            else:
                UidlAlias.insert(
                    account=account, uidl=listing.uidls[number], message=pk, seen_at=utcnow()
                ).on_conflict_ignore().execute()
    return still_new


def _fetch_without_uidl(
    client: pop3.Pop3Client,
    account: Account,
    sizes: dict[int, int],
    state: FetchProgress,
    report: ProgressCallback,
    cancelled: CancelCheck | None,
    result: FetchResult,
) -> None:
    """A server without UIDL: fetch everything, store it, then delete it (the only safe mode)."""
    numbers = sorted(sizes)
    state.phase = "fetching"
    state.total = len(numbers)
    writer = BatchWriter(account, dedupe_message_id=False)
    for _number, raw in client.retrieve(numbers, expected_sizes=sizes):
        writer.add(_no_uidl_key(raw), raw)
        state.done += 1
        state.bytes_done += len(raw)
        result.bytes_fetched += len(raw)
        report(state)
        if cancelled is not None and cancelled():
            raise FetchCancelled("Fetch stopped; nothing was deleted on the server")
    writer.flush()
    result.new_messages = writer.stored
    client.dele_many(numbers)
    client.quit()
    result.deleted_on_server = len(numbers)


def _record(account: Account, result: FetchResult, *, log: FetchLog | None, now: datetime) -> None:
    """Store the outcome on the account and in the log; count failures; disable if needed."""
    error = result.error
    changes: dict[Any, Any] = {
        Account.last_fetch_at: now,
        Account.last_fetch_new: result.new_messages,
    }
    fresh = Account.get_by_id(account.id)
    if error is None or isinstance(error, FetchCancelled):
        changes.update(
            {
                Account.last_fetch_status: "ok",
                Account.last_fetch_error: "",
                Account.consecutive_auth_failures: 0,
                Account.consecutive_connect_failures: 0,
            }
        )
    elif isinstance(error, AlreadyFetching):
        return
    else:
        auth = fresh.consecutive_auth_failures
        conn = fresh.consecutive_connect_failures
        if isinstance(error, pop3.Pop3Error) and pop3.is_auth_failure(error):
            auth += 1
        elif isinstance(error, pop3.Pop3Error) and pop3.is_connection_failure(error):
            conn += 1
        changes.update(
            {
                Account.last_fetch_status: "error",
                Account.last_fetch_error: _error_text(error),
                Account.consecutive_auth_failures: auth,
                Account.consecutive_connect_failures: conn,
            }
        )
        reason = ""
        if auth >= AUTH_FAILURES_BEFORE_DISABLE:
            reason = f"{auth} failed logins in a row (last: {_error_text(error)})."
        elif conn >= CONNECT_FAILURES_BEFORE_DISABLE:
            reason = f"{conn} failed connections in a row (last: {_error_text(error)})."
        if reason and not fresh.disabled:
            changes.update({Account.disabled: True, Account.disabled_reason: reason})
    Account.update(changes).where(Account.id == account.id).execute()
    if log is not None:
        FetchLog.update(
            finished_at=now,
            status="ok" if error is None else "error",
            error_kind=getattr(error, "kind", "") if error is not None else "",
            error_message=_error_text(error) if error is not None else "",
            new_messages=result.new_messages,
            bytes_fetched=result.bytes_fetched,
            deleted_on_server=result.deleted_on_server,
        ).where(FetchLog.id == log.id).execute()
