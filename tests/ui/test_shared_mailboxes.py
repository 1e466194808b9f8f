"""The message browser offers mailboxes shared with the user: marked, read-only, and with a
"Public, except these domains" rule applied (on SQLite by the app's queries)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.test_message_browser import NOW, OWNER, BrowserApp, screen_text
from tui.core.mail.parse import summarize
from tui.core.sharing.rules import SharingService
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Message, MessageSource
from tui.core.storage.settings import AccountSettings, SharingPermission
from tui.screens.message_browser import MessageBrowserScreen
from tui.screens.message_dialogs import MailboxPickerDialog


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/shared.db")
    yield db
    db.close()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    return tmp_path


def store(account: Any, sender: str, subject: str, uidl: str) -> None:
    raw = f"From: {sender}\r\nTo: bob@corp.example\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()
    summary = summarize(raw)
    message = Message.create(
        account=account,
        uidl=uidl,
        size=len(raw),
        from_addr=summary.from_addr,
        subject=summary.subject,
        party_domains=summary.party_domains,
        first_seen_at=NOW,
        fetched_at=NOW,
    )
    MessageSource.create(message=message, raw=raw)


def seed_shared_mailbox(permission: SharingPermission, **options: Any) -> Any:
    SharingService(OWNER).ensure_user()
    SharingService("bob").ensure_user()
    AccountStore(OWNER).create(
        AccountSettings(
            name="Mine", email="me@example.com", incoming_host="pop.example.com", username="me"
        )
    )
    bob_box = AccountStore("bob").create(
        AccountSettings(
            name="BobBox",
            email="bob@corp.example",
            incoming_host="pop.corp.example",
            username="bob",
        )
    )
    store(bob_box, "x@partner.com", "Offer from the partner", "p1")
    store(bob_box, "y@rival.com", "Rival's pricing", "r1")
    SharingService("bob").set_account_permission(bob_box, permission, **options)
    return bob_box


async def test_shared_mailbox_is_offered_read_only_without_excluded_mail(
    database: Any,
    downloads: Path,
) -> None:
    seed_shared_mailbox(SharingPermission.PUBLIC, excluded_domains=["rival.com"])
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, MailboxPickerDialog)
        picker = screen_text(app)
        assert "shared by bob," in picker and "read-only" in picker
        assert picker.count("● active") == 1  # only the viewer's own active mailbox
        await pilot.press("down", "enter")  # Mine is listed first, BobBox after it
        await pilot.pause()
        browser = app.screen
        assert isinstance(browser, MessageBrowserScreen) and browser.read_only
        text = screen_text(app)
        assert "Offer from the partner" in text
        assert "Rival" not in text
        assert "shared by bob" in text
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, MessageBrowserScreen)  # no confirmation: refused
        assert Message.select().where(Message.deleted_here).count() == 0


async def test_private_mailboxes_of_others_are_not_offered(
    database: Any,
    downloads: Path,
) -> None:
    seed_shared_mailbox(SharingPermission.PRIVATE)
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert "BobBox" not in screen_text(app)
