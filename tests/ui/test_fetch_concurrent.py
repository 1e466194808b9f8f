"""Several mailboxes fetched by the app at the same time: a slow server holds only its own
worker, the others go on (one of them the suite's real Dovecot); each row shows its own state,
the status bar sums them up, every outcome is announced, and at most `jobs` run at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message as TextualMessage

from tests.conftest import PopUser
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import FakePop3Server
from tests.ui.conftest import store
from tests.ui.test_fetch_while_fetching import notices, slow_server
from tests.ui.test_fetch_worker import (
    add_server_account,
    build,
    messages,
    state_cell,
    status_bar,
    wait_until,
)
from tui.app import PoptuiApp
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AccountSettings, Security
from tui.core.storage.models import Account
from tui.messages import FetchFinished, FetchProgress
from tui.screens.mailbox_list import MailboxListScreen
from tui.widgets.fetch_status import FetchStatusLine, StatusKind

__all__ = ["build"]  # the fixture, shared with test_fetch_worker


def dovecot_account(
    secrets: MemoryStore, dovecot: DovecotServer, user: PopUser, name: str
) -> Account:
    settings = AccountSettings(
        name=name,
        email="bob@example.com",
        incoming_host="127.0.0.1",
        incoming_port=dovecot.plain_port,
        incoming_security=Security.NONE,
        username=user.name,
    )
    account = store().create(settings, activate=False)
    secrets.set(account.secret_key, SecretKind.INCOMING, user.password)
    return account


def finished_names(seen: list[TextualMessage]) -> list[str]:
    return [m.account_name for m in seen if isinstance(m, FetchFinished)]


def select(app: PoptuiApp, account_id: int) -> None:
    screen = app.screen
    assert isinstance(screen, MailboxListScreen)
    screen.table.select_account(account_id)


async def test_a_slow_mailbox_does_not_hold_up_another(
    build: Callable[..., PoptuiApp],
    secrets: MemoryStore,
    dovecot: DovecotServer,
    pop_user: PopUser,
) -> None:
    release = threading.Event()
    dovecot.deliver_many(pop_user.name, messages(3))
    with slow_server(release, 2) as slow:
        app = build()
        work = add_server_account(secrets, slow.port, activate=True)
        home = dovecot_account(secrets, dovecot, pop_user, "Home")
        seen: list[TextualMessage] = []
        together: list[set[int]] = []
        bars: list[FetchStatusLine | None] = []
        rows: list[str] = []

        def watch(message: TextualMessage) -> None:
            seen.append(message)
            if isinstance(message, FetchProgress) and message.account_name == "Home":
                together.append(set(app.fetcher.running))
                bars.append(status_bar(app).line)
                rows.append(state_cell(app, "Work"))

        async with app.run_test(size=(100, 30), message_hook=watch) as pilot:
            select(app, int(work.id))
            await pilot.press("f")
            await wait_until(pilot, lambda: slow.sessions)
            select(app, int(home.id))
            await pilot.press("f")
            # Home comes in from Dovecot while Work's server still holds its first RETR.
            await wait_until(pilot, lambda: finished_names(seen) == ["Home"])
            assert not release.is_set() and int(work.id) in app.fetcher.running
            assert not any("fetched next" in n for n in notices(seen))
            assert {int(work.id), int(home.id)} in together  # both workers at the same time
            assert FetchStatusLine.many(2) in bars[1:]  # after Home's first progress landed
            assert rows and set(rows) == {"↻ fetching 0/2"}  # Work's own progress, on its row
            await pilot.pause()
            assert any(n.startswith("Home: 3 new messages") for n in notices(seen))
            assert state_cell(app, "Work") == "↻ fetching 0/2"
            assert "fetching" not in state_cell(app, "Home")
            line = status_bar(app).line  # one left: its own progress again, not a summary
            assert line is not None and line.account == "Work"
            assert line.kind in (StatusKind.BUSY, StatusKind.PROGRESS)
            release.set()
            await wait_until(pilot, lambda: finished_names(seen) == ["Home", "Work"])
            await pilot.pause()
            assert any(n.startswith("Work: 2 new messages") for n in notices(seen))
            assert not app.fetcher.running
        assert len(slow.sessions) == 1


async def test_no_more_than_jobs_mailboxes_are_fetched_at_once(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    release = threading.Event()
    servers = [slow_server(release) for _ in range(3)]
    with servers[0] as first, servers[1] as second, servers[2] as third:
        app = build(jobs=2)
        accounts = [
            add_server_account(secrets, server.port, name=name, activate=False)
            for server, name in ((first, "One"), (second, "Two"), (third, "Three"))
        ]
        seen: list[TextualMessage] = []
        most = 0

        def count(message: TextualMessage) -> None:
            nonlocal most
            seen.append(message)
            most = max(most, len(app.fetcher.running))

        async with app.run_test(size=(100, 30), message_hook=count) as pilot:
            for account in accounts:
                select(app, int(account.id))
                await pilot.press("f")
            await wait_until(pilot, lambda: first.sessions and second.sessions)
            await pilot.pause(0.3)
            assert not third.sessions  # waits for a free slot
            assert "Three is fetched next, once one of the 2 mailboxes being fetched is done." in (
                notices(seen)
            )
            assert status_bar(app).line == FetchStatusLine.many(2, 1)
            select(app, int(accounts[2].id))
            await pilot.press("f")  # asked twice while waiting: still one fetch
            await pilot.pause()
            assert "Three is fetched next already." in notices(seen)
            release.set()
            await wait_until(pilot, lambda: len(finished_names(seen)) == 3)
            await pilot.pause()
            assert sorted(finished_names(seen)) == ["One", "Three", "Two"]
            said = notices(seen)
            for name in ("One", "Two", "Three"):
                assert any(n.startswith(f"{name}: 1 new message") for n in said)
        assert most == 2
        assert [len(s.sessions) for s in (first, second, third)] == [1, 1, 1]


def test_the_summary_line_counts_running_and_waiting() -> None:
    assert FetchStatusLine.many(2) == FetchStatusLine.busy("", "Fetching 2 mailboxes…")
    assert FetchStatusLine.many(3, 2).text == "Fetching 3 mailboxes… · 2 waiting"


async def test_the_poll_fetches_the_active_mailbox_while_another_is_fetched(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    release = threading.Event()
    with slow_server(release) as slow, FakePop3Server(messages(2)) as active_server:
        app = build(poll=True, check_seconds=0.1)
        add_server_account(secrets, active_server.port, activate=True)
        home = add_server_account(secrets, slow.port, name="Home", activate=False)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            select(app, int(home.id))
            await pilot.press("f")
            await wait_until(pilot, lambda: finished_names(seen) == ["Work"])
            assert int(home.id) in app.fetcher.running and not release.is_set()
            await pilot.pause(0.3)  # more ticks: Work is not due again, Home not polled
            assert finished_names(seen) == ["Work"]
            release.set()
            await wait_until(pilot, lambda: finished_names(seen) == ["Work", "Home"])
        assert len(active_server.sessions) == 1 and len(slow.sessions) == 1
