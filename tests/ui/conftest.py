"""Fixtures for the pilot and snapshot tests: a temp database, an in-memory keyring, a fake
tester, a fixed clock, and sample mailboxes in every state the list can show."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import PoptuiApp, make_app
from tui.core.net import CertificateInfo
from tui.core.net.pop3.auth import BearerToken
from tui.core.secrets import MemoryStore
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, Message, database_proxy
from tui.services import TestResult

OWNER = "alice"
NOW = datetime(2025, 3, 14, 9, 30, 0)
"""The fixed clock: naive UTC, like the database."""
PASSWORD = "Tr0ub4dor&3-unique-pw"
FINGERPRINT = ":".join(f"{n:02X}" for n in range(0xA0, 0xC0))


def fixed_clock() -> datetime:
    return NOW


@dataclass
class FakeTester:
    """Answers "Test & save" from a script of results and remembers what it was asked."""

    results: list[TestResult] = field(default_factory=lambda: [TestResult(True, "Logged in.")])
    calls: list[tuple[AccountSettings, str | BearerToken]] = field(default_factory=list)

    def __call__(self, settings: AccountSettings, password: str | BearerToken) -> TestResult:
        self.calls.append((settings, password))
        if len(self.results) > 1:
            return self.results.pop(0)
        return self.results[0]


@dataclass
class FakeOutgoingTester:
    """Answers the outgoing-server check like `FakeTester`, remembering what it was asked."""

    results: list[TestResult] = field(
        default_factory=lambda: [TestResult(True, "Outgoing server: login OK.")]
    )
    calls: list[tuple[AccountSettings, str | BearerToken, str]] = field(default_factory=list)
    """(settings, password, trusted_fingerprint) of each call."""

    def __call__(
        self,
        settings: AccountSettings,
        password: str | BearerToken,
        *,
        trusted_fingerprint: str = "",
    ) -> TestResult:
        self.calls.append((settings, password, trusted_fingerprint))
        if len(self.results) > 1:
            return self.results.pop(0)
        return self.results[0]


def certificate() -> CertificateInfo:
    return CertificateInfo(
        sha256=FINGERPRINT,
        subject="CN=mail.example.test",
        issuer="CN=mail.example.test",
        not_before=datetime(2025, 1, 1),
        not_after=datetime(2026, 1, 1),
        san=("mail.example.test",),
        reason="self-signed certificate",
    )


@pytest.fixture(autouse=True)
def utc_timezone() -> Iterator[None]:
    """Times are shown in local time: pin it so snapshots match on every machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture
def secrets() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def tester() -> FakeTester:
    return FakeTester()


@pytest.fixture
def outgoing_tester() -> FakeOutgoingTester:
    return FakeOutgoingTester()


AppFactory = Callable[[], PoptuiApp]


@pytest.fixture
def app_factory(
    db_path: Path,
    secrets: MemoryStore,
    tester: FakeTester,
    outgoing_tester: FakeOutgoingTester,
) -> Iterator[AppFactory]:
    """Builds the app on a fresh SQLite file; the database is open once the factory ran."""

    def build() -> PoptuiApp:
        return make_app(
            f"sqlite:///{db_path}",
            secrets=secrets,
            tester=tester,
            outgoing_tester=outgoing_tester,
            clock=fixed_clock,
            owner=OWNER,
        )

    yield build
    if database_proxy.obj is not None:
        database_proxy.close()


def store() -> AccountStore:
    return AccountStore(OWNER)


def add_account(
    name: str,
    email: str,
    *,
    host: str = "pop.example.com",
    status: str = "never",
    error: str = "",
    disabled_reason: str = "",
    fetched_minutes_ago: int | None = None,
    new: int = 0,
    messages: int = 0,
    activate: bool | None = None,
) -> Account:
    """An account in any state the list shows, written straight to the database."""
    settings = AccountSettings(
        name=name,
        email=email,
        incoming_host=host,
        username=email,
        delete_policy=DeletePolicy.LEAVE,
        outgoing_host=host.replace("pop", "smtp", 1),
        incoming_security=Security.SSL,
    )
    account = store().create(settings, activate=activate)
    Account.update(
        last_fetch_status=status,
        last_fetch_error=error,
        last_fetch_at=(
            NOW - timedelta(minutes=fetched_minutes_ago)
            if fetched_minutes_ago is not None
            else None
        ),
        last_fetch_new=new,
        disabled=bool(disabled_reason),
        disabled_reason=disabled_reason,
    ).where(Account.id == account.id).execute()
    for number in range(messages):
        Message.create(account=account, uidl=f"uid-{number}", size=100, subject=f"Mail {number}")
    return Account.get_by_id(account.id)


def add_sample_accounts() -> None:
    """Three mailboxes: one active and fine, one failing, one disabled."""
    add_account(
        "Work",
        "ana@example.com",
        status="ok",
        fetched_minutes_ago=4,
        new=3,
        messages=128,
        activate=True,
    )
    add_account(
        "Personal",
        "ana.lima@gmail.com",
        host="pop.gmail.com",
        status="error",
        error="Password rejected by pop.gmail.com: [AUTH] Username and password not accepted. "
        "With 2-Step Verification on, use an app password.",
        fetched_minutes_ago=65,
        messages=12,
    )
    add_account(
        "Old ISP",
        "ana@oldisp.example",
        host="pop3.oldisp.example",
        status="error",
        error="Could not connect to pop3.oldisp.example:995: Connection refused",
        disabled_reason="50 failed connections in a row (last: Connection refused).",
        fetched_minutes_ago=60 * 24 * 3,
    )


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)


async def replace_text(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Focus an input and replace its text, as a paste would: one change event, not one per key
    (the pilot takes ~60 ms a key, so only the keyboard-only test types everything)."""
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    await pilot.pause()
    widget.value = text
    await pilot.pause()


async def tab_to(pilot: Pilot[Any], widget_id: str, limit: int = 40) -> None:
    """Press Tab until the widget with `widget_id` has focus, like a keyboard user would."""
    for _ in range(limit):
        focused = pilot.app.focused
        if focused is not None and focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{widget_id}")


def disable_cursor_blink(app: PoptuiApp) -> None:
    for widget in app.screen.query(Input):
        widget.cursor_blink = False


async def open_form(pilot: Pilot[Any], key: str = "a") -> None:
    """Press `key` (a: add, e: edit) and wait until the form has mounted all its fields (the
    fields after the address are mounted once typing pauses, see `AccountFields.ensure_built`)."""
    from tui.screens.account_form import AccountFormScreen

    await pilot.press(key)
    for _ in range(400):
        await pilot.pause()
        screen = pilot.app.screen
        if isinstance(screen, AccountFormScreen) and screen.fields.ready:
            break
        await pilot.pause(0.01)
    await pilot.pause()
