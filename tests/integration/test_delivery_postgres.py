"""Migration 9 and the delivery run's SQL on a team PostgreSQL database (issue #13.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.test_delivery_run import _store
from tui.core.delivery import add_target, remove_target
from tui.core.delivery.run import deliver_pending, undelivered
from tui.core.settings import AccountSettings
from tui.core.storage.accounts import AccountStore


def test_delivery_state_on_postgresql(pg_database: Any, tmp_path: Path) -> None:
    """The same gate on PostgreSQL as on SQLite."""
    from tui.core.storage.db import open_database

    db = open_database(pg_database.url)
    try:
        settings = AccountSettings(name="Pg", email="me@example.com", incoming_host="h")
        account = AccountStore("tester").create(settings)
        add_target(account, f"maildir:{tmp_path}/Mail")
        add_target(account, "mda:sh -c 'exit 75'")
        ids = _store(account, 3)
        outcome = deliver_pending(account)
        assert outcome.delivered == 3 and len(outcome.failures) == 1
        assert undelivered(account, ids) == set(ids)
        remove_target(account, "mda:sh -c 'exit 75'")
        assert undelivered(account, ids) == set()
    finally:
        db.close()
