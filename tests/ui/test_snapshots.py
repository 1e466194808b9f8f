"""SVG snapshots of the main screens at 80x24 (the SSH default) and 120x40 (and 60x20).

Fixed clock, fixed sample data, no cursor blink. Regenerate after a deliberate change with
`pytest tests/ui/test_snapshots.py --snapshot-update` and look at the SVGs before accepting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.ui.conftest import (
    AppFactory,
    add_account,
    add_sample_accounts,
    certificate,
    disable_cursor_blink,
    open_form,
)
from tui.app import PoptuiApp
from tui.screens.dialogs import CertificateTrustDialog

SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
LIST_SIZES = [pytest.param((60, 20), id="60x20"), *SIZES]
"""The mailbox list and the add form are also pictured at 60x20: columns give way, the footer
keeps its keys, the form's labels and buttons fit."""


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()


@pytest.mark.parametrize("size", LIST_SIZES)
def test_mailbox_list_empty(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    assert snap_compare(app_factory(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", LIST_SIZES)
def test_mailbox_list_three_accounts(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    """Active and fine, failing, and disabled; the cursor on the failing one shows its reason.

    The cursor starts on the active mailbox (Work, last by name); up moves it to Personal."""
    app = app_factory()
    add_sample_accounts()

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("up")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", LIST_SIZES)
def test_account_form_add_empty(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await open_form(pilot, "a")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_account_form_gmail_filled(
    snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    """After typing a Gmail address: what was filled in, the advice, and an inline error."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_form(pilot, "a")
        screen = pilot.app.screen
        screen.query_one("#name", Input).value = "Personal"
        screen.query_one("#email", Input).focus()
        await pilot.pause()
        screen.query_one("#email", Input).value = "ana.lima@gmail.com"
        await pilot.press("tab")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=size, run_before=run_before)


def test_account_form_edit_with_errors(snap_compare: SnapCompare, app_factory: AppFactory) -> None:
    """Editing: prefilled fields, empty passwords meaning unchanged, messages beside fields."""
    app = app_factory()
    add_account("Work", "ana@example.com", activate=True)

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_form(pilot, "e")
        screen = pilot.app.screen
        screen.query_one("#incoming-port", Input).value = "99999"
        screen.query_one("#incoming-host", Input).value = "pop.example.com:995"
        await pilot.press("ctrl+t")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_certificate_dialog(snap_compare: SnapCompare, app_factory: AppFactory) -> None:
    app = app_factory()

    async def run_before(pilot: Pilot[Any]) -> None:
        assert isinstance(pilot.app, PoptuiApp)
        pilot.app.push_screen(
            CertificateTrustDialog(certificate(), host="mail.example.test", port=995)
        )
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_delete_dialog(snap_compare: SnapCompare, app_factory: AppFactory) -> None:
    app = app_factory()
    add_account("Work", "ana@example.com", messages=5, activate=True)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("d")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare: SnapCompare, app_factory: AppFactory) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=run_before)
