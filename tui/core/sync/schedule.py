"""When the app fetches a mailbox on its own: its poll interval after its last fetch (by anyone:
a cron `poptui fetch` counts), and never before a server's LOGIN-DELAY has passed."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui.core.storage.models import Account


def poll_interval(account: Account) -> timedelta:
    """The account's poll setting, at least a minute."""
    return timedelta(minutes=max(1, account.poll_minutes))


class PollSchedule:
    """The next fetch of each mailbox; remembers the servers that asked us to wait."""

    def __init__(self) -> None:
        self._not_before: dict[int, datetime] = {}

    def retry_after(self, account_id: int, now: datetime, seconds: float) -> None:
        """Do not fetch `account_id` on the schedule before `seconds` from `now`."""
        self._not_before[account_id] = now + timedelta(seconds=seconds)

    def next_fetch_at(self, account: Account, now: datetime) -> datetime:
        """When `account` is next due; `now` (or earlier) when it is due already."""
        last = account.last_fetch_at
        due = last + poll_interval(account) if last is not None else now
        return max(due, self._not_before.get(int(account.id), now))

    def is_due(self, account: Account, now: datetime) -> bool:
        """Whether the schedule fetches `account` now: due, and not disabled."""
        return not account.disabled and self.next_fetch_at(account, now) <= now
