"""The sync algorithm: fetch a mailbox's new mail without ever losing or duplicating a message.

Order per session: UIDL → RETR (pipelined) → one durable commit per batch (by count, bytes or
time) → DELE only for messages already stored → QUIT. Any error, or an overall deadline passed,
closes the connection without QUIT, so the server deletes nothing.
Shared by the TUI's worker and `poptui fetch`; no Textual here.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.core.delivery.run import DeliveryOutcome, deliver_pending
from tui.core.net import pop3
from tui.core.settings import DeletePolicy, Security
from tui.core.storage.accounts import close_interrupted_fetches
from tui.core.storage.models import Account, FetchLog, Message, UidlAlias, database_proxy, utcnow
from tui.core.sync import session_handover
from tui.core.sync.ambiguous import AmbiguousGroups
from tui.core.sync.batch import BatchWriter
from tui.core.sync.control import (
    MESSAGE_DEADLINE,
    SESSION_DEADLINE,
    FetchControl,
    Watchdog,
    allowance,
)
from tui.core.sync.errors import (
    AccountDisabled,
    FetchCancelled,
    FetchError,
    MissingPassword,
    UidlRequired,
)
from tui.core.sync.guard import confirm_stored
from tui.core.sync.heap import fix_mmap_threshold, release_free_memory
from tui.core.sync.lock import AlreadyFetching, account_lock, default_lock_dir, lock_file
from tui.core.sync.outcome import enable_advice, with_provider_hint
from tui.core.sync.plan import (
    KnownUidls,
    ServerListing,
    base_uidl,
    deletable,
    due_for_deletion,
    known_uidls,
    plan_sync,
)
from tui.core.sync.receive import Pacing, receive
from tui.core.sync.record import record_outcome
from tui.core.sync.session_handover import HandedSession


@dataclass
class SyncProgress:
    """Where a fetch is; reported after each message so a UI can draw a bar."""

    account: str
    phase: str
    """connecting | listing | fetching | deleting | done"""
    total: int = 0
    done: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    started: float = field(default_factory=time.monotonic)
    as_of: float | None = None
    """When a `snapshot` was taken (monotonic clock); None while the figures are live."""

    @property
    def rate(self) -> float:
        """Bytes per second so far (up to `as_of` for a snapshot)."""
        elapsed = (time.monotonic() if self.as_of is None else self.as_of) - self.started
        return self.bytes_done / elapsed if elapsed > 0 else 0.0

    def snapshot(self) -> SyncProgress:
        """A copy that stays as it is now, rate included, for another thread to show later."""
        return replace(self, as_of=time.monotonic())


@dataclass
class FetchResult:
    """How one fetch of one mailbox went (`tui.core.sync.outcome` words it)."""

    account: str
    new_messages: int = 0
    bytes_fetched: int = 0
    deleted_on_server: int = 0
    skipped_too_large: int = 0
    left_for_next_time: int = 0
    """New messages not fetched because of the per-cycle limit."""
    duplicates_by_message_id: int = 0
    skipped_malformed: int = 0
    """Messages neither fetched nor deleted because their LIST/UIDL line was malformed."""
    shared_uidl: int = 0
    """Messages stored apart by content because another message has the same UIDL."""
    not_deleted_unconfirmed: int = 0
    """Messages the policy would delete that no longer matched what is stored (key, size)."""
    size_mismatches: list[pop3.MessageSizeMismatch] = field(default_factory=list)
    """Messages skipped because they arrived shorter than LIST announced (possibly truncated):
    not stored, never deleted, tried again next time."""
    uidl_reset_suspected: bool = False
    delivery: DeliveryOutcome | None = None
    """What handing the stored mail on to the mailbox's delivery targets did."""
    seconds: float = 0.0
    error: FetchError | pop3.Pop3Error | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


ProgressCallback = Callable[[SyncProgress], None]
CancelCheck = Callable[[], bool]


