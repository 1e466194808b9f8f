"""The mailbox list, driven by keys: empty state, switching, deleting, help, palette, verbs."""

from __future__ import annotations

from typing import cast

from textual.message import Message as TextualMessage
from textual.widgets import Static

from tests.ui.conftest import (
    AppFactory,
    add_account,
    add_sample_accounts,
    store,
    type_text,
)
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.storage.models import Account, Message
from tui.messages import FetchRequested, MessagesRequested
from tui.screens.dialogs import ConfirmDeleteDialog
from tui.screens.help import HelpScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.widgets.mailbox_table import MailboxTable


def static_text(app: object, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)  # type: ignore[attr-defined]
    return str(widget.render())


async def test_empty_state_explains_how_to_start(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = static_text(app, "#empty-state")
        assert "No mailboxes yet" in text
        assert "press a to add one" in text
        assert "poptui account add" in text
        assert not app.screen.query_one(MailboxTable).display


async def test_list_shows_every_mailbox_with_state_and_active_marker(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    add_sample_accounts()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MailboxTable)
        rows = {row.name: row for row in table.rows_shown}
        assert set(rows) == {"Work", "Personal", "Old ISP"}
        cells = {
            table.get_row_at(index)[1].plain: [cell.plain for cell in table.get_row_at(index)]
            for index in range(table.row_count)
        }
        assert cells["Work"][0] == "● active"
        assert cells["Personal"][0] == ""
        assert "4 min ago" in cells["Work"]
        assert any(cell.startswith("✗ error: Password rejected") for cell in cells["Personal"])
        assert any(
            cell.startswith("⊘ disabled: 50 failed connections") for cell in cells["Old ISP"]
        )
        assert "pop.gmail.com:995" in cells["Personal"]
        table.move_cursor(row=0)  # the cursor starts on the active mailbox; look at Old ISP
        await pilot.pause()
        assert "pop3.oldisp.example:995 (SSL/TLS)" in static_text(app, "#mailbox-detail")
        assert "● active: Work" in static_text(app, "#active-summary")


async def test_one_key_switches_the_active_mailbox(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Alpha", "a@example.com", activate=True)
    add_account("Beta", "b@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "s")
        await pilot.pause()
        assert cast(Account, store().active()).name == "Beta"
        assert not Account.get(Account.name == "Alpha").is_active
        table = app.screen.query_one(MailboxTable)
        assert table.highlighted is not None and table.highlighted.name == "Beta"
        assert table.get_row_at(1)[0].plain == "● active"

        await pilot.press("up", "space")
        await pilot.pause()
        assert cast(Account, store().active()).name == "Alpha"


async def test_delete_keeping_fetched_mail_archives_the_account(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    account = add_account("Work", "w@example.com", messages=3)
    secrets.set(account.secret_key, SecretKind.INCOMING, "pw")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeleteDialog)
        assert "3 fetched messages" in static_text(app, "#delete-text")
        await pilot.press("k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert store().list() == []
        archived = Account.get_by_id(account.id)
        assert archived.archived_at is not None
        assert Message.select().where(Message.account == account.id).count() == 3
        assert secrets.get(account.secret_key, SecretKind.INCOMING) is None
        assert app.screen.query_one("#empty-state").display


async def test_delete_dropping_fetched_mail_removes_everything(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Keep me", "k@example.com", activate=True)
    account = add_account("Zap me", "z@example.com", messages=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down", "d")
        await pilot.pause()
        await pilot.click("#drop-mail")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [a.name for a in store().list()] == ["Keep me"]
        assert Account.get_or_none(Account.id == account.id) is None
        assert Message.select().count() == 0
        table = app.screen.query_one(MailboxTable)
        assert table.highlighted is not None and table.highlighted.name == "Keep me"


async def test_delete_can_be_cancelled(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Work", "w@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("enter")  # the focused button is Cancel
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert store().names() == ["Work"]


async def test_help_opens_with_f1_and_question_mark(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(str(w.render()) for w in app.screen.query(".help-row Static"))
        assert "Make active" in text
        assert "s, space" in text
        assert "Test & save" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_fetch_and_open_keys_post_requests(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Work", "w@example.com")
    seen: list[TextualMessage] = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await pilot.pause()
        await pilot.press("f", "enter")
        await pilot.pause()
        fetches = [m for m in seen if isinstance(m, FetchRequested)]
        opens = [m for m in seen if isinstance(m, MessagesRequested)]
        assert fetches and fetches[0].account_name == "Work"
        assert opens and opens[0].account_name == "Work"
        from tui.screens.message_browser import MessageBrowserScreen

        assert isinstance(app.screen, MessageBrowserScreen)


async def test_command_palette_switches_the_active_mailbox(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Alpha", "a@example.com", activate=True)
    add_account("Beta", "b@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "switch active mailbox beta")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert cast(Account, store().active()).name == "Beta"


async def test_untrusted_names_render_literally(app_factory: AppFactory) -> None:
    """Markup, escape sequences and bidi overrides in stored names are shown, not obeyed."""
    app = app_factory()
    add_account("[b]x[/b]\x1b[31m", "a@example.com", activate=True)
    add_account("[@click=app.quit]\u202egnp.exe", "b@example.com")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MailboxTable)
        names = [table.get_row_at(index)[1].plain for index in range(table.row_count)]
        assert names == ["[@click=app.quit]gnp.exe", "[b]x[/b]"]
        assert "[b]x[/b]" in static_text(app, "#active-summary")
        table.move_cursor(row=0)  # from the active mailbox to the hostile name
        await pilot.pause()
        assert "[@click=app.quit]gnp.exe" in static_text(app, "#mailbox-detail")
        await pilot.click("#mailbox-detail", offset=(2, 0))
        await pilot.pause()
        assert app.is_running
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot
        assert "\u202e" not in screenshot
