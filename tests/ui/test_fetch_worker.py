"""Fetching from the app, driven by keys against the scriptable POP3 server: progress, the words
for each outcome, pinning a certificate, the poll timer, the connection test, and quitting in
the middle of a fetch (fast, nothing lost, nothing deleted)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.pilot import Pilot

from tests.integration.fetch_helpers import make_message
from tests.servers.certs import CertMaterial
from tests.servers.fake_pop3 import HANG, FakePop3Server, FakeSession, stuff
from tests.ui.conftest import OWNER, fixed_clock, store
from tui.app import PoptuiApp, make_app
from tui.core.net import pop3
from tui.core.secrets import MemoryStore, SecretKind, SecretStoreError
from tui.core.settings import AccountSettings, Security
from tui.core.storage.models import Account, Message, database_proxy
from tui.core.sync import (
    FetchOptions,
    FetchResult,
    SyncProgress,
    describe_failure,
    describe_success,
)
from tui.fetch_worker import FetchJob, FetchSettings, ProgressForwarder
from tui.messages import ConnectionTested, FetchFailed, FetchFinished, FetchProgress
from tui.screens.dialogs import CertificateTrustDialog, ErrorDialog
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.message_browser import MessageBrowserScreen
from tui.widgets.fetch_status import FetchStatus, StatusKind
from tui.widgets.mailbox_table import MailboxTable

PASSWORD = "secret"
NO_PIPELINING = ("UIDL", "USER", "RESP-CODES")


def status_bar(app: PoptuiApp) -> FetchStatus:
    screen = next(s for s in app.screen_stack if isinstance(s, MailboxListScreen))
    return screen.query_one(FetchStatus)


def state_cell(app: PoptuiApp, name: str) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, MailboxListScreen))
    table = screen.query_one(MailboxTable)
    for index in range(table.row_count):
        row = table.get_row_at(index)
        if row[1].plain == name:
            return str(row[-1].plain)
    raise AssertionError(f"no row {name}")


@pytest.fixture
def build(
    db_path: Path, secrets: MemoryStore, tmp_path: Path
) -> Iterator[Callable[..., PoptuiApp]]:
    def make(**settings: Any) -> PoptuiApp:
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
        return make_app(
            f"sqlite:///{db_path}",
            secrets=secrets,
            clock=fixed_clock,
            owner=OWNER,
            fetching=FetchSettings(options=options, test_timeout=5, **settings),
        )

    yield make
    if database_proxy.obj is not None:
        database_proxy.close()


def add_server_account(
    secrets: MemoryStore,
    port: int,
    *,
    name: str = "Work",
    security: Security = Security.NONE,
    password: str | None = PASSWORD,
    activate: bool | None = None,
) -> Account:
    settings = AccountSettings(
        name=name,
        email="alice@example.com",
        incoming_host="127.0.0.1",
        incoming_port=port,
        incoming_security=security,
        username="alice",
    )
    account = store().create(settings, activate=activate)
    if password is not None:
        secrets.set(account.secret_key, SecretKind.INCOMING, password)
    return account


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 10.0
) -> None:
    """Poll `predicate` between screen updates; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


def messages(count: int) -> list[bytes]:
    return [make_message(i) for i in range(1, count + 1)]


# ---------------------------------------------------------------------------- fetching


async def test_f_fetches_the_highlighted_mailbox_and_says_how_much_is_new(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    with FakePop3Server(messages(3)) as server:
        app = build()
        add_server_account(secrets, server.port)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen))
            await pilot.pause()
            notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
            assert "Work: 3 new messages" in notices
            assert Message.select().count() == 3
            assert state_cell(app, "Work").startswith("✓ ok")
            bar = status_bar(app)
            assert bar.line is not None and bar.line.kind is StatusKind.IDLE
            assert "last fetch: 3 new" in bar.line.text
            assert bar.display
            progress = [m for m in seen if isinstance(m, FetchProgress)]
            assert progress and progress[-1].state.done == 3 and progress[-1].state.total == 3


async def test_progress_messages_coalesce_on_a_large_fetch(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    """400 messages do not make 400 repaints: throttled in the thread, replaced in the queue."""
    with FakePop3Server(messages(400)) as server:
        app = build(progress_interval=0.05)
        add_server_account(secrets, server.port)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen), 30)
            progress = [m for m in seen if isinstance(m, FetchProgress)]
            assert progress[-1].state.done == 400
            assert len(progress) < 100, len(progress)
            assert Message.select().count() == 400


