"""Small things a user sees every day (issue #10, item 5), driven through the real app.

Where the cursor starts, what survives a 60x20 terminal, where notices go, how a focused
button looks, whether the help scrolls to its end, and the certificate dialog's names.
"""

from __future__ import annotations

import dataclasses

import pytest
from textual.color import Color
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.message import Message as TextualMessage
from textual.notifications import Notify
from textual.widgets import Button, Footer, Static
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast
from textual.widgets.data_table import ColumnKey

from tests.ui.conftest import (
    AppFactory,
    FakeOutgoingTester,
    FakeTester,
    add_account,
    add_sample_accounts,
    certificate,
    replace_text,
)
from tests.ui.test_account_form import fill_basic_form, open_add_form, press_test_and_save
from tui.app import PoptuiApp
from tui.screens.account_form import AccountFormScreen
from tui.screens.dialogs import CertificateTrustDialog, certificate_names
from tui.screens.mailbox_list import MailboxListScreen
from tui.services import TestResult
from tui.widgets.mailbox_table import MailboxTable

SIZES = [
    pytest.param((60, 20), id="60x20"),
    pytest.param((80, 24), id="80x24"),
    pytest.param((120, 40), id="120x40"),
]


def inside(inner: Region, outer: Region) -> bool:
    return outer.contains_region(inner)


async def test_cursor_starts_on_the_active_mailbox(app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Alpha", "a@example.com")
    add_account("Beta", "b@example.com", activate=True)
    add_account("Gamma", "c@example.com")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MailboxTable)
        assert table.highlighted is not None and table.highlighted.name == "Beta"
        # Later reloads keep the cursor where the user put it.
        await pilot.press("down")
        app.screen.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        assert table.highlighted is not None and table.highlighted.name == "Gamma"


@pytest.mark.parametrize("size", SIZES)
async def test_every_state_stays_visible(app_factory: AppFactory, size: tuple[int, int]) -> None:
    app = app_factory()
    add_sample_accounts()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MailboxTable)
        assert {"name", "state"} <= set(table.columns_shown)
        assert table.virtual_size.width <= table.region.width, "no column is off screen"
        states = [table.get_row_at(index)[-1].plain for index in range(table.row_count)]
        assert [state.split(":")[0] for state in states] == ["⊘ disabled", "✗ error", "✓ ok"]
        state_width = table.columns[ColumnKey("state")].width
        assert state_width >= len("· never fetched")


async def test_columns_give_way_by_priority(app_factory: AppFactory) -> None:
    app = app_factory()
    add_sample_accounts()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(MailboxTable)
        assert list(table.columns_shown) == [
            "active",
            "name",
            "address",
            "server",
            "last",
            "new",
            "state",
        ]
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert list(table.columns_shown) == ["active", "name", "address", "last", "new", "state"]
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert list(table.columns_shown) == ["active", "name", "last", "new", "state"]
        await pilot.resize_terminal(36, 20)
        await pilot.pause()
        assert list(table.columns_shown) == ["name", "state"]


@pytest.mark.parametrize("size", SIZES)
async def test_footer_keeps_the_daily_keys(app_factory: AppFactory, size: tuple[int, int]) -> None:
    app = app_factory()
    add_sample_accounts()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        shown = {
            key.key
            for key in footer.query(FooterKey)
            if key.region.width and inside(key.region, app.screen.region)
        }
        assert {"a", "s", "f", "o", "f1"} <= shown
        assert footer.show_command_palette is (size[0] >= 80)


@pytest.mark.parametrize("size", SIZES)
async def test_dialog_buttons_are_not_cut(app_factory: AppFactory, size: tuple[int, int]) -> None:
    app = app_factory()
    add_account("Work", "ana@example.com", messages=5, activate=True)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        dialog = app.screen.query_one("#delete-dialog")
        buttons = list(app.screen.query(Button))
        assert [button.id for button in buttons] == ["keep-mail", "drop-mail", "cancel"]
        for button in buttons:
            label = str(button.label)
            assert button.region.width >= len(label), label
            assert inside(button.region, dialog.region), label


