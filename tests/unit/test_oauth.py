"""OAuth2 pieces that need no server: presets, SASL payloads, challenge parsing, token sets,
and that a fetch of password accounts loads neither authlib nor requests."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from tui.core.net.pop3.auth import (
    BearerToken,
    Challenge,
    oauthbearer_payload,
    xoauth2_payload,
)
from tui.core.oauth.providers import (
    GMAIL_SCOPE,
    MICROSOFT_POP_SCOPE,
    Flow,
    OAuthSettingsError,
    ProviderName,
    endpoints_for,
)
from tui.core.oauth.tokens import TokenSet, token_set
from tui.core.settings import AUTH_OAUTH2, AccountSettings


def test_xoauth2_payload_is_the_documented_format() -> None:
    raw = base64.b64decode(xoauth2_payload("someuser@example.com", "ya29.vF9dft4qmTc2"))
    assert raw == b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2\x01\x01"


def test_oauthbearer_payload_escapes_the_authzid() -> None:
    raw = base64.b64decode(oauthbearer_payload("a,b=c@x", "tok", "pop.x", 995))
    assert raw == b"n,a=a=2Cb=3Dc@x,\x01host=pop.x\x01port=995\x01auth=Bearer tok\x01\x01"


def test_a_bearer_token_never_shows_itself() -> None:
    assert "s3cr3t" not in repr(BearerToken("s3cr3t"))
    tokens = TokenSet("access-s3cr3t", "refresh-s3cr3t", 0, 10, "mail")
    assert "s3cr3t" not in repr(tokens) and "s3cr3t" not in str(tokens)


@pytest.mark.parametrize(
    ("text", "status", "scope"),
    [
        (
            base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"mail"}').decode(),
            "401",
            "mail",
        ),
        (base64.b64encode(b'{"status":"invalid_token"}').decode(), "invalid_token", ""),
        ("", "", ""),
        ("%%%", "", ""),
        (base64.b64encode(b'"just a string"').decode(), "", ""),
        (base64.b64encode(b'{"status": 403}').decode(), "403", ""),
        (base64.b64encode(b"[" * 100_000).decode(), "", ""),
    ],
)
def test_challenges_parse_or_come_out_empty(text: str, status: str, scope: str) -> None:
    assert Challenge.parse(text) == Challenge(status, scope)


def test_microsoft_preset_uses_the_device_flow_and_the_pop_scope() -> None:
    settings = AccountSettings(
        name="Work", incoming_host="outlook.office365.com", auth_method=AUTH_OAUTH2
    )
    endpoints = endpoints_for(settings, global_client_id="my-app")
    assert endpoints.provider is ProviderName.MICROSOFT
    assert endpoints.flow is Flow.DEVICE
    assert endpoints.device_url == "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
    assert MICROSOFT_POP_SCOPE in endpoints.scope.split()
    assert "offline_access" in endpoints.scope.split()
    assert endpoints.client_id == "my-app"


def test_gmail_preset_uses_code_and_pkce_and_asks_for_a_refresh_token() -> None:
    settings = AccountSettings(
        name="G", incoming_host="pop.gmail.com", oauth_client_id="own", oauth_client_secret="x"
    )
    endpoints = endpoints_for(settings, global_client_id="global")
    assert endpoints.flow is Flow.CODE and not endpoints.device_url
    assert endpoints.scope == GMAIL_SCOPE
    assert endpoints.client_id == "own"  # the account's own beats the global one
    assert ("access_type", "offline") in endpoints.authorize_params


def test_no_client_id_is_a_worded_error_shipping_none() -> None:
    with pytest.raises(OAuthSettingsError, match="no OAuth2 client id") as caught:
        endpoints_for(AccountSettings(name="W", incoming_host="outlook.office365.com"))
    assert "ships none" in caught.value.hint


def test_generic_needs_endpoints() -> None:
    settings = AccountSettings(name="W", oauth_provider="generic", oauth_client_id="c")
    with pytest.raises(OAuthSettingsError, match="token address"):
        endpoints_for(settings)
    settings.oauth_token_url = "https://idp.example/token"
    with pytest.raises(OAuthSettingsError, match="device or an authorize address"):
        endpoints_for(settings)
    settings.oauth_device_url = "https://idp.example/device"
    assert endpoints_for(settings).flow is Flow.DEVICE


def test_token_set_expiry_margin_and_scope() -> None:
    tokens = token_set({"access_token": "a", "expires_in": 100, "scope": "profile"}, "mail", 0)
    assert not tokens.expiring(70) and tokens.expiring(76)  # a quarter of 100 s before
    assert tokens.missing_scope("mail") == "mail"
    long = token_set({"access_token": "a", "expires_in": 3600}, "mail", 0)
    assert long.expiring(3300) and not long.expiring(3299)  # at most 5 minutes before
    assert long.missing_scope("mail") == ""  # no scope in the reply: the requested one


def test_a_password_fetch_loads_no_oauth_library() -> None:
    code = (
        "import sys\n"
        "import tui.cli.fetch, tui.core.oauth, tui.core.oauth.signin, tui.fetch_worker\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('authlib', 'requests', 'flask'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
