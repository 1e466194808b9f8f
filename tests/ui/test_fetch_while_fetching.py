"""f while a fetch runs: never "press f again". The app's own (poll) fetch of the same mailbox
is joined (its outcome is announced as if asked for); another mailbox is fetched at the same
time, or next when `jobs` fetches are running already (tests/ui/test_fetch_concurrent.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message import Message as TextualMessage
from textual.notifications import Notify

from tests.servers.fake_pop3 import FakePop3Server, FakeSession, stuff
from tests.ui.test_fetch_worker import add_server_account, build, messages, wait_until
from tui.app import PoptuiApp
from tui.core.secrets import MemoryStore
from tui.messages import FetchFinished

__all__ = ["build"]  # the fixture, shared with test_fetch_worker


def slow_server(release: threading.Event, count: int = 1) -> FakePop3Server:
    def slow_retr(session: FakeSession, args: list[str]) -> bytes:
        release.wait(10)
        body = messages(count)[int(args[0]) - 1]
        return f"+OK {len(body)} octets\r\n".encode() + stuff(body)

    return FakePop3Server(messages(count), handlers={"RETR": slow_retr})


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


async def test_f_during_the_apps_own_fetch_joins_it(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    release = threading.Event()
    with slow_server(release, 2) as server:
        app = build(poll=True, check_seconds=0.1)
        add_server_account(secrets, server.port, activate=True)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await wait_until(pilot, lambda: app.fetcher.running)
            assert [job.manual for job in app.fetcher.running.values()] == [False]
            await pilot.press("f")
            await pilot.pause()
            said = notices(seen)
            assert not any("press f again" in n for n in said)
            assert (
                "Work is being fetched already; you will see what it brings when it is done."
                in said
            )
            release.set()
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen))
            await pilot.pause()
            assert "Work: 2 new messages" in notices(seen)
        assert len(server.sessions) == 1


async def test_f_on_another_mailbox_beyond_the_bound_fetches_it_next(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    release = threading.Event()
    with slow_server(release) as busy, FakePop3Server(messages(1)) as other:
        app = build(poll=True, check_seconds=0.1, jobs=1)
        add_server_account(secrets, busy.port, activate=True)
        add_server_account(secrets, other.port, name="Home", activate=False)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await wait_until(pilot, lambda: app.fetcher.running)
            screen = app.screen
            screen.table.select_account(2)  # type: ignore[attr-defined]
            await pilot.press("f")
            await pilot.pause()
            assert "Home is fetched next, once Work is done." in notices(seen)
            assert not other.sessions
            release.set()
            await wait_until(
                pilot,
                lambda: (
                    [m.account_name for m in seen if isinstance(m, FetchFinished)]
                    == ["Work", "Home"]
                ),
            )
            home = next(
                m for m in seen if isinstance(m, FetchFinished) and m.account_name == "Home"
            )
            assert home.manual
        assert len(other.sessions) == 1