@dataclass
class FetchOptions:
    """How to fetch: set by `poptui fetch`'s flags and the app's `FetchSettings`."""

    timeout: float = 30.0
    ca_file: str | None = None
    lock_dir: Path | None = None
    lock_wait: float = 0.0
    pipeline_batch: int = 50
    ignore_disabled: bool = False
    message_deadline: float = MESSAGE_DEADLINE
    """Seconds one message may take, plus its size at 256 KB/s (`control.allowance`)."""
    session_deadline: float = SESSION_DEADLINE
    """Seconds the whole session may take, plus the size of the new mail at 256 KB/s."""


def _endpoint_security(account: Account) -> Security:
    return Security(account.incoming_security)


def _no_uidl_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:64]


def fetch_account(
    account: Account,
    password: pop3.Secret | None,
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
            f"{account.name} is disabled: {account.disabled_reason} "
            + enable_advice(account.name, account.auth_method)
        )
        return result
    if not password:
        result.error = MissingPassword.for_account(account.name)
        record_outcome(account, result, log=None, now=now())
        return result
    handed = _handed_session(account, options)
    refused = None
    if handed is None and session_handover.pending():
        refused = _refused_login(account, password)
    try:
        held = (
            _held_by(handed)
            if handed is not None
            else account_lock(account, lock_dir=options.lock_dir, wait=options.lock_wait)
        )
        with held:
            with database_proxy.atomic():  # one commit (one fsync) for the start of a run
                close_interrupted_fetches(account, now())
                log = FetchLog.create(account=account, started_at=now())
            watchdog = Watchdog()
            watchdog.session(options.session_deadline)
            try:
                _run(
                    account,
                    password,
                    options,
                    result,
                    progress,
                    cancelled,
                    control,
                    watchdog,
                    now,
                    handed,
                    refused,
                )
            except (pop3.Pop3Error, FetchError) as error:
                if isinstance(error, pop3.AuthenticationFailed):
                    with_provider_hint(error, account.incoming_host)
                result.error = error
                if watchdog.expired:
                    result.error = watchdog.error(account.name, result.new_messages)
                if control is not None and control.cancelled:
                    result.error = FetchCancelled(
                        f"Fetch of {account.name} stopped; {result.new_messages} new messages "
                        "were stored, nothing was deleted on the server"
                    )
            finally:
                watchdog.stop()
            result.seconds = time.monotonic() - started
            record_outcome(account, result, log=log, now=now())
    except AlreadyFetching as error:
        result.error = error
    result.seconds = time.monotonic() - started
    return result


def _handed_session(account: Account, options: FetchOptions) -> HandedSession | None:
    """The quick check's logged-in session of this mailbox, if it handed one over (a cron
    `poptui fetch` that found something to do): it holds the lock this run would take."""
    if not session_handover.pending():
        return None
    return session_handover.take(
        account.id,
        _settings(account),
        lock_file(options.lock_dir or default_lock_dir(), account.secret_key),
    )


def _settings(account: Account) -> tuple[object, ...]:
    return session_handover.session_settings(
        account.incoming_host,
        account.incoming_port,
        account.incoming_security,
        account.username,
        account.pinned_fingerprint,
    )


def _refused_login(account: Account, password: pop3.Secret) -> pop3.AuthenticationFailed | None:
    """The error this very password met when the quick check logged in with it a moment ago
    (`session_handover.refused`), worded as a refusal of the engine's own login is; None when
    there was none, the settings or password changed since, or the reply was not about the
    password (a mailbox in use, a temporary fault: those are tried again, as before)."""
    if not isinstance(password, str):
        return None
    reply = session_handover.refusal(account.id, _settings(account), password)
    if reply is None:
        return None
    error = pop3.error_for_reply(
        reply, "auth", host=account.incoming_host, port=account.incoming_port
    )
    return error if isinstance(error, pop3.AuthenticationFailed) else None


@contextlib.contextmanager
def _held_by(handed: HandedSession) -> Iterator[None]:
    """The mailbox's lock as the handed session holds it, let go when the run ends (a run
    that never reached the session says QUIT on it first)."""
    try:
        yield
    finally:
        session_handover.end(handed)


