"""Fetching mail: the sync engine, the per-mailbox lock, the one connection check, the poll
schedule, and the words for their outcomes. No Textual here.

The names below load their module on first use, so `poptui fetch` loads the engine and what it
needs, not the connection check or the app's schedule.
"""

from __future__ import annotations

from tui.core.lazy import homes_of, lazy_exports

TYPE_CHECKING = False  # no `typing` import for `poptui fetch` with nothing new

if TYPE_CHECKING:
    from tui.core.sync.check import CheckReport, IncomingServer, check_incoming
    from tui.core.sync.control import FetchControl, run_stoppable
    from tui.core.sync.engine import FetchOptions, FetchResult, SyncProgress, fetch_account
    from tui.core.sync.errors import (
        Abandoned,
        AccountDisabled,
        FetchCancelled,
        FetchError,
        InvalidServerSettings,
        MissingPassword,
        UidlRequired,
    )
    from tui.core.sync.lock import AlreadyFetching, account_lock, default_lock_dir
    from tui.core.sync.outcome import Notice, describe_failure, describe_success, summary_line
    from tui.core.sync.record import AUTH_FAILURES_BEFORE_DISABLE, CONNECT_FAILURES_BEFORE_DISABLE
    from tui.core.sync.schedule import PollSchedule

__all__ = [
    "AUTH_FAILURES_BEFORE_DISABLE",
    "CONNECT_FAILURES_BEFORE_DISABLE",
    "Abandoned",
    "AccountDisabled",
    "AlreadyFetching",
    "CheckReport",
    "FetchCancelled",
    "FetchControl",
    "FetchError",
    "FetchOptions",
    "FetchResult",
    "IncomingServer",
    "InvalidServerSettings",
    "MissingPassword",
    "Notice",
    "PollSchedule",
    "SyncProgress",
    "UidlRequired",
    "account_lock",
    "check_incoming",
    "default_lock_dir",
    "describe_failure",
    "describe_success",
    "fetch_account",
    "run_stoppable",
    "summary_line",
]

_HOMES = {
    "check": ("CheckReport", "IncomingServer", "check_incoming"),
    "control": ("FetchControl", "run_stoppable"),
    "engine": ("FetchOptions", "FetchResult", "SyncProgress", "fetch_account"),
    "errors": (
        "Abandoned",
        "AccountDisabled",
        "FetchCancelled",
        "FetchError",
        "InvalidServerSettings",
        "MissingPassword",
        "UidlRequired",
    ),
    "lock": ("AlreadyFetching", "account_lock", "default_lock_dir"),
    "outcome": ("Notice", "describe_failure", "describe_success", "summary_line"),
    "record": ("AUTH_FAILURES_BEFORE_DISABLE", "CONNECT_FAILURES_BEFORE_DISABLE"),
    "schedule": ("PollSchedule",),
}

__getattr__ = lazy_exports(__name__, homes_of(_HOMES))
