"""The message browser offers mailboxes shared with the user: marked, read-only, and with a
"Public, except these domains" rule applied by the app's queries; `poptui messages list` shows
the same messages."""

from __future__ import annotations

import getpass
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from tests.ui.test_message_browser import NOW, OWNER, BrowserApp, screen_text
from tui.cli import Console, main
from tui.core.mail.parse import summarize
from tui.core.settings import AccountSettings, SharingPermission
from tui.core.sharing.rules import SharingService
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Message, MessageSource
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


def seed_shared_mailbox(permission: SharingPermission, viewer: str = OWNER, **options: Any) -> Any:
    SharingService(viewer).ensure_user()
    SharingService("bob").ensure_user()
    AccountStore(viewer).create(
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


class ViewerApp(App[None]):
    """The browser as `viewer` sees it, opened on one mailbox."""

    def __init__(self, viewer: str, account_id: int, download_dir: Path) -> None:
        super().__init__()
        self._screen = MessageBrowserScreen(
            account_id, accounts=AccountStore(viewer), download_dir=download_dir, page_size=2
        )

    def on_mount(self) -> None:
        self.push_screen(self._screen)


def cli(*argv: str) -> Any:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Console(out, err))
    assert code == 0, err.getvalue()
    return out.getvalue()


async def test_the_browser_and_the_command_line_show_the_same_messages(
    tmp_path: Path, downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command line's user is the login running it, so the browser looks as that login too.
    me = getpass.getuser()
    url = f"sqlite:///{tmp_path}/agree.db"
    monkeypatch.setenv("POPTUI_DATABASE", url)
    db = open_database(url)
    try:
        bob_box = seed_shared_mailbox(
            SharingPermission.PUBLIC, viewer=me, excluded_domains=["rival.com"]
        )
        for number in range(3):
            store(bob_box, f"n{number}@news.example", f"Newsletter {number}", f"n{number}")
        store(bob_box, "z@rival.com", "Rival's second offer", "r2")
        app = ViewerApp(me, bob_box.id, downloads)
        async with app.run_test(size=(110, 30)) as pilot:
            await pilot.pause()
            browser = app.screen
            assert isinstance(browser, MessageBrowserScreen) and browser.read_only
            rows = browser.message_list
            shown = [rows.source.get(index) for index in range(rows.total)]
            in_the_app = [row.id for row in shown if row is not None]
        listed = json.loads(cli("messages", "list", "BobBox", "--owner", "bob", "--json"))
        assert [message["id"] for message in listed] == in_the_app
        subjects = {message["subject"] for message in listed}
        assert len(subjects) == 4 and not any("Rival" in subject for subject in subjects)
        page = json.loads(
            cli("messages", "list", "BobBox", "--owner", "bob", "--json", "--limit", "2")
        )
        assert [message["id"] for message in page] == in_the_app[:2]
        text = cli("messages", "list", "BobBox", "--owner", "bob", "--limit", "0")
        assert "(4 messages, shared with you read-only)" in text and "Rival" not in text
    finally:
        db.close()


async def test_the_command_line_refuses_a_mailbox_not_shared_with_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/private.db"
    monkeypatch.setenv("POPTUI_DATABASE", url)
    db = open_database(url)
    try:
        seed_shared_mailbox(SharingPermission.PRIVATE, viewer=getpass.getuser())
        out, err = io.StringIO(), io.StringIO()
        for name in ("BobBox", "NoSuchBox"):
            code = main(["messages", "list", name, "--owner", "bob"], Console(out, err))
            assert code == 1
            assert f"bob shares no mailbox named {name!r} with you" in err.getvalue()
        assert "Offer" not in out.getvalue()
    finally:
        db.close()
