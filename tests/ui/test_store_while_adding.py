"""Adding a mailbox while no password store is open (the setup or the passphrase dialog was
escaped at start): the typed password is never thrown away. Test & save asks for a store
first; escaping that keeps the form and the password; choosing one saves both."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.ui.conftest import OWNER, open_form, replace_text, store, type_text
from tests.ui.test_secret_store_setup import (
    MAIL_PASSWORD,
    PASSPHRASE,
    Build,
    build,
    secrets_file,
    text_of,
    wait_for_screen,
)
from tui.core.secrets import EncryptedFileStore, SecretKind, StoreChoice, UnavailableStore
from tui.core.secrets.setup import save_store_choice
from tui.core.storage.accounts import AccountNotFound
from tui.screens.account_form import AccountFormScreen
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.passphrase_dialog import PassphraseDialog
from tui.screens.secret_store_setup import SecretStoreSetupScreen
from tui.screens.store_prompt import STORE_STILL_MISSING

__all__ = ["build", "secrets_file"]  # the fixtures


async def fill_form(pilot: object) -> None:
    await replace_text(pilot, "#name", "Work")  # type: ignore[arg-type]
    await replace_text(pilot, "#email", "ana@example.net")  # type: ignore[arg-type]
    await replace_text(pilot, "#incoming-host", "pop.example.net")  # type: ignore[arg-type]
    await replace_text(pilot, "#password", MAIL_PASSWORD)  # type: ignore[arg-type]


def saved_names() -> list[str]:
    return [account.name for account in store().list()]


async def test_escaped_store_setup_keeps_the_typed_password_until_a_store_exists(
    build: Build, secrets_file: Path
) -> None:
    app = build()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        await pilot.press("escape")  # "later": the user adds a mailbox first
        await wait_for_screen(pilot, MailboxListScreen)
        assert isinstance(app.services.secrets, UnavailableStore)

        await open_form(pilot, "a")
        await fill_form(pilot)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, AccountFormScreen)
        form = app.screen
        assert form.query_one("#password", Input).value == MAIL_PASSWORD
        assert STORE_STILL_MISSING in text_of(app, "#form-status")
        assert saved_names() == []

        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, SecretStoreSetupScreen)
        await pilot.press("enter")  # use the encrypted file offered
        await wait_for_screen(pilot, PassphraseDialog)
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for_screen(pilot, AccountFormScreen)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, MailboxListScreen)
        assert saved_names() == ["Work"]
    account = store().get("Work")
    reopened = EncryptedFileStore(secrets_file, PASSPHRASE)
    assert reopened.get(account.secret_key, SecretKind.INCOMING) == MAIL_PASSWORD


async def test_locked_file_asks_its_passphrase_before_saving_and_then_saves(
    build: Build, secrets_file: Path
) -> None:
    app = build()
    EncryptedFileStore(secrets_file, PASSPHRASE).unlock()
    save_store_choice(StoreChoice("cryptfile", path=str(secrets_file)), OWNER)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_screen(pilot, PassphraseDialog)
        await pilot.press("escape")
        await wait_for_screen(pilot, MailboxListScreen)

        await open_form(pilot, "a")
        await fill_form(pilot)
        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, PassphraseDialog)
        await pilot.press("escape")
        await wait_for_screen(pilot, AccountFormScreen)
        assert app.screen.query_one("#password", Input).value == MAIL_PASSWORD
        assert saved_names() == []

        await pilot.press("ctrl+t")
        await wait_for_screen(pilot, PassphraseDialog)
        await type_text(pilot, PASSPHRASE)
        await pilot.press("enter")
        await wait_for_screen(pilot, MailboxListScreen)
        assert saved_names() == ["Work"]
    try:
        account = store().get("Work")
    except AccountNotFound as error:
        raise AssertionError("not saved") from error
    reopened = EncryptedFileStore(secrets_file, PASSPHRASE)
    assert reopened.get(account.secret_key, SecretKind.INCOMING) == MAIL_PASSWORD