async def test_focused_button_is_clearly_marked(app_factory: AppFactory) -> None:
    """The focused button is a bar in the text colour, whatever its variant."""
    app = app_factory()
    add_account("Work", "ana@example.com", messages=5, activate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        foreground = Color.parse(app.theme_variables["foreground"])
        for _ in range(3):
            focused = app.focused
            assert isinstance(focused, Button)
            for button in app.screen.query(Button):
                marked = button.styles.background.rgb == foreground.rgb
                assert marked is (button is focused), button.id
            await pilot.press("tab")
            await pilot.pause()


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_notices_do_not_cover_the_table(
    app_factory: AppFactory, size: tuple[int, int]
) -> None:
    app = app_factory()
    add_sample_accounts()
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.pause()
        app.screen.query_one(MailboxTable).focus()
        await pilot.press("s")  # Work is already active: an informational notice
        await pilot.pause()
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        assert toasts
        table = app.screen.query_one(MailboxTable)
        for toast in toasts:
            assert toast.region.height <= 3
            assert not toast.region.overlaps(table.region)


@pytest.mark.parametrize("size", SIZES)
async def test_help_scrolls_to_its_last_line(
    app_factory: AppFactory, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        body = app.screen.query_one("#help-body", VerticalScroll)
        footnote = app.screen.query_one("#help-footnote", Static)
        await pilot.press(*["down"] * (body.virtual_size.height + 2))
        await pilot.pause()
        assert body.scroll_y == body.max_scroll_y
        assert inside(footnote.region, body.region)
        assert footnote.region.height == footnote.virtual_region.height


def test_certificate_names_once() -> None:
    cert = dataclasses.replace(
        certificate(),
        subject="CN=mail.example.test",
        san=("mail.example.test", "MAIL.example.test", "alt.example.test", "mail.example.test"),
    )
    assert certificate_names(cert) == ["mail.example.test", "alt.example.test"]
    no_san = dataclasses.replace(cert, subject="O=Example,CN=only.example.test", san=())
    assert certificate_names(no_san) == ["only.example.test"]


async def test_certificate_dialog_lists_each_name_once(app_factory: AppFactory) -> None:
    app = app_factory()
    cert = dataclasses.replace(
        certificate(), san=("mail.example.test", "Mail.Example.Test", "mail.example.test")
    )
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app, PoptuiApp)
        app.push_screen(CertificateTrustDialog(cert, host="mail.example.test", port=995))
        await pilot.pause()
        details = str(app.screen.query_one("#certificate-details", Static).render())
        # Once as a name; the issuer line (self-signed) is another fact and stays.
        names_and_subject = [line for line in details.splitlines() if "Issuer" not in line]
        assert sum(line.lower().count("mail.example.test") for line in names_and_subject) == 2
        assert "Names       mail.example.test" in details
        assert "Subject" not in details


def notices(seen: list[TextualMessage]) -> list[str]:
    return [str(m.notification.message) for m in seen if isinstance(m, Notify)]


@pytest.mark.parametrize("incoming_ok", [True, False], ids=["incoming-passed", "all-failed"])
async def test_save_anyway_says_what_was_tested(
    app_factory: AppFactory,
    tester: FakeTester,
    outgoing_tester: FakeOutgoingTester,
    incoming_ok: bool,
) -> None:
    """ "Saved without a successful test" only when no test passed: after the incoming login
    passed and only the outgoing check failed, the notice says so."""
    if not incoming_ok:
        tester.results = [TestResult(False, "Password rejected by pop.example.net.")]
    outgoing_tester.results = [TestResult(False, "Could not connect to smtp.example.net:465.")]
    app = app_factory()
    seen: list[TextualMessage] = []
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await replace_text(pilot, "#outgoing-host", "smtp.example.net")
        await press_test_and_save(pilot)
        assert isinstance(app.screen, AccountFormScreen)
        assert bool(outgoing_tester.calls) is incoming_ok
        await pilot.click("#save-anyway")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        saved = next(text for text in notices(seen) if text.startswith("Added Work"))
        if incoming_ok:
            assert "without a successful test" not in saved
            assert "the incoming server passed its test" in saved
        else:
            assert "Saved without a successful test." in saved
