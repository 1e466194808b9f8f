"""The one commit that records how a fetch went: the outcome on the account and in the fetch log,
the consecutive-failure counts, and the rule that disables a mailbox that keeps failing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tui.core.net import pop3
from tui.core.storage.models import Account, FetchLog, database_proxy
from tui.core.sync.errors import FetchCancelled
from tui.core.sync.lock import AlreadyFetching
from tui.core.sync.outcome import error_text, size_mismatch_words

if TYPE_CHECKING:
    from tui.core.sync.engine import FetchResult

AUTH_FAILURES_BEFORE_DISABLE = 10
CONNECT_FAILURES_BEFORE_DISABLE = 50


def record_outcome(
    account: Account, result: FetchResult, *, log: FetchLog | None, now: datetime
) -> None:
    """Store the outcome on the account and in the log; count failures; disable if needed."""
    error = result.error
    changes: dict[Any, Any] = {
        Account.last_fetch_at: now,
        Account.last_fetch_new: result.new_messages,
    }
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
        fresh = Account.get_by_id(account.id)
        auth = fresh.consecutive_auth_failures
        conn = fresh.consecutive_connect_failures
        if isinstance(error, pop3.Pop3Error) and pop3.is_auth_failure(error):
            auth += 1
        elif isinstance(error, pop3.Pop3Error) and pop3.is_connection_failure(error):
            conn += 1
        changes.update(
            {
                Account.last_fetch_status: "error",
                Account.last_fetch_error: error_text(error),
                Account.consecutive_auth_failures: auth,
                Account.consecutive_connect_failures: conn,
            }
        )
        reason = ""
        if auth >= AUTH_FAILURES_BEFORE_DISABLE:
            reason = f"{auth} failed logins in a row (last: {error_text(error)})."
        elif conn >= CONNECT_FAILURES_BEFORE_DISABLE:
            reason = f"{conn} failed connections in a row (last: {error_text(error)})."
        if reason and not fresh.disabled:
            changes.update({Account.disabled: True, Account.disabled_reason: reason})
    with database_proxy.atomic():  # one commit (one fsync) for the end of a run
        _store_outcome(account, result, changes, log, now)


def _store_outcome(
    account: Account,
    result: FetchResult,
    changes: dict[Any, Any],
    log: FetchLog | None,
    now: datetime,
) -> None:
    error = result.error
    Account.update(changes).where(Account.id == account.id).execute()
    if log is not None:
        FetchLog.update(
            finished_at=now,
            status="ok" if error is None else "error",
            error_kind=str(error.kind) if error is not None else _skip_kind(result),
            error_message=error_text(error) if error is not None else _skip_note(result),
            new_messages=result.new_messages,
            bytes_fetched=result.bytes_fetched,
            deleted_on_server=result.deleted_on_server,
        ).where(FetchLog.id == log.id).execute()


def _skip_kind(result: FetchResult) -> str:
    return str(pop3.ErrorKind.SIZE_MISMATCH) if result.size_mismatches else ""


def _skip_note(result: FetchResult) -> str:
    """A fetch that went well but skipped messages says which in the fetch log."""
    return size_mismatch_words(result.size_mismatches) if result.size_mismatches else ""
