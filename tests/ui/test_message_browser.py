"""The message browser and reader, driven by keys on a temporary SQLite database: order, reading,
search, delete here, mailbox switch, saving an attachment, hostile text, and 100,000 messages."""

from __future__ import annotations

import html
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from textual.app import App
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static, TextArea

import tui
from tui.core.mail.parse import summarize
from tui.core.storage import queries as message_query
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.models import Account, Message, MessageSource
from tui.core.storage.source_files import SourceFiles
from tui.screens.message_browser import MessageBrowserScreen
from tui.screens.message_dialogs import (
    ConfirmDeleteHereDialog,
    MailboxPickerDialog,
    SaveAttachmentDialog,
)
from tui.screens.message_reader import MessageReaderScreen
from tui.widgets.message_list import MessageList
from tui.widgets.message_rows import MAX_PAGES, PAGE_SIZE, MailboxRows

OWNER = "alice"
NOW = datetime(2025, 3, 14, 9, 30)
HOSTILE_SUBJECT = "[@click=app.quit] Free \x1b[31mmoney\x1b]8;;https://evil.example\x07 now"
PDF = b"%PDF-1.4 sample attachment " + bytes(range(256))


APP_CSS = Path(tui.__file__).with_name("app.tcss")


class BrowserApp(App[None]):
    """Just the browser, on whatever database is open, styled as in the app."""

    CSS_PATH = APP_CSS

    def __init__(self, download_dir: Path, account_id: int | None = None) -> None:
        super().__init__()
        self._download_dir = download_dir
        self._account_id = account_id

    def on_mount(self) -> None:
        self.push_screen(
            MessageBrowserScreen(
                self._account_id, accounts=AccountStore(OWNER), download_dir=self._download_dir
            )
        )


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/browser.db")
    yield db
    db.close()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "Downloads"
    folder.mkdir()
    return folder


def make_account(name: str, *, active: bool, policy: str = "when_deleted_here") -> Account:
    return Account.create(
        owner=OWNER,
        name=name,
        email=f"{name.lower()}@example.com",
        incoming_host="pop.example.com",
        incoming_port=995,
        incoming_security="ssl",
        username=f"{name.lower()}@example.com",
        delete_policy=policy,
        secret_key=uuid.uuid4().hex,
        is_active=active,
    )


def store_raw(account: Account, raw: bytes, *, uidl: str) -> int:
    """Store a message the way the fetch does: summarized headers plus the raw bytes."""
    summary = summarize(raw)
    message = Message.create(
        account=account,
        uidl=uidl,
        size=len(raw),
        from_addr=summary.from_addr,
        to_addrs=summary.to_addrs,
        subject=summary.subject,
        date=summary.date,
        message_id=summary.message_id,
        has_attachments=summary.has_attachments,
        first_seen_at=NOW,
        fetched_at=NOW,
    )
    MessageSource.create(message=message, raw=raw)
    return int(message.id)


