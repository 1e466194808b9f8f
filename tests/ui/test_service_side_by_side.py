"""The app beside a running `poptui service`: it does not poll the mailboxes the service
fetches, says so, and shows which fetch the service made; it polls again once the service
stops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server
from tests.ui.conftest import OWNER, fixed_clock, store
from tui.app import PoptuiApp, make_app
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.service import records
from tui.core.settings import AccountSettings, Security
from tui.core.storage.models import Account, database_proxy
from tui.core.sync import FetchOptions
from tui.fetch_worker import FetchSettings
from tui.screens.mailbox_list import MailboxListScreen
from tui.widgets.fetch_status import FetchStatus
from tui.widgets.mailbox_table import MailboxTable


@pytest.fixture
def build(db_path: Path, secrets: MemoryStore, tmp_path: Path) -> Iterator[Callable[[], PoptuiApp]]:
    def make() -> PoptuiApp:
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
        return make_app(
            f"sqlite:///{db_path}",
            secrets=secrets,
            clock=fixed_clock,
            owner=OWNER,
            fetching=FetchSettings(options=options, poll=True, check_seconds=0.1),
        )

    yield make
    if database_proxy.obj is not None:
        database_proxy.close()


def add_account(secrets: MemoryStore, port: int) -> Account:
    settings = AccountSettings(
        name="Work",
        email="alice@example.com",
        incoming_host="127.0.0.1",
        incoming_port=port,
        incoming_security=Security.NONE,
        username="alice",
    )
    account = store().create(settings, activate=True)
    secrets.set(account.secret_key, SecretKind.INCOMING, "secret")
    return account


async def settle(pilot: Pilot[Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await pilot.pause(0.05)


def last_cell(app: PoptuiApp) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, MailboxListScreen))
    table = screen.query_one(MailboxTable)
    row = table.get_row_at(0)
    return " ".join(cell.plain for cell in row)


async def test_the_app_leaves_polling_to_a_live_service_and_takes_it_back_when_it_stops(
    build: Callable[[], PoptuiApp], secrets: MemoryStore
) -> None:
    now = fixed_clock()
    with FakePop3Server([make_message(1)]) as server:
        app = build()
        account = add_account(secrets, server.port)  # never fetched: due at once
        records.beat(OWNER, now - timedelta(hours=1), now, 1)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot, 1.0)  # ten poll ticks
            assert not server.sessions  # the service has it: the app stays off the server
            bar = next(s for s in app.screen_stack if isinstance(s, MailboxListScreen)).query_one(
                FetchStatus
            )
            assert bar.line is not None
            assert "poptui service fetches it in the background" in bar.line.text

            # The service fetched it two minutes ago: the list and the bar say who did.
            fetched_at = now - timedelta(minutes=2)
            Account.update(
                last_fetch_at=fetched_at, last_fetch_status="ok", last_fetch_new=3
            ).where(Account.id == account.id).execute()
            records.record_fetch(int(account.id), "ok", 3, 0, fetched_at, now)
            line = app.fetcher.idle_line()
            assert line is not None and line.text.startswith(
                "fetched by the service 2 min ago, 3 new"
            )
            app.screen_stack[-1].reload()  # type: ignore[attr-defined]
            await pilot.pause()
            assert "2 min ago by the service" in last_cell(app)

            # The service stops cleanly: the app polls again (the mailbox is due).
            Account.update(last_fetch_at=now - timedelta(hours=1)).where(
                Account.id == account.id
            ).execute()
            records.stopped(OWNER, now)
            deadline = time.monotonic() + 10
            while not server.sessions:
                assert time.monotonic() < deadline, "the app never polled again"
                await pilot.pause(0.05)


async def test_a_heartbeat_gone_stale_counts_as_no_service(
    build: Callable[[], PoptuiApp], secrets: MemoryStore
) -> None:
    now = fixed_clock()
    with FakePop3Server([make_message(1)]) as server:
        app = build()
        add_account(secrets, server.port)
        records.beat(OWNER, now - timedelta(hours=1), now - records.ALIVE_WITHIN * 2, 1)
        records.beat("someone-else", now, now, 1)  # another user's service covers nothing here
        async with app.run_test(size=(120, 30)) as pilot:
            deadline = time.monotonic() + 10
            while not server.sessions:
                assert time.monotonic() < deadline, "a dead service kept the app from polling"
                await pilot.pause(0.05)
