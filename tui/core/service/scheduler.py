"""When the service fetches each mailbox: its own poll interval, longer after failures.

Pure bookkeeping on datetimes handed in (no clock of its own, no I/O), so tests drive it with
any clock. A mailbox is due its poll interval after its last fetch by anyone (the app, a cron
`poptui fetch`, the service); after a failure it waits the interval doubled per failure in a row,
up to `BACKOFF_CAP` (or the interval, when that is longer), and never sooner than a server's
LOGIN-DELAY. Disabled mailboxes (the engine's auto-disable) are not scheduled at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tui.core.net import pop3
from tui.core.storage.models import Account
from tui.core.sync.engine import FetchResult
from tui.core.sync.errors import FetchCancelled
from tui.core.sync.lock import AlreadyFetching

BACKOFF_CAP = timedelta(hours=1)
"""The longest wait after failures in a row, unless the poll interval itself is longer."""
BUSY_RETRY = timedelta(seconds=60)
"""After finding the mailbox locked by another poptui (the app's `f`, a cron fetch)."""


def minutes_interval(account: Account) -> timedelta:
    """The account's poll setting, at least a minute (as the app's schedule)."""
    return timedelta(minutes=max(1, int(account.poll_minutes)))


@dataclass
class MailboxPlan:
    """What the scheduler knows of one mailbox."""

    account_id: int
    name: str
    next_at: datetime
    interval: timedelta
    failures: int = 0
    running: bool = False
    retry: bool = False
    """Settings changed while it was running: should it fail, try again at once."""


class Scheduler:
    """Which mailboxes are due, and when the next one will be."""

    def __init__(self, interval: Callable[[Account], timedelta] = minutes_interval) -> None:
        self.interval = interval
        self.plans: dict[int, MailboxPlan] = {}

    def sync(self, accounts: Iterable[Account], now: datetime) -> None:
        """Take in the current account list: new mailboxes are planned, removed or disabled
        ones dropped, a changed poll interval applies from the last fetch."""
        seen: set[int] = set()
        for account in accounts:
            if account.disabled:
                continue
            key = int(account.id)
            seen.add(key)
            interval = self.interval(account)
            plan = self.plans.get(key)
            if plan is None:
                last = account.last_fetch_at
                first = last + interval if last is not None else now
                first = min(first, now + interval)  # a last fetch stamped in the future
                self.plans[key] = MailboxPlan(key, account.name, first, interval)
                continue
            plan.name = account.name
            if interval != plan.interval and not plan.failures:
                plan.next_at = plan.next_at - plan.interval + interval
            plan.interval = interval
        for key in [k for k in self.plans if k not in seen and not self.plans[k].running]:
            del self.plans[key]

    def due(self, now: datetime) -> list[MailboxPlan]:
        """Mailboxes to start now (not already running), soonest first, then by name."""
        ready = [p for p in self.plans.values() if not p.running and p.next_at <= now]
        return sorted(ready, key=lambda p: (p.next_at, p.name))

    def next_wake(self, now: datetime) -> datetime | None:
        """When the next mailbox that is not running falls due (None: nothing planned)."""
        waiting = [p.next_at for p in self.plans.values() if not p.running]
        return max(now, min(waiting)) if waiting else None

    def started(self, account_id: int) -> None:
        self.plans[account_id].running = True

    def finished(self, account_id: int, result: FetchResult, now: datetime) -> MailboxPlan | None:
        """Plan the next fetch after `result`; the plan (None when the mailbox went away)."""
        plan = self.plans.get(account_id)
        if plan is None:
            return None
        plan.running = False
        error = result.error
        if error is None:
            plan.failures = 0
            plan.next_at = now + plan.interval
        elif isinstance(error, FetchCancelled):  # stopped by us: says nothing of the server
            plan.next_at = now + backoff(plan.interval, plan.failures)
        elif isinstance(error, AlreadyFetching):
            plan.next_at = now + min(plan.interval, BUSY_RETRY)
        else:
            plan.failures += 1
            plan.next_at = now + backoff(plan.interval, plan.failures)
            if plan.retry:
                plan.next_at = now
            if isinstance(error, pop3.LoginDelay) and error.delay_seconds:
                plan.next_at = max(plan.next_at, now + timedelta(seconds=error.delay_seconds))
        plan.retry = False
        return plan

    def retry_failing(self, now: datetime) -> None:
        """Make every failing mailbox due now (its settings or password just changed)."""
        for plan in self.plans.values():
            if plan.running:
                plan.retry = True  # it may be failing for what was just fixed
            elif plan.failures:
                plan.next_at = min(plan.next_at, now)

    def forget(self, account_id: int) -> None:
        self.plans.pop(account_id, None)


def backoff(interval: timedelta, failures: int) -> timedelta:
    """The wait after `failures` failures in a row: the interval doubled each time, capped."""
    cap = max(interval, BACKOFF_CAP)
    grown: timedelta = interval * (2 ** min(max(0, failures - 1), 30))
    return min(cap, grown)