def _adopted(
    handed: HandedSession, account: Account, options: FetchOptions
) -> pop3.Pop3Client | None:
    """A client going on with the handed session, or None when it no longer answers (then
    the run connects and logs in as usual). A thread reading its first answers while this
    process loaded (`early_retrieval`) is stopped here, and its bytes read first."""
    try:
        early = handed.stop_early()
    except session_handover.SessionLost:
        handed.quit()  # out of step: ended now, not at the end of the run
        return None
    listed, handed.listed = handed.listed, None  # the client's now: parsed once, then let go
    try:
        return pop3.Pop3Client.adopt(
            handed.sock,
            account.incoming_host,
            account.incoming_port,
            _endpoint_security(account),
            timeout=options.timeout,
            peer_der=handed.peer_der,
            mechanism=pop3.Mechanism(handed.mechanism),
            listed=listed,
            early=early,
        )
    except (pop3.Pop3Error, ValueError):
        return None


def _run(
    account: Account,
    password: pop3.Secret,
    options: FetchOptions,
    result: FetchResult,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    control: FetchControl | None,
    watchdog: Watchdog,
    now: Callable[[], datetime],
    handed: HandedSession | None = None,
    refused: pop3.AuthenticationFailed | None = None,
) -> None:
    state = SyncProgress(account=account.name, phase="connecting")
    report = progress or (lambda _p: None)
    report(state)
    client = None if handed is None else _adopted(handed, account, options)
    logged_in = client is not None
    if client is None and refused is not None:
        raise refused  # as the login below would, without trying the same password again
    if client is None:
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
    watchdog.attach(client)
    try:
        if not logged_in:
            client.login(account.username, password)
        state.phase = "listing"
        report(state)
        listings = client.listings()  # STAT, then LIST and UIDL in one write when pipelined
        count, size_listing, uid_listing = listings.count, listings.sizes, listings.uids
        if uid_listing is None:
            sizes = {n: int(size) for n, size in size_listing.entries.items()}
            if DeletePolicy(account.delete_policy) is not DeletePolicy.AFTER_FETCH:
                raise UidlRequired(
                    f"{account.incoming_host} does not support UIDL, so poptui cannot tell which "
                    "messages it already has. Only “delete from the server after fetching” works "
                    "with this server; nothing was fetched."
                ) from None
            result.skipped_malformed = count - len(sizes)
            _fetch_without_uidl(client, account, sizes, state, report, cancelled, result)
            return
        listing = ServerListing.parse(count, size_listing, uid_listing)
        del size_listing, uid_listing  # the plan reads `listing` (flat columns) from here on
        result.skipped_malformed = listing.malformed
        known = known_uidls(account)
        groups = AmbiguousGroups.for_listing(account, listing, known)
        accounted = None
        if groups.uidls:
            accounted = groups.accounted(listing, set(due_for_deletion(account, now())))
        plan = plan_sync(account, listing, known, accounted)
        result.skipped_too_large = plan.skipped_too_large
        result.left_for_next_time = plan.left_for_next_time
        result.uidl_reset_suspected = plan.reset_suspected
        if plan.reset_suspected:
            plan.to_fetch = _remap_after_reset(client, account, listing, plan.to_fetch)
        if not plan.reset_suspected:
            _mark_gone(account, listing, known)
        # Planned: what is stored and the listing's index are not read again until the mail
        # is in, and they grow with the mailbox while the fetch's memory peaks (issue #11).
        del known
        listing.release_index()
        state.phase = "fetching"
        state.total = len(plan.to_fetch)
        state.bytes_total = sum(listing.sizes.get(n, 0) for n in plan.to_fetch)
        report(state)
        # The session's deadline now counts the new mail's size (from the fetch's start).
        watchdog.session(
            allowance(options.session_deadline, state.bytes_total)
            - (time.monotonic() - state.started)
        )
        writer = BatchWriter(
            account,
            dedupe_message_id=account.username.strip().lower().startswith("recent:"),
        )

        def arrived(number: int, raw: bytes) -> None:
            uidl = listing.uidls[number]
            if uidl in groups.uidls:
                key = groups.key_for(number, uidl, raw)
                if key is not None:
                    writer.add(key, raw)
                    result.shared_uidl += 1
            else:
                writer.add(uidl, raw)
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

        try:
            receive(
                client,
                plan.to_fetch,
                listing.sizes,
                Pacing(options.message_deadline, options.pipeline_batch),
                watchdog,
                writer,
                arrived,
                result.size_mismatches,
                prestarted=session_handover.take_summaries(account.id),
            )
        except BaseException:
            # Messages received whole before the failure are valid: keep them. Nothing is
            # deleted on the server in this session, so the rest come next time.
            with contextlib.suppress(Exception):
                writer.flush()
            result.new_messages = writer.stored
            raise
        writer.flush()
        result.new_messages = writer.stored
        result.duplicates_by_message_id = writer.duplicates
        result.delivery = deliver_pending(account)  # also repairs a crash after a commit
        doomed = _doomed(account, listing, groups, now(), reset_suspected=plan.reset_suspected)
        doomed = result.delivery.hold(account, doomed)  # undelivered mail stays on the server
        confirmed = confirm_stored(account, listing, doomed)
        result.not_deleted_unconfirmed = len(doomed) - len(confirmed)
        doomed = confirmed
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


