"""What a person types for OAuth2 is checked before any token or secret is sent: endpoints
https only (plain http only to this computer), printable, of sane length; a Microsoft tenant
is a tenant; the client secret never goes into the database."""

from __future__ import annotations

import pytest

from tui.core.oauth.providers import (
    OAuthSettingsError,
    endpoint_problem,
    endpoints_for,
    oauth_settings_problem,
    tenant_of,
    with_tenant,
)
from tui.core.oauth.signin import client_secret, keep_client_secret, split_client_secret
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AUTH_OAUTH2, AccountSettings


@pytest.mark.parametrize(
    "url",
    [
        "https://login.example.com/oauth2/token",
        "http://127.0.0.1:8080/token",
        "http://localhost/token",
        "http://[::1]:9/token",
    ],
)
def test_acceptable_endpoints(url: str) -> None:
    assert endpoint_problem(url, "token URL") == ""


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://login.example.com/token", "https://"),
        ("ftp://login.example.com/token", "https://"),
        ("javascript:alert(1)", "https://"),
        ("https://", "https://"),
        ("https://login.example.com/\x1b[2Jtoken", "control"),
        ("https://login.example.com/to ken", "spaces"),
        ("https://login.example.com/\u202etoken", "control"),
        ("https://login.example.com/" + "a" * 2000, "longer"),
        ("https://[bad/token", "not a web address"),
    ],
)
def test_hostile_or_clear_text_endpoints_are_refused(url: str, words: str) -> None:
    assert words in endpoint_problem(url, "token URL")


def generic(**changes: str) -> AccountSettings:
    values = {
        "name": "W",
        "incoming_host": "pop.corp.example",
        "auth_method": AUTH_OAUTH2,
        "oauth_client_id": "app",
        "oauth_token_url": "https://login.corp.example/token",
        "oauth_device_url": "https://login.corp.example/device",
        "oauth_scope": "mail offline_access",
        **changes,
    }
    return AccountSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"oauth_token_url": "http://login.corp.example/token"}, "oauth_token_url"),
        ({"oauth_device_url": "https://x/\x07"}, "oauth_device_url"),
        ({"oauth_authorize_url": "data:text/html,hi"}, "oauth_authorize_url"),
        ({"oauth_scope": "mail\nRCPT TO"}, "oauth_scope"),
        ({"oauth_scope": "s " * 600}, "oauth_scope"),
        ({"oauth_client_id": "two words"}, "oauth_client_id"),
        ({"oauth_client_secret": "x" * 300}, "oauth_client_secret"),
        ({"oauth_client_secret": "tab\there"}, "oauth_client_secret"),
    ],
)
def test_each_problem_names_its_field_and_endpoints_refuse_it(
    changes: dict[str, str], field: str
) -> None:
    settings = generic(**changes)
    problem = oauth_settings_problem(settings)
    assert problem is not None and problem.field == field
    with pytest.raises(OAuthSettingsError):
        endpoints_for(settings)  # the sign-in and the refresh never reach such an address


def test_good_generic_settings_pass() -> None:
    assert oauth_settings_problem(generic(oauth_client_secret="s3cr3t-value")) is None
    assert endpoints_for(generic(oauth_client_secret="s3cr3t-value")).client_secret


@pytest.mark.parametrize(
    "tenant",
    [
        "organizations",
        "consumers",
        "contoso.onmicrosoft.com",
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
    ],
)
def test_microsoft_tenant_points_all_three_endpoints_there(tenant: str) -> None:
    settings = AccountSettings(
        name="M", incoming_host="outlook.office365.com", auth_method=AUTH_OAUTH2
    )
    chosen = with_tenant(settings, tenant)
    assert tenant_of(chosen) == tenant
    endpoints = endpoints_for(chosen, global_client_id="app")
    for url in (endpoints.token_url, endpoints.authorize_url, endpoints.device_url):
        assert url.startswith(f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/")
    back = with_tenant(chosen, "common")  # the preset itself again
    assert (back.oauth_token_url, back.oauth_device_url) == ("", "")
    assert tenant_of(back) == "common"
    assert "/common/" in endpoints_for(back, global_client_id="app").token_url


@pytest.mark.parametrize("tenant", ["a/b", "../common", "x y", "-lead", "evil.com/?", "é"])
def test_a_tenant_that_is_no_tenant_is_refused(tenant: str) -> None:
    settings = AccountSettings(name="M", incoming_host="outlook.office365.com")
    with pytest.raises(OAuthSettingsError) as caught:
        with_tenant(settings, tenant)
    assert caught.value.field == "oauth_tenant"


def test_client_secret_lives_in_the_secret_store() -> None:
    store = MemoryStore()
    to_store, secret = split_client_secret(generic(oauth_client_secret="s3cr3t"))
    assert to_store.oauth_client_secret == "" and secret == "s3cr3t"
    keep_client_secret(store, "key-1", "W", secret)
    assert client_secret(store, "key-1", "W") == "s3cr3t"
    assert store.get("key-1", SecretKind.INCOMING) is None  # not the refresh token's slot
    keep_client_secret(store, "key-1", "W", "")
    assert client_secret(store, "key-1", "W") == ""