def test_progress_forwarder_throttles_within_a_phase() -> None:
    posted: list[FetchProgress] = []
    now = [0.0]
    forward = ProgressForwarder(
        FetchJob(1, "Work", manual=True),
        lambda message: posted.append(cast(FetchProgress, message)),
        interval=0.1,
        clock=lambda: now[0],
    )
    state = SyncProgress(account="Work", phase="connecting")
    forward(state)
    state.phase, state.total = "fetching", 1000
    for done in range(1, 1001):
        state.done = done
        now[0] += 0.001  # a message a millisecond
        forward(state)
    phases = [p.state.phase for p in posted]
    assert phases[0] == "connecting" and phases[1] == "fetching"
    assert posted[-1].state.done == 1000
    assert len(posted) <= 14


def test_a_progress_snapshot_keeps_its_figures_and_rate() -> None:
    """The worker goes on changing its `SyncProgress`; a posted copy must not change with it."""
    live = SyncProgress("Work", "fetching", total=10, done=1, bytes_done=1000, started=0.0)
    copy = live.snapshot()
    rate = copy.rate
    live.done, live.bytes_done, live.phase = 2, 5000, "deleting"
    assert (copy.done, copy.bytes_done, copy.phase) == (1, 1000, "fetching")
    assert copy.rate == rate > 0
    assert live.rate > copy.rate


def test_progress_messages_replace_queued_ones_of_the_same_mailbox() -> None:
    older = FetchProgress(1, "Work", SyncProgress("Work", "fetching", total=10, done=1))
    newer = FetchProgress(1, "Work", SyncProgress("Work", "fetching", total=10, done=2))
    other = FetchProgress(2, "Home", SyncProgress("Home", "fetching", total=10, done=1))
    assert older.can_replace(newer)
    assert not older.can_replace(other)


async def test_a_fetch_already_running_is_not_started_twice(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    release = threading.Event()

    def slow_retr(session: FakeSession, args: list[str]) -> bytes:
        release.wait(10)
        body = messages(1)[0]
        return f"+OK {len(body)} octets\r\n".encode() + stuff(body)

    with FakePop3Server(messages(1), handlers={"RETR": slow_retr}) as server:
        app = build()
        add_server_account(secrets, server.port)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(pilot, lambda: state_cell(app, "Work").startswith("↻ fetching"))
            await pilot.press("f")
            await pilot.pause()
            notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
            assert any("is being fetched" in n for n in notices)
            release.set()
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen))
        assert len(server.sessions) == 1


# ---------------------------------------------------------------------------- failures


async def run_failing_fetch(
    app: PoptuiApp, *, keys: tuple[str, ...] = ("f",)
) -> tuple[list[str], FetchFailed]:
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await wait_until(pilot, lambda: any(isinstance(m, FetchFailed) for m in seen))
        await pilot.pause()
        failed = next(m for m in seen if isinstance(m, FetchFailed))
        notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
        bar = status_bar(app)
        assert bar.line is not None and bar.line.kind is StatusKind.ERROR
        assert state_cell(app, "Work").startswith("✗ error") or failed.manual
        return notices, failed


