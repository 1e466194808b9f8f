"""The app's sign-in: p on an OAuth2 mailbox, Ctrl+G "Sign in again", the device code shown
large and copyable, the test approving as the person at the real authlib server; the browser
flow with its address pasted back; Esc cancels and saves nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.servers.oauth_server import CLIENT_ID, OAuthServer
from tests.ui.centring import assert_centred
from tests.ui.conftest import AppFactory, replace_text, store
from tests.ui.test_password_editor import open_editor
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AUTH_OAUTH2, AccountSettings
from tui.core.storage.models import Account
from tui.screens.password_editor import PasswordEditorScreen
from tui.screens.signin_dialog import SignInDialog

USER = "ana@example.test"


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], object], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def oauth_account(oauth: OAuthServer, *, device: bool = True) -> Account:
    return store().create(
        AccountSettings(
            name="Work",
            email=USER,
            incoming_host="127.0.0.1",
            username=USER,
            auth_method=AUTH_OAUTH2,
            oauth_provider="generic",
            oauth_client_id=CLIENT_ID,
            oauth_authorize_url=oauth.authorize_url,
            oauth_token_url=oauth.token_url,
            oauth_device_url=oauth.device_url if device else "",
            oauth_scope="mail offline_access",
        ),
        activate=True,
    )


def shown_text(pilot: Pilot[Any], selector: str) -> str:
    """The text of a Static on the current screen; "" until the screen has it."""
    found = pilot.app.screen.query(selector).results(Static)
    return "".join(str(widget.render()) for widget in found)


async def test_sign_in_again_with_a_device_code(
    app_factory: AppFactory, secrets: MemoryStore, oauth_server: OAuthServer
) -> None:
    app = app_factory()
    account = oauth_account(oauth_server)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        assert isinstance(editor, PasswordEditorScreen)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        await wait_until(pilot, lambda: "-" in shown_text(pilot, "#signin-code"))
        spaced = shown_text(pilot, "#signin-code").strip()
        code = spaced.replace(" ", "")
        assert oauth_server.base_url + "/device" in shown_text(pilot, "#signin-where")
        await pilot.press("c")  # copy: must not fail in a terminal without a clipboard
        threading.Thread(target=oauth_server.approve_device, args=(code, USER)).start()
        await wait_until(pilot, lambda: not isinstance(app.screen, SignInDialog))
    assert secrets.get(account.secret_key, SecretKind.INCOMING)


async def test_browser_sign_in_with_the_address_pasted_back(
    app_factory: AppFactory, secrets: MemoryStore, oauth_server: OAuthServer
) -> None:
    app = app_factory()
    account = oauth_account(oauth_server, device=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.push_screen(SignInDialog(app.services, account))
        await wait_until(pilot, lambda: "/authorize?" in shown_text(pilot, "#signin-where"))
        dialog = app.screen
        assert isinstance(dialog, SignInDialog)
        address = dialog._copyable
        ended_on = oauth_server.approve_authorization(address, USER)
        paste = dialog.query_one("#signin-paste", Input)
        paste.value = ended_on
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, SignInDialog))
    assert secrets.get(account.secret_key, SecretKind.INCOMING)


async def test_escape_cancels_and_saves_nothing(
    app_factory: AppFactory, secrets: MemoryStore, oauth_server: OAuthServer
) -> None:
    app = app_factory()
    account = oauth_account(oauth_server)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.push_screen(SignInDialog(app.services, account))
        await wait_until(pilot, lambda: "-" in shown_text(pilot, "#signin-code"))
        assert_centred(app.screen.query_one("#signin-dialog").region, app.size.width)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, SignInDialog))
        await app.workers.wait_for_complete()
    assert secrets.get(account.secret_key, SecretKind.INCOMING) is None


async def test_a_password_mailbox_has_no_sign_in(app_factory: AppFactory) -> None:
    app = app_factory()
    account = store().create(
        AccountSettings(name="Home", email="a@example.com", incoming_host="pop.example.com"),
        activate=True,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await open_editor(pilot, account.id)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert isinstance(app.screen, PasswordEditorScreen)


async def test_an_outlook_mailbox_is_saved_for_sign_in_from_the_form(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    """The provider refuses passwords: Test & save signs in first (nothing saved before the
    servers are tested), the sign-in says what is missing (poptui ships no client id), and
    the client id typed there comes back to the form; "Save anyway" keeps it, no password."""
    from tests.ui.test_account_form import open_add_form

    app = app_factory()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await replace_text(pilot, "#name", "Hotmail")
        await replace_text(pilot, "#email", "someone@outlook.com")
        await pilot.press("tab")
        await pilot.pause()
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        await wait_until(pilot, lambda: "ships no client id" in shown_text(pilot, "#signin-where"))
        assert app.focused is app.screen.query_one("#signin-client-id")
        await pilot.press(*"bad id", "enter")
        await wait_until(pilot, lambda: "one word" in shown_text(pilot, "#signin-status"))
        field = app.screen.query_one("#signin-client-id", Input)
        field.value = "my-app-registration"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Asking" in shown_text(pilot, "#signin-where"))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, SignInDialog))
        assert not Account.select().exists()
        assert app.screen.query_one("#oauth-client-id", Input).value == "my-app-registration"
        await pilot.click("#save-anyway")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        await pilot.press("escape")
        await app.workers.wait_for_complete()
    account = Account.get(Account.name == "Hotmail")
    assert account.oauth_client_id == "my-app-registration"
    assert account.auth_method == AUTH_OAUTH2
    assert account.incoming_host == "outlook.office365.com"
    assert secrets.get(account.secret_key, SecretKind.INCOMING) is None


async def test_the_editor_will_not_overwrite_a_sign_in_with_a_password(
    app_factory: AppFactory, secrets: MemoryStore, oauth_server: OAuthServer
) -> None:
    app = app_factory()
    account = oauth_account(oauth_server)
    secrets.set(account.secret_key, SecretKind.INCOMING, "refresh-token-kept")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        editor = await open_editor(pilot, account.id)
        for field in ("#incoming-password", "#incoming-again"):
            editor.query_one(field, Input).value = "typed-password"
        await pilot.press("ctrl+o")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PasswordEditorScreen)
    assert secrets.get(account.secret_key, SecretKind.INCOMING) == "refresh-token-kept"


async def test_the_device_address_is_drawn_as_a_qr_code_when_it_fits(
    app_factory: AppFactory, oauth_server: OAuthServer
) -> None:
    from tui.core.oauth.qr import qr_lines

    app = app_factory()
    account = oauth_account(oauth_server)
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.pause()
        app.push_screen(SignInDialog(app.services, account))
        await wait_until(pilot, lambda: "-" in shown_text(pilot, "#signin-code"))
        drawn = shown_text(pilot, "#signin-qr")
        dialog = app.screen
        assert isinstance(dialog, SignInDialog)
        assert dialog.qr_address.startswith(oauth_server.base_url + "/device")
        assert drawn.splitlines() == qr_lines(dialog.qr_address, width=200, height=200)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
    small = app_factory()
    async with small.run_test(size=(100, 30)) as pilot:  # too short for it: not drawn
        await pilot.pause()
        small.push_screen(SignInDialog(small.services, account))
        await wait_until(pilot, lambda: "-" in shown_text(pilot, "#signin-code"))
        assert not pilot.app.screen.query_one("#signin-qr").display
        await pilot.press("escape")
        await small.workers.wait_for_complete()
