"""The form's "Sign in with OAuth2" choice: the password goes, a client id (and a generic
provider's endpoints) come, and saving stores what `poptui account add --oauth2` stores."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from tests.servers.oauth_server import CLIENT_ID, OAuthServer
from tests.ui.conftest import AppFactory, open_form, replace_text, store
from tests.ui.test_account_form import press_test_and_save, status_of
from tests.ui.test_signin_dialog import shown_text, wait_until
from tui.core.oauth.signin import set_global_client_id
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AUTH_OAUTH2, AUTH_PASSWORD, AccountSettings, Security
from tui.screens.account_form import AccountFormScreen
from tui.screens.signin_dialog import SignInDialog
from tui.widgets.status_line import StatusLine

TYPED_PASSWORD = "typed-before-signing-in"


def shown(pilot: Pilot[Any], selector: str) -> bool:
    """Displayed, and so are all its ancestors."""
    widget = pilot.app.screen.query_one(selector)
    return all(node.display for node in [widget, *widget.ancestors] if hasattr(node, "display"))


async def add_form_with(pilot: Pilot[Any], email: str) -> None:
    await pilot.pause()
    await open_form(pilot, "a")
    await replace_text(pilot, "#name", "Work")
    await replace_text(pilot, "#password", TYPED_PASSWORD)
    await replace_text(pilot, "#email", email)
    await pilot.press("tab")  # leaving the address applies the preset
    await pilot.pause()


def oauth_box(pilot: Pilot[Any]) -> Checkbox:
    return pilot.app.screen.query_one("#oauth2", Checkbox)


async def test_microsoft_signs_in_instead_of_a_password(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await add_form_with(pilot, "someone@outlook.com")
        assert oauth_box(pilot).value
        assert not shown(pilot, "#field-password")
        assert shown(pilot, "#field-oauth-client-id")
        assert not shown(pilot, "#field-oauth-token-url")  # Microsoft's preset has them

        oauth_box(pilot).value = False
        await pilot.pause()
        assert shown(pilot, "#field-password")
        assert not shown(pilot, "#field-oauth-client-id")


async def test_gmail_is_offered_but_keeps_its_password(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await add_form_with(pilot, "ana@gmail.com")
        assert shown(pilot, "#oauth2")
        assert not oauth_box(pilot).value
        assert shown(pilot, "#field-password")


async def test_a_password_account_elsewhere_is_not_offered(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await open_form(pilot, "a")
        assert not shown(pilot, "#oauth2")


async def sign_in_cancelled(pilot: Pilot[Any]) -> None:
    """Test & save opened the sign-in (nothing saved yet): Esc, then "Save anyway", which
    saves the mailbox untested and opens the sign-in for it."""
    app = pilot.app
    await pilot.press("ctrl+t")
    await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
    assert store().names() == []  # settings are tested before they are saved
    await pilot.press("escape")
    await wait_until(pilot, lambda: isinstance(app.screen, AccountFormScreen))
    said = lambda: app.screen.query_one(StatusLine).text  # noqa: E731
    await wait_until(pilot, lambda: "sign-in did not finish" in said())
    await pilot.click("#save-anyway")
    await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))


async def test_saving_stores_the_client_id_and_no_password(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await add_form_with(pilot, "someone@outlook.com")
        await replace_text(pilot, "#oauth-client-id", "  my-app-registration  ")
        await sign_in_cancelled(pilot)
        account = store().get("Work")
        assert account.auth_method == AUTH_OAUTH2
        assert account.oauth_client_id == "my-app-registration"
        assert account.incoming_host == "outlook.office365.com"
        for kind in SecretKind:
            assert secrets.get(account.secret_key, kind, mailbox="Work") is None
        assert TYPED_PASSWORD not in repr(secrets.__dict__)


async def test_no_client_id_anywhere_is_asked_for_by_the_sign_in(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await add_form_with(pilot, "someone@outlook.com")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        await wait_until(pilot, lambda: "ships no client id" in shown_text(pilot, "#signin-where"))
        assert store().names() == []


async def test_the_global_client_id_makes_it_optional(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        set_global_client_id("shared-registration", "microsoft")  # as `account client-id`
        await add_form_with(pilot, "someone@outlook.com")
        await sign_in_cancelled(pilot)
        account = store().get("Work")
        assert account.auth_method == AUTH_OAUTH2
        assert account.oauth_client_id == ""


async def test_generic_provider_endpoints_reach_the_sign_in(
    app_factory: AppFactory, oauth_server: OAuthServer
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 50)) as pilot:
        await add_form_with(pilot, "ana@corp.example")
        assert shown(pilot, "#oauth2")  # an address without a preset: offered
        assert not oauth_box(pilot).value
        oauth_box(pilot).value = True
        await pilot.pause()
        assert not shown(pilot, "#field-password")
        assert shown(pilot, "#field-oauth-token-url")
        assert shown(pilot, "#field-oauth-device-url")
        await replace_text(pilot, "#incoming-host", "127.0.0.1")
        await replace_text(pilot, "#oauth-client-id", CLIENT_ID)
        await press_test_and_save(pilot)
        assert "token" in status_of(app)  # the token URL is missing: nothing saved
        assert app.focused is app.screen.query_one("#oauth-token-url", Input)
        await replace_text(pilot, "#oauth-token-url", oauth_server.token_url)
        await replace_text(pilot, "#oauth-device-url", oauth_server.device_url)
        await pilot.press("ctrl+t")  # the dialog's device flow then waits: no wait for workers
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        await wait_until(pilot, lambda: oauth_server.base_url in shown_text(pilot, "#signin-where"))
        assert store().names() == []
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, AccountFormScreen))
        await pilot.click("#save-anyway")
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        account = store().get("Work")
        assert (account.oauth_token_url, account.oauth_device_url) == (
            oauth_server.token_url,
            oauth_server.device_url,
        )
        assert account.oauth_client_id == CLIENT_ID
        await pilot.press("escape")


async def test_editing_shows_the_client_id_and_never_saves_a_password(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    store().create(
        AccountSettings(
            name="Work",
            email="someone@outlook.com",
            incoming_host="outlook.office365.com",
            incoming_security=Security.SSL,
            username="someone@outlook.com",
            auth_method=AUTH_OAUTH2,
            oauth_client_id="registered-id",
        ),
        activate=True,
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await open_form(pilot, "e")
        assert oauth_box(pilot).value
        assert app.screen.query_one("#oauth-client-id", Input).value == "registered-id"
        assert not shown(pilot, "#field-password")
        await replace_text(pilot, "#password", TYPED_PASSWORD)  # hidden: ignored
        await replace_text(pilot, "#oauth-client-id", "new-id")
        await pilot.press("ctrl+t")  # no sign-in kept for it: signing in comes first
        await wait_until(pilot, lambda: isinstance(app.screen, SignInDialog))
        assert store().get("Work").oauth_client_id == "registered-id"  # nothing saved yet
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, AccountFormScreen))
        await pilot.click("#save-anyway")
        await wait_until(pilot, lambda: not isinstance(app.screen, AccountFormScreen))
        assert not isinstance(app.screen, SignInDialog)  # the same provider: no new sign-in
        account = store().get("Work")
        assert account.oauth_client_id == "new-id"
        assert secrets.get(account.secret_key, SecretKind.INCOMING, mailbox="Work") is None


async def test_unticking_on_edit_goes_back_to_a_password(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    app = app_factory()
    store().create(
        AccountSettings(
            name="Work",
            email="ana@gmail.com",
            incoming_host="pop.gmail.com",
            username="ana@gmail.com",
            auth_method=AUTH_OAUTH2,
        ),
        activate=True,
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await open_form(pilot, "e")
        assert oauth_box(pilot).value
        oauth_box(pilot).value = False
        await pilot.pause()
        await replace_text(pilot, "#password", "app-password")
        await press_test_and_save(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, AccountFormScreen))
        account = store().get("Work")
        assert account.auth_method == AUTH_PASSWORD
        assert secrets.get(account.secret_key, SecretKind.INCOMING, mailbox="Work") == (
            "app-password"
        )


async def test_a_clear_text_token_url_is_refused_before_anything_is_sent(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 50)) as pilot:
        await add_form_with(pilot, "ana@corp.example")
        oauth_box(pilot).value = True
        await pilot.pause()
        assert shown(pilot, "#field-oauth-scope")
        assert shown(pilot, "#field-oauth-client-secret")
        assert not shown(pilot, "#field-oauth-tenant")  # Microsoft only
        await replace_text(pilot, "#incoming-host", "pop.corp.example")
        await replace_text(pilot, "#oauth-client-id", CLIENT_ID)
        await replace_text(pilot, "#oauth-token-url", "http://login.corp.example/token")
        await replace_text(pilot, "#oauth-device-url", "https://login.corp.example/device")
        await press_test_and_save(pilot)
        assert "https://" in status_of(app) and "Nothing saved" in status_of(app)
        assert app.focused is app.screen.query_one("#oauth-token-url", Input)
        assert not isinstance(app.screen, SignInDialog)
        await replace_text(pilot, "#oauth-token-url", "https://login.corp.example/token")
        await replace_text(pilot, "#oauth-scope", "mail\x1b[2J")
        await press_test_and_save(pilot)
        assert "scope" in status_of(app)
        assert app.focused is app.screen.query_one("#oauth-scope", Input)
        assert store().names() == []


async def test_microsoft_tenant_and_client_secret_from_the_form(
    app_factory: AppFactory, secrets: MemoryStore
) -> None:
    from tui.core.oauth.signin import client_secret

    app = app_factory()
    async with app.run_test(size=(100, 50)) as pilot:
        await add_form_with(pilot, "someone@contoso.onmicrosoft.com")
        await replace_text(pilot, "#incoming-host", "outlook.office365.com")
        await pilot.press("tab")
        await pilot.pause()
        assert shown(pilot, "#field-oauth-tenant")
        await replace_text(pilot, "#oauth-client-id", "registered-id")
        await replace_text(pilot, "#oauth-client-secret", "typed-client-secret")
        await replace_text(pilot, "#oauth-tenant", "contoso/../evil")
        await press_test_and_save(pilot)
        assert "tenant" in status_of(app)
        assert app.focused is app.screen.query_one("#oauth-tenant", Input)
        await replace_text(pilot, "#oauth-tenant", "organizations")
        await sign_in_cancelled(pilot)
        account = store().get("Work")
        assert account.oauth_token_url.startswith(
            "https://login.microsoftonline.com/organizations/"
        )
        assert account.oauth_client_secret == ""
        assert client_secret(secrets, account.secret_key, "Work") == "typed-client-secret"
        store().remove("Work", keep_mail=False, secrets=secrets)
        assert client_secret(secrets, account.secret_key, "Work") == ""
