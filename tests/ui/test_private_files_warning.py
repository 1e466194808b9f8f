"""The app says at start when others may read the database, and fixes it from the palette."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.ui.conftest import AppFactory
from tui.core.storage.db import open_database
from tui.screens.mailbox_list import MailboxListScreen


def _warnings(app: object) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == "File permissions"]  # type: ignore[attr-defined]


async def test_a_readable_database_is_reported_and_fixed_from_the_palette(
    app_factory: AppFactory, db_path: Path
) -> None:
    open_database(f"sqlite:///{db_path}").close()
    os.chmod(db_path, 0o644)
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        (warning,) = _warnings(app)
        assert str(db_path) in warning and "poptui doctor --fix-permissions" in warning
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Fix file permissions")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        assert any("private now" in str(n.message) for n in app._notifications)


async def test_private_files_start_quietly(app_factory: AppFactory, db_path: Path) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        assert _warnings(app) == []
        screen = app.screen
        assert isinstance(screen, MailboxListScreen)
        assert "Fix file permissions" not in [c.title for c in screen.palette_commands()]
