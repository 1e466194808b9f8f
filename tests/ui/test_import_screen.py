"""The Import screen: reached from the mailbox list's command palette, lists the setups in the
usual places, previews a dry run (nothing changes), imports on the button, words a broken file
with its line, and shows names from a stranger's file as plain text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, OptionList, Static

from tests.ui.conftest import AppFactory, disable_cursor_blink, type_text
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.storage.models import Account, ImportedUidl
from tui.screens.import_screen import ImportScreen
from tui.screens.mailbox_list import MailboxListScreen

SnapCompare = Callable[..., bool]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("FETCHMAILHOME", raising=False)
    rc = home / ".fetchmailrc"
    rc.write_text(
        'poll "Work\x1b[2J" via pop.example.com proto pop3 user "ana" there with password "pw1" '
        "is ana here options keep ssl fetchlimit 50\n"
        'poll pop.other.example user "bo" there with password "pw2" is bo here mda "procmail"\n'
    )
    rc.chmod(0o644)  # others may read it: the preview warns
    (home / ".fetchids").write_text("ana@pop.example.com U1\nana@pop.example.com U2\n")
    mpoprc = home / ".mpoprc"
    mpoprc.write_text("account a\nhost h\nport ninety\n")
    yield home


def preview(app: Any) -> str:
    return str(app.screen.query_one("#import-preview", Static).render())


async def open_import(pilot: Pilot[Any]) -> ImportScreen:
    await pilot.pause()
    await pilot.press("ctrl+p")
    await pilot.pause()
    await type_text(pilot, "import")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ImportScreen)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_preview_then_import_then_back(
    home: Path, app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_import(pilot)
        sources = screen.query_one("#import-sources", OptionList)
        assert sources.option_count == 2  # fetchmail and mpop; nothing else in this home
        text = preview(app)
        assert "+ Work: would be created" in text  # the escape sequence is gone
        assert "clear text in ~/.fetchmailrc; would go to the secret store" in text
        assert "others can read it (mode 0644)" in text
        assert "could not be mapped" in text and "procmail" in text
        assert "\x1b" not in text
        assert Account.select().count() == 0  # a preview changes nothing
        button = screen.query_one("#import-button", Button)
        assert not button.disabled

        await pilot.click("#import-button")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Created 2 mailboxes, stored 2 passwords, filed 2" in preview(app)
        assert button.disabled  # done: pressing again would import nothing new anyway
        ana = Account.get(Account.username == "ana")
        assert secrets.get(ana.secret_key, SecretKind.INCOMING) == "pw1"
        assert ana.max_messages_per_fetch == 50
        assert {u.uidl for u in ImportedUidl.select()} == {"U1", "U2"}

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)


async def test_a_broken_setup_is_worded_with_its_line(home: Path, app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_import(pilot)
        await pilot.press("down")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "~/.mpoprc:3: port 'ninety' is not a number" in preview(app)
        assert screen.query_one("#import-button", Button).disabled


async def test_nothing_found_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_factory: AppFactory
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty" / ".config"))
    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_import(pilot)
        assert "No fetchmail, getmail, mpop or Thunderbird setup was found" in preview(app)


@pytest.mark.parametrize("size", [pytest.param((100, 32), id="100x32")])
def test_import_screen_snapshot(
    home: Path, snap_compare: SnapCompare, app_factory: AppFactory, size: tuple[int, int]
) -> None:
    app = app_factory()

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_import(pilot)
        disable_cursor_blink(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