def mail(
    subject: str,
    sender: str,
    when: datetime,
    body: str,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "work@example.com"
    message["Subject"] = subject
    message["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(body)
    if attachment:
        message.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return message.as_bytes()


def hostile_mail() -> bytes:
    return (
        f"From: \u202eEvil\x1b[2J <x@evil.example>\r\nTo: work@example.com\r\n"
        f"Subject: {HOSTILE_SUBJECT}\r\nDate: Fri, 14 Mar 2025 09:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Click [@click=app.quit]here[/] \x1b]52;c;ZXZpbA==\x07 to win.\r\n"
    ).encode()


@pytest.fixture
def mailboxes(database: Any) -> dict[str, Any]:
    """Work (active): four messages, the newest hostile; Home: one message."""
    work = make_account("Work", active=True)
    home = make_account("Home", active=False)
    ids = {
        "report": store_raw(
            work,
            mail("Quarterly report", "Ana <ana@example.com>", NOW - timedelta(days=3), "Q1 up."),
            uidl="w1",
        ),
        "lunch": store_raw(
            work,
            mail("Lunch on Friday", "Bo <bo@example.com>", NOW - timedelta(days=2), "Pizza?"),
            uidl="w2",
        ),
        "invoice": store_raw(
            work,
            mail(
                "Invoice attached",
                "Billing <billing@example.com>",
                NOW - timedelta(days=1),
                "Please find the invoice attached.",
                attachment=("invoice.pdf", PDF),
            ),
            uidl="w3",
        ),
        "hostile": store_raw(work, hostile_mail(), uidl="w4"),
        "holiday": store_raw(
            home,
            mail("Holiday photos", "Mum <mum@example.com>", NOW, "Lovely beach."),
            uidl="h1",
        ),
    }
    return {"work": work, "home": home, "ids": ids}


def screen_text(app: App[Any]) -> str:
    """Everything the terminal shows, as text (from the SVG screenshot)."""
    svg = app.export_screenshot()
    parts = re.findall(r"<text[^>]*>(.*?)</text>", svg)
    return "".join(html.unescape(part).replace("\xa0", " ") for part in parts)


def line_text(widget: MessageList, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


def browser(app: App[Any]) -> MessageBrowserScreen:
    assert isinstance(app.screen, MessageBrowserScreen), app.screen
    return app.screen


def subjects(widget: MessageList) -> list[str]:
    rows = [widget.source.get(index) for index in range(widget.total)]
    return [row.subject for row in rows if row is not None]


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def open_third_message(pilot: Pilot[Any]) -> Any:
    """The screen after opening the list's third row (the lunch message) and letting it load."""
    await pilot.pause()
    await pilot.press("down", "down", "enter")
    await settle(pilot)
    return pilot.app.screen


# ------------------------------------------------------------------------------ list


async def test_list_shows_the_active_mailbox_newest_first(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        widget = browser(app).message_list
        assert widget.total == 4
        assert subjects(widget)[1:] == ["Invoice attached", "Lunch on Friday", "Quarterly report"]
        text = screen_text(app)
        assert "Work <work@example.com>" in text and "4 messages" in text
        assert text.index("Invoice attached") < text.index("Lunch on Friday")
        assert text.index("Lunch on Friday") < text.index("Quarterly report")
        assert "1 of 4" in text
        invoice_line = line_text(widget, 2)
        assert "Invoice attached" in invoice_line and "Billing" in invoice_line
        assert invoice_line.startswith(" + ")  # the attachment mark
        assert "2025-03-13 09:30" in invoice_line
        await pilot.press("down")
        assert widget.cursor == 1
        assert widget.highlighted_row is not None
        assert widget.highlighted_row.id == mailboxes["ids"]["invoice"]
        await pilot.press("G")
        assert widget.cursor == 3 and "4 of 4" in screen_text(app)
        await pilot.press("g")
        assert widget.cursor == 0


async def test_hostile_subject_and_sender_render_literally(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        widget = browser(app).message_list
        first = line_text(widget, 1)
        assert "[@click=app.quit] Free money now" in first
        assert "Evil" in first
        for char in "\x1b\x07\u202e":
            assert char not in first
        assert "[@click=app.quit] Free money now" in screen_text(app)
        await pilot.click(MessageList, offset=(40, 1))  # clicking the text runs no action
        await pilot.pause()
        assert app.is_running and app.return_code is None
        await pilot.press("enter")
        await settle(pilot)
        reader = app.screen
        assert isinstance(reader, MessageReaderScreen)
        headers = str(reader.query_one("#reader-headers", Static).render())
        assert "[@click=app.quit] Free money now" in headers
        assert "\x1b" not in headers and "\u202e" not in headers
        body = reader.query_one("#reader-body", TextArea).text
        assert "Click [@click=app.quit]here[/]  to win." in body
        assert "ZXZpbA" not in body
        assert app.is_running


async def test_enter_opens_the_reader_and_escape_comes_back(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        reader = await open_third_message(pilot)
        assert isinstance(reader, MessageReaderScreen)
        assert reader.message_id == mailboxes["ids"]["lunch"]
        text = screen_text(app)
        assert "Lunch on Friday" in text and "Bo <bo@example.com>" in text
        assert reader.query_one("#reader-body", TextArea).text.strip() == "Pizza?"
        assert not reader.query_one("#reader-attachments", OptionList).display
        await pilot.press("escape")
        await pilot.pause()
        assert browser(app).message_list.cursor == 2


async def test_search_narrows_and_escape_restores(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        screen = browser(app)
        await pilot.press("down", "down", "down")
        await pilot.press("slash")
        await pilot.pause()
        search = screen.query_one("#message-search", Input)
        assert search.display and app.focused is search
        await pilot.press(*"lunch", "enter")
        await settle(pilot)
        assert screen.search_text == "lunch"
        assert subjects(screen.message_list) == ["Lunch on Friday"]
        assert cast(Widget | None, app.focused) is screen.message_list
        assert "1 found for “lunch”" in screen_text(app)
        await pilot.press("enter")  # results open like the list
        await settle(pilot)
        assert isinstance(app.screen, MessageReaderScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # clears the search
        await pilot.pause()
        assert screen.search_text == ""
        assert not search.display
        assert screen.message_list.total == 4
        assert screen.message_list.cursor == 3  # back where the search started
        await pilot.press("slash", *"sender-body-nowhere", "enter")
        await settle(pilot)
        assert screen.message_list.total == 0
        assert "Nothing found for “sender-body-nowhere”." in screen_text(app)
        await pilot.press("escape", "slash", *"half typed", "escape")  # escape while typing
        await pilot.pause()
        assert not search.display and search.value == ""
        assert screen.message_list.total == 4 and app.focused is screen.message_list


async def test_search_finds_bodies_once_indexed(mailboxes: dict[str, Any], downloads: Path) -> None:
    message_query.index_all_bodies()
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"pizza", "enter")
        await settle(pilot)
        assert subjects(browser(app).message_list) == ["Lunch on Friday"]
        assert "not indexed yet" not in screen_text(app)


async def test_delete_here_asks_then_marks_the_message(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    lunch = mailboxes["ids"]["lunch"]
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        widget = browser(app).message_list
        await pilot.press("down", "down", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteHereDialog)
        assert "deleted at the next fetch" in screen_text(app)  # the account's delete setting
        await pilot.press("escape")
        await pilot.pause()
        assert not Message.get_by_id(lunch).deleted_here
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        deleted = Message.get_by_id(lunch)
        assert deleted.deleted_here and deleted.deleted_here_at is not None
        assert widget.total == 3
        assert "Lunch on Friday" not in subjects(widget)
        assert widget.cursor == 2
        assert widget.highlighted_row is not None
        assert widget.highlighted_row.id == mailboxes["ids"]["report"]


async def test_m_switches_to_another_mailbox(mailboxes: dict[str, Any], downloads: Path) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MailboxPickerDialog)
        text = screen_text(app)
        assert "Home" in text and "Work" in text and "● active" in text
        await pilot.press("up", "enter")  # Home sorts before Work
        await pilot.pause()
        screen = browser(app)
        assert screen.account_id == mailboxes["home"].id
        assert subjects(screen.message_list) == ["Holiday photos"]
        assert "Home <home@example.com>" in screen_text(app)
        assert Account.get_by_id(mailboxes["work"].id).is_active  # browsing is not activating


async def test_save_attachment_writes_the_file(mailboxes: dict[str, Any], downloads: Path) -> None:
    (downloads / "invoice.pdf").write_bytes(b"an older download")
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "enter")
        await settle(pilot)
        reader = app.screen
        assert isinstance(reader, MessageReaderScreen)
        options = reader.query_one("#reader-attachments", OptionList)
        assert options.display and options.option_count == 1
        assert "invoice.pdf" in screen_text(app)
        await pilot.press("s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SaveAttachmentDialog)
        assert dialog.query_one("#save-path", Input).value == str(downloads)
        await pilot.press("enter")
        await pilot.pause()
        assert reader.saved == [downloads / "invoice (1).pdf"]
        assert (downloads / "invoice (1).pdf").read_bytes() == PDF
        assert (downloads / "invoice.pdf").read_bytes() == b"an older download"
        # a bad folder is explained, not crashed on
        reader.save_to(reader._raw or b"", 0, str(downloads / "missing" / "x.pdf"))
        await pilot.pause()
        assert any("does not exist" in str(n.message) for n in app._notifications)


async def test_the_dialog_buttons_answer_by_mouse(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    lunch = mailboxes["ids"]["lunch"]
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "d")
        await pilot.pause()
        await pilot.click("#delete-cancel")
        await pilot.pause()
        assert isinstance(app.screen, MessageBrowserScreen)
        assert not Message.get_by_id(lunch).deleted_here
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#delete-here")
        await pilot.pause()
        assert isinstance(app.screen, MessageBrowserScreen)
        assert Message.get_by_id(lunch).deleted_here

        await pilot.press("g", "down", "enter")  # the invoice, with its attachment
        await settle(pilot)
        reader = app.screen
        assert isinstance(reader, MessageReaderScreen)
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#save-cancel")
        await pilot.pause()
        assert app.screen is reader and reader.saved == []
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#save")
        await pilot.pause()
        assert app.screen is reader
        assert reader.saved == [downloads / "invoice.pdf"]


async def test_a_failed_search_is_said_and_the_list_stays(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    """A database the search cannot read (here: a column renamed under it) is reported."""
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        Message._meta.database.execute_sql(
            "ALTER TABLE message RENAME COLUMN body_indexed TO body_indexed_elsewhere"
        )
        await pilot.press("slash", *"lunch", "enter")
        await settle(pilot)
        screen = browser(app)
        assert app.is_running and screen.search_text == ""
        assert screen.message_list.total == 4
        notices = [str(n.message) for n in app._notifications]
        assert any(n.startswith("Search failed: ") and "body_indexed" in n for n in notices)


async def test_a_message_gone_before_reading_is_explained(
    mailboxes: dict[str, Any], downloads: Path
) -> None:
    app = BrowserApp(downloads)
    lunch = mailboxes["ids"]["lunch"]
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        MessageSource.delete().where(MessageSource.message == lunch).execute()
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        reader = app.screen
        assert isinstance(reader, MessageReaderScreen) and reader.rendered is None
        headers = str(reader.query_one("#reader-headers", Static).render())
        assert headers == f"This message cannot be shown: Message {lunch} is no longer stored."


async def test_a_damaged_message_file_is_explained_not_crashed_on(
    mailboxes: dict[str, Any], downloads: Path, database: Any
) -> None:
    """The lunch message's bytes moved into its segment file (as a fetch stores them), then
    the file cut short: the reader says what is wrong and what to do; the app goes on."""
    lunch = mailboxes["ids"]["lunch"]
    raw = message_query.load_source(lunch)
    account_id = int(Message.get_by_id(lunch).account.id)
    files = SourceFiles.for_database(database)
    assert files is not None
    number, offset = files.append(account_id, raw)
    files.sync()
    MessageSource.update(
        raw=b"", file_segment=number, file_offset=offset, file_length=len(raw)
    ).where(MessageSource.message == lunch).execute()
    assert message_query.load_source(lunch) == raw  # read from the file now
    os.truncate(files.root / f"a{account_id}" / f"{number:06d}.seg", offset + len(raw) - 5)
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        reader = await open_third_message(pilot)
        assert isinstance(reader, MessageReaderScreen) and reader.rendered is None
        headers = str(reader.query_one("#reader-headers", Static).render())
        assert headers.startswith("This message cannot be shown: The stored copy in ")
        assert "is damaged: the file ends 5 bytes before the message does" in headers
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MessageBrowserScreen)  # and the app goes on


async def test_no_mailbox_explains_what_to_do(database: Any, downloads: Path) -> None:
    app = BrowserApp(downloads)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        assert "No mailbox chosen: press m to pick one." in screen_text(app)
        await pilot.press("slash")
        await pilot.pause()
        assert not browser(app).search_input.display


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    for owner in (
        MessageBrowserScreen,
        MessageList,
        MessageReaderScreen,
        ConfirmDeleteHereDialog,
        MailboxPickerDialog,
        SaveAttachmentDialog,
    ):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.id and binding.tooltip and binding.description, (owner, binding)


# ------------------------------------------------------------------------------ the row window


def test_the_row_window_returns_every_position_right(database: Any) -> None:
    work = make_account("Work", active=True)
    insert_many(work, 1000)
    expected = [row.id for row in message_query.first_page(MailboxView(work.id), 1000)]
    rows = MailboxRows(MailboxView(work.id), page_size=50, max_pages=3)
    rows.reload()
    order = [*range(1000), *reversed(range(1000)), 500, 10, 990, 400, 401, 399, 0, 999, 620]
    for index in order:
        row = rows.get(index)
        assert row is not None and row.id == expected[index], index
        assert rows.held <= 150
    assert rows.get(1000) is None and rows.get(-1) is None
    assert rows.queries < 60  # pages, not rows


def test_the_row_window_survives_mail_arriving_meanwhile(database: Any) -> None:
    work = make_account("Work", active=True)
    insert_many(work, 300)
    rows = MailboxRows(MailboxView(work.id), page_size=50, max_pages=3)
    rows.reload()
    before = [row.id for row in message_query.first_page(MailboxView(work.id), 300)]
    assert rows.get(200) is not None
    newer = store_raw(work, mail("Brand new", "N <n@example.com>", NOW, "new"), uidl="new")
    for index in reversed(range(201)):  # walk up to the top through keyset pages
        row = rows.get(index)
        assert row is not None and row.id == before[index], index
    rows.reload()
    first = rows.get(0)
    assert rows.total == 301 and first is not None and first.id == newer


# ------------------------------------------------------------------------------ 100,000 messages


def insert_many(account: Account, count: int) -> None:
    """`count` messages in one transaction, straight through executemany."""
    start = datetime(2020, 1, 1)
    rows = [
        (
            account.id,
            f"u{number}",
            2000 + number % 5000,
            f"Sender {number % 997} <s{number % 997}@example.com>",
            "work@example.com",
            f"Subject number {number}",
            str(start + timedelta(minutes=number)),
            number % 10 == 0,
            str(NOW),
            str(NOW),
        )
        for number in range(count)
    ]
    db = Message._meta.database
    with db.atomic():
        db.cursor().executemany(
            "INSERT INTO message (account_id, uidl, size, from_addr, to_addrs, subject, date,"
            " has_attachments, first_seen_at, fetched_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


async def test_100k_messages_open_and_jump_without_loading_them_all(
    database: Any, downloads: Path
) -> None:
    work = make_account("Work", active=True)
    insert_many(work, 100_000)
    app = BrowserApp(downloads)
    limit = MAX_PAGES * PAGE_SIZE
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - started
        widget = browser(app).message_list
        assert widget.total == 100_000
        assert "Subject number 99999" in line_text(widget, 1)
        assert widget.held_rows <= limit
        await pilot.press("end")
        await pilot.pause()
        assert widget.cursor == 99_999
        assert widget.highlighted_row is not None
        assert widget.highlighted_row.subject == "Subject number 0"
        assert "Subject number 0" in screen_text(app)
        assert "100,000 of 100,000" in screen_text(app)
        assert widget.held_rows <= limit
        await pilot.press("pageup", "pageup", "up")
        step = widget.scrollable_content_region.height - 1  # rows under the column header
        assert widget.highlighted_row is not None
        assert widget.highlighted_row.subject == f"Subject number {2 * step + 1}"
        widget.scroll_to(y=50_000, animate=False)  # like dragging the scrollbar
        await pilot.pause()
        assert f"Subject number {100_000 - 1 - 50_000}" in line_text(widget, 1)
        assert widget.held_rows <= limit
        for _ in range(3):  # walk over page edges both ways
            await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        await pilot.press("home")
        await pilot.pause()
        assert widget.cursor == 0 and "Subject number 99999" in line_text(widget, 1)
        assert widget.held_rows <= limit
        assert widget.source.queries < 20  # type: ignore[attr-defined]
    assert opened < 5.0, f"opening 100,000 messages took {opened:.2f} s"