async def test_wrong_password_says_change_it_with_p(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    with FakePop3Server(messages(1)) as server:
        app = build()
        add_server_account(secrets, server.port, password="wrong")
        notices, failed = await run_failing_fetch(app)
    assert isinstance(failed.error, pop3.AuthenticationFailed)
    assert any("Work: password rejected, change it with p." in n for n in notices)
    assert Account.get().last_fetch_status == "error"


async def test_mailbox_in_use_says_retrying_later(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    in_use = "-ERR [IN-USE] Mailbox is locked by another POP3 session"
    with FakePop3Server(messages(1), auth_error=in_use) as server:
        app = build()
        add_server_account(secrets, server.port, password="any")
        notices, failed = await run_failing_fetch(app)
    assert isinstance(failed.error, pop3.MailboxInUse)
    assert any("in use by another mail program" in n and "retrying later" in n for n in notices)


async def test_login_delay_says_retrying_later(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    delay = "-ERR [LOGIN-DELAY] Wait a little between logins"
    with FakePop3Server(messages(1), auth_error=delay) as server:
        app = build()
        add_server_account(secrets, server.port, password="any")
        notices, failed = await run_failing_fetch(app)
    assert isinstance(failed.error, pop3.LoginDelay)
    assert any("[LOGIN-DELAY]" in n and "retrying later" in n for n in notices)


async def test_disabled_mailbox_says_why_and_what_to_do(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    app = build()
    account = add_server_account(secrets, 9)
    Account.update(
        disabled=True, disabled_reason="10 failed logins in a row (last: rejected)."
    ).where(Account.id == account.id).execute()
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await wait_until(pilot, lambda: any(isinstance(m, FetchFailed) for m in seen))
        await pilot.pause()
        notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
    text = next(n for n in notices if "disabled" in n)
    assert "Work is disabled: 10 failed logins in a row" in text
    assert "change the password with p" in text and "e (Test & save)" in text


async def test_missing_password_says_set_it_with_p(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    app = build()
    add_server_account(secrets, 9, password=None)
    notices, _ = await run_failing_fetch(app)
    assert any("no password is stored" in n and "set it with p" in n for n in notices)


async def test_untrusted_certificate_offers_the_dialog_and_pins(
    build: Callable[..., PoptuiApp], secrets: MemoryStore, cert_material: CertMaterial
) -> None:
    context = cert_material.server_context()
    with FakePop3Server(messages(2), implicit_tls=context) as server:
        app = build()
        add_server_account(secrets, server.port, security=Security.SSL)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(pilot, lambda: isinstance(app.screen, CertificateTrustDialog))

            def notices() -> list[str]:
                return [str(m.notification.message) for m in seen if isinstance(m, Notify)]

            # The dialog is pushed before the notice is posted: wait for the notice, not on order.
            untrusted = "certificate is not trusted"
            await wait_until(pilot, lambda: any(untrusted in n for n in notices()))
            assert Message.select().count() == 0
            await pilot.press("p")
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen))
            await pilot.pause()
            assert Account.get().pinned_fingerprint == cert_material.fingerprint
            assert "Work: 2 new messages" in notices()
            assert Message.select().count() == 2


class LockedStore(MemoryStore):
    """A password store that cannot be read (a locked keyring)."""

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        raise SecretStoreError("The keyring is locked.")


async def test_an_unreadable_password_store_is_reported_for_fetch_and_test(
    db_path: Path, tmp_path: Path
) -> None:
    """Trouble outside the server (here the password store) reaches the user as a typed
    failure from the worker, for a fetch (f) and for the connection test (t)."""
    locked = LockedStore()
    app = make_app(
        f"sqlite:///{db_path}",
        secrets=locked,
        clock=fixed_clock,
        owner=OWNER,
        fetching=FetchSettings(options=FetchOptions(lock_dir=tmp_path / "locks", timeout=5)),
    )
    add_server_account(locked, 9, password=None)
    seen: list[TextualMessage] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await wait_until(pilot, lambda: any(isinstance(m, FetchFailed) for m in seen))
        await pilot.pause()
        failed = next(m for m in seen if isinstance(m, FetchFailed))
        assert isinstance(failed.error, SecretStoreError)
        notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
        assert any("could not be read from the password store" in n for n in notices)
        assert not app.fetcher.running
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
        tested = next(m for m in seen if isinstance(m, ConnectionTested))
        assert isinstance(tested.report.error, SecretStoreError)
        assert app.fetcher.testing is None
        text = str(app.screen.query_one("#error-text").render())
        assert "The keyring is locked." in text


def test_failure_words_are_specific() -> None:
    in_use = pop3.MailboxInUse("in use", server_text="[IN-USE] locked")
    notice = describe_failure("Work", in_use, None, polling=False)
    assert notice.severity == "warning" and "retrying later" in notice.text
    auth = pop3.AuthenticationFailed("The password was rejected by pop.gmail.com.", hint="Use an")
    notice = describe_failure("Work", auth, None, polling=True)
    assert notice.text.startswith("Work: password rejected, change it with p.")
    assert notice.status == "password rejected, change it with p"
    delay = pop3.LoginDelay("delay", delay_seconds=900)
    notice = describe_failure("Work", delay, None, polling=True)
    assert notice.retry_seconds == 900 and "every 15 min" in notice.text
    nothing_new = describe_success("Work", FetchResult("Work"), None, manual=False)
    assert nothing_new is not None and nothing_new.text == ""


def test_words_say_when_this_failure_disabled_the_mailbox() -> None:
    account = Account(name="Work", disabled=True, consecutive_auth_failures=10, is_active=True)
    auth = pop3.AuthenticationFailed("The password was rejected by pop.example.com.")
    notice = describe_failure("Work", auth, account, polling=True)
    assert "After 10 failed logins in a row it is disabled" in notice.text


def test_a_poll_that_keeps_failing_the_same_way_is_announced_once(
    build: Callable[..., PoptuiApp],
) -> None:
    fetcher = build().fetcher
    assert fetcher.should_announce(1, "Work: password rejected", manual=False)
    assert not fetcher.should_announce(1, "Work: password rejected", manual=False)
    assert fetcher.should_announce(1, "Work: password rejected", manual=True)  # asked for
    assert fetcher.should_announce(1, "Work: could not connect", manual=False)  # new failure
    assert fetcher.should_announce(1, None, manual=False)  # a success resets it
    assert fetcher.should_announce(1, "Work: could not connect", manual=False)


def test_the_idle_bar_says_when_the_next_fetch_is_and_why_the_last_failed(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    fetcher = build(poll=True).fetcher
    assert fetcher.idle_line() is None  # no mailbox at all: the empty list says what to do
    account = add_server_account(secrets, 9, activate=True)
    Account.update(last_fetch_at=fixed_clock() - timedelta(minutes=2), last_fetch_new=4).where(
        Account.id == account.id
    ).execute()
    line = fetcher.idle_line()
    assert line is not None and line.kind is StatusKind.IDLE
    assert line.text == "fetched 2 min ago, 4 new · next fetch in 3 min"
    Account.update(last_fetch_status="error", last_fetch_error="Could not connect").where(
        Account.id == account.id
    ).execute()  # as a cron `poptui fetch` records it
    line = fetcher.idle_line()
    assert line is not None and line.kind is StatusKind.ERROR
    assert line.text == "Could not connect · next fetch in 3 min"


# ---------------------------------------------------------------------------- quitting


async def test_quitting_during_a_hung_fetch_is_fast_and_keeps_what_was_stored(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    """The server stops answering in the middle of message 4: quitting closes the socket at
    once (no QUIT, so nothing is deleted) and the three messages already received stay."""
    mail = messages(5)

    def retr(session: FakeSession, args: list[str]) -> object:
        number = int(args[0])
        if number == 4:
            return HANG
        return f"+OK {len(mail[number - 1])} octets\r\n".encode() + stuff(mail[number - 1])

    with FakePop3Server(mail, capa=NO_PIPELINING, handlers={"RETR": retr}) as server:
        app = build()
        account = add_server_account(secrets, server.port)
        Account.update(delete_policy="after_fetch").where(Account.id == account.id).execute()
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(
                pilot,
                lambda: any(isinstance(m, FetchProgress) and m.state.done == 3 for m in seen),
            )
            await wait_until(pilot, lambda: state_cell(app, "Work") == "↻ fetching 3/5")
            bar = status_bar(app)
            assert bar.line is not None and bar.line.kind is StatusKind.PROGRESS
            assert bar.line.done == 3 and bar.line.total == 5
            started = time.monotonic()
            await pilot.press("q")
        exited = time.monotonic() - started
        fetcher = app.fetcher
        while fetcher.busy and time.monotonic() - started < 5:
            time.sleep(0.01)
        stopped = time.monotonic() - started
        assert exited < 1.0, exited
        assert stopped < 1.0, stopped
        assert not fetcher.busy
        assert Message.select().count() == 3
        assert not any("QUIT" in s.verbs for s in server.sessions)
        assert not any("DELE" in s.verbs for s in server.sessions)
        assert server.committed_deletions == []


async def test_quitting_while_connecting_does_not_wait_for_the_timeout(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    """A server that accepts the connection but never greets: the engine is still inside
    `Pop3Client.connect`, where `FetchControl` cannot reach it; the app leaves it behind."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        app = build()
        add_server_account(secrets, silent.getsockname()[1])
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("f")
            await wait_until(pilot, lambda: app.fetcher.busy)
            await pilot.pause(0.2)
            assert state_cell(app, "Work") == "↻ fetching…"
            started = time.monotonic()
            await pilot.press("q")
        while app.fetcher.busy and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert time.monotonic() - started < 1.0
    finally:
        silent.close()


# ---------------------------------------------------------------------------- poll timer


async def test_the_poll_timer_fetches_the_active_mailbox_only(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    with FakePop3Server(messages(2)) as active_server, FakePop3Server(messages(1)) as other:
        app = build(poll=True, check_seconds=0.1)
        add_server_account(secrets, active_server.port, activate=True)
        add_server_account(secrets, other.port, name="Home", activate=False)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await wait_until(pilot, lambda: any(isinstance(m, FetchFinished) for m in seen))
            await pilot.pause(0.5)  # several more ticks: the fetch is not due again
            finished = [m for m in seen if isinstance(m, FetchFinished)]
            assert [(m.account_name, m.manual) for m in finished] == [("Work", False)]
            notices = [str(m.notification.message) for m in seen if isinstance(m, Notify)]
            assert "Work: 2 new messages" in notices
            bar = status_bar(app)
            assert bar.line is not None and "next fetch in 5 min" in bar.line.text
        assert not other.sessions
        assert len(active_server.sessions) == 1


# ---------------------------------------------------------------------------- connection test


async def test_t_runs_the_connection_test_and_shows_what_it_learnt(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    with FakePop3Server(messages(2)) as server:
        app = build()
        add_server_account(secrets, server.port)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("t")
            await wait_until(pilot, lambda: any(isinstance(m, Notify) for m in seen))
            note = next(m.notification for m in seen if isinstance(m, Notify))
            assert note.title == "Work: connection test passed"
            assert "Connected to 127.0.0.1" in note.message
            assert "without encryption" in note.message
            assert "Capabilities: " in note.message and "PIPELINING" in note.message
            assert "Logged in as alice with PLAIN." in note.message
            assert "2 messages" in note.message
        assert Message.select().count() == 0
        assert server.last.verbs[-2:] == ["STAT", "QUIT"]


async def test_connection_test_failure_is_shown_in_a_dialog(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    with FakePop3Server(messages(1)) as server:
        app = build()
        add_server_account(secrets, server.port, password="wrong")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("t")
            await wait_until(pilot, lambda: isinstance(app.screen, ErrorDialog))
            text = str(app.screen.query_one("#error-text").render())
            assert "password rejected, change it with p" in text
            assert "Capabilities:" in text


async def test_connection_test_offers_to_pin_an_untrusted_certificate(
    build: Callable[..., PoptuiApp], secrets: MemoryStore, cert_material: CertMaterial
) -> None:
    with FakePop3Server(messages(1), implicit_tls=cert_material.server_context()) as server:
        app = build()
        add_server_account(secrets, server.port, security=Security.SSL)
        seen: list[TextualMessage] = []
        async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
            await pilot.pause()
            await pilot.press("t")
            await wait_until(pilot, lambda: isinstance(app.screen, CertificateTrustDialog))
            await pilot.press("p")
            await wait_until(
                pilot,
                lambda: any(
                    isinstance(m, Notify) and "connection test passed" in str(m.notification.title)
                    for m in seen
                ),
            )
            note = next(
                m.notification
                for m in seen
                if isinstance(m, Notify) and "passed" in str(m.notification.title)
            )
            assert f"TLS certificate (pinned): SHA-256 {cert_material.fingerprint}" in str(
                note.message
            )
        assert Account.get().pinned_fingerprint == cert_material.fingerprint


# ---------------------------------------------------------------------------- open messages


async def test_enter_opens_the_highlighted_mailbox_messages(
    build: Callable[..., PoptuiApp], secrets: MemoryStore
) -> None:
    app = build()
    add_server_account(secrets, 9, name="Alpha", activate=True)
    beta = add_server_account(secrets, 9, name="Beta")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessageBrowserScreen))
        screen = app.screen
        assert isinstance(screen, MessageBrowserScreen)
        assert screen.account_id == beta.id