def _doomed(
    account: Account,
    listing: ServerListing,
    groups: AmbiguousGroups,
    now: datetime,
    *,
    reset_suspected: bool,
) -> dict[int, int]:
    """Server number → stored id of what the policy deletes now (before `confirm_stored`)."""
    # A reused UIDL's stored row goes to `confirm_stored`, which refuses it (its size cannot
    # fit) and counts it as not deleted; the newcomer is judged by its bytes below.
    told_apart = groups.uidls - groups.reused
    doomed = deletable(account, listing, now, reset_suspected=reset_suspected, ambiguous=told_apart)
    if groups.uidls and not reset_suspected:
        groups.note_stored(account)
        doomed.update(groups.deletable(listing, set(due_for_deletion(account, now))))
    return doomed


def _mark_gone(account: Account, listing: ServerListing, known: KnownUidls) -> None:
    """Messages we stored that the server no longer lists were deleted there by someone else."""
    on_server = listing.listed
    # A listed UIDL has no space: a key listed as is needs no `base_uidl` (the usual case).
    gone = [
        mid
        for key, (mid, still) in known.items()
        if still and key not in on_server and base_uidl(key) not in on_server
    ]
    for start in range(0, len(gone), 500):
        Message.update(deleted_on_server=True, deleted_on_server_at=utcnow()).where(
            Message.id.in_(gone[start : start + 500])
        ).execute()


def _remap_after_reset(
    client: pop3.Pop3Client, account: Account, listing: ServerListing, to_fetch: Sequence[int]
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
    state: SyncProgress,
    report: ProgressCallback,
    cancelled: CancelCheck | None,
    result: FetchResult,
) -> None:
    """A server without UIDL: fetch everything, store it, then delete it (the only safe mode)."""
    numbers = sorted(sizes)
    state.phase = "fetching"
    state.total = len(numbers)
    writer = BatchWriter(account, dedupe_message_id=False)
    fix_mmap_threshold()
    keys: dict[int, str] = {}
    try:
        for number, raw in client.retrieve(numbers, expected_sizes=sizes):
            keys[number] = _no_uidl_key(raw)
            writer.add(keys[number], raw)
            state.done += 1
            state.bytes_done += len(raw)
            result.bytes_fetched += len(raw)
            report(state)
            if cancelled is not None and cancelled():
                raise FetchCancelled("Fetch stopped; nothing was deleted on the server")
        writer.flush()
    finally:
        release_free_memory()  # as after a fetch by UIDL: the app and the service live on
    result.new_messages = writer.stored
    stored: Any = (
        Message.select(Message.uidl, Message.id)
        .where((Message.account == account) & Message.uidl.in_(list(set(keys.values()))))
        .tuples()
    )
    ids = dict(stored)
    listing = ServerListing(uidls=keys, sizes=sizes)
    result.delivery = deliver_pending(account)
    doomed = result.delivery.hold(account, {n: ids[key] for n, key in keys.items() if key in ids})
    confirmed = confirm_stored(account, listing, doomed)
    result.not_deleted_unconfirmed = len(numbers) - len(confirmed)
    if confirmed:
        client.dele_many(sorted(confirmed))
    client.quit()
    result.deleted_on_server = len(confirmed)
