"""What the service leaves in the database: its heartbeat and its last fetch of each mailbox.

The app reads both: a live heartbeat of the same user means the service polls that user's
mailboxes, so the app does not poll them too, and the mailbox list says "fetched by the service
2 min ago". On a shared PostgreSQL database row-level security keeps each user to their own
rows (`tui.core.sharing.postgres_rls`). Tables from migration m0010.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from peewee import AutoField, CharField, DateTimeField, ForeignKeyField, IntegerField

from tui.core.storage.models import Account, BaseModel

HEARTBEAT_SECONDS = 30.0
"""How often a running service writes its heartbeat."""
ALIVE_WITHIN = timedelta(seconds=3 * HEARTBEAT_SECONDS)
"""A heartbeat older than this belongs to a service that stopped or hangs."""


class ServiceHeartbeat(BaseModel):
    """One row per user and host running `poptui service run`."""

    id = AutoField()
    owner = CharField(max_length=128)
    host = CharField(max_length=253)
    pid = IntegerField()
    started_at = DateTimeField()
    last_seen = DateTimeField()
    stopped_at = DateTimeField(null=True)
    mailboxes = IntegerField(default=0)

    class Meta:
        table_name = "service_heartbeat"


class ServiceFetch(BaseModel):
    """The service's last fetch of a mailbox, and when it plans the next one."""

    account = ForeignKeyField(Account, primary_key=True, on_delete="CASCADE")
    fetched_at = DateTimeField()
    status = CharField(max_length=16)
    """ok | error | cancelled"""
    new_messages = IntegerField(default=0)
    failures = IntegerField(default=0)
    next_at = DateTimeField(null=True)

    class Meta:
        table_name = "service_fetch"


def this_host() -> str:
    return socket.gethostname()[:253]


def beat(owner: str, started_at: datetime, now: datetime, mailboxes: int) -> None:
    """Record that this process is alive (one row per user and host, replaced in place)."""
    host, pid = this_host(), os.getpid()
    updated = (
        ServiceHeartbeat.update(
            pid=pid, started_at=started_at, last_seen=now, stopped_at=None, mailboxes=mailboxes
        )
        .where((ServiceHeartbeat.owner == owner) & (ServiceHeartbeat.host == host))
        .execute()
    )
    if not updated:
        ServiceHeartbeat.insert(
            owner=owner,
            host=host,
            pid=pid,
            started_at=started_at,
            last_seen=now,
            mailboxes=mailboxes,
        ).on_conflict_ignore().execute()


def stopped(owner: str, now: datetime) -> None:
    """A clean stop: the app takes its polling back at once instead of after `ALIVE_WITHIN`."""
    ServiceHeartbeat.update(stopped_at=now, last_seen=now).where(
        (ServiceHeartbeat.owner == owner)
        & (ServiceHeartbeat.host == this_host())
        & (ServiceHeartbeat.pid == os.getpid())
    ).execute()


def live_service(owner: str, now: datetime) -> ServiceHeartbeat | None:
    """The user's running service (on any host), if one beat recently and did not stop."""
    return (  # type: ignore[no-any-return]
        ServiceHeartbeat.select()
        .where(
            (ServiceHeartbeat.owner == owner)
            & ServiceHeartbeat.stopped_at.is_null()
            & (ServiceHeartbeat.last_seen >= now - ALIVE_WITHIN)
        )
        .order_by(ServiceHeartbeat.last_seen.desc())
        .first()
    )


def heartbeats(owner: str) -> list[ServiceHeartbeat]:
    """Every heartbeat row of the user, newest first (for `poptui service status`)."""
    query = ServiceHeartbeat.select().where(ServiceHeartbeat.owner == owner)
    return list(query.order_by(ServiceHeartbeat.last_seen.desc()))


def record_fetch(
    account_id: int,
    status: str,
    new_messages: int,
    failures: int,
    now: datetime,
    next_at: datetime | None,
) -> None:
    """Replace the service's record of its last fetch of `account_id`."""
    values = {
        "fetched_at": now,
        "status": status,
        "new_messages": new_messages,
        "failures": failures,
        "next_at": next_at,
    }
    updated = ServiceFetch.update(**values).where(ServiceFetch.account == account_id).execute()
    if not updated:
        ServiceFetch.insert(account=account_id, **values).on_conflict_ignore().execute()


def service_fetches(account_ids: list[int]) -> dict[int, ServiceFetch]:
    """The service's last fetch of each of these mailboxes that it fetched."""
    if not account_ids:
        return {}
    rows = ServiceFetch.select().where(ServiceFetch.account.in_(account_ids))
    return {int(row.get_id()): row for row in rows}


def fetched_by_service(accounts: list[Account]) -> set[int]:
    """The ids of those accounts whose latest fetch (by anyone) the service made."""
    rows = service_fetches([int(a.id) for a in accounts if a.last_fetch_at is not None])
    found = set()
    for account in accounts:
        row, last = rows.get(int(account.id)), account.last_fetch_at
        if row is not None and last is not None and row.fetched_at >= last:
            found.add(int(account.id))
    return found
