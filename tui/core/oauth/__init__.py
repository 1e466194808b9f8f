"""OAuth2 sign-in (Microsoft, Gmail, any provider): presets, the device and browser flows,
refresh tokens in the secret store, and the token source a POP3 login asks for a token.

A lazy face: authlib and requests load only when a sign-in or a refresh happens, so a fetch of
password accounts never pays for them.
"""

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

if TYPE_CHECKING:
    from tui.core.oauth.errors import (
        SignInCancelled,
        SignInFailed,
        SignInRequired,
        TokenServiceUnreachable,
    )
    from tui.core.oauth.flows import (
        BrowserSignIn,
        DeviceCode,
        LoopbackListener,
        start_device,
        wait_for_device,
    )
    from tui.core.oauth.login import login_secret
    from tui.core.oauth.providers import Endpoints, Flow, OAuthSettingsError, ProviderName
    from tui.core.oauth.signin import (
        endpoints_of,
        global_client_id,
        missing_scope_problem,
        needs_sign_in,
        save_sign_in,
        set_global_client_id,
    )
    from tui.core.oauth.tokens import TokenSet

_HOMES = homes_of(
    {
        "errors": ("SignInCancelled", "SignInFailed", "SignInRequired", "TokenServiceUnreachable"),
        "flows": (
            "BrowserSignIn",
            "DeviceCode",
            "LoopbackListener",
            "start_device",
            "wait_for_device",
        ),
        "login": ("login_secret",),
        "providers": ("Endpoints", "Flow", "OAuthSettingsError", "ProviderName"),
        "signin": (
            "endpoints_of",
            "global_client_id",
            "missing_scope_problem",
            "needs_sign_in",
            "needs_sign_in",
            "save_sign_in",
            "set_global_client_id",
        ),
        "tokens": ("TokenSet",),
    }
)
__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "BrowserSignIn",
    "DeviceCode",
    "Endpoints",
    "Flow",
    "LoopbackListener",
    "OAuthSettingsError",
    "ProviderName",
    "SignInCancelled",
    "SignInFailed",
    "SignInRequired",
    "TokenServiceUnreachable",
    "TokenSet",
    "endpoints_of",
    "global_client_id",
    "login_secret",
    "missing_scope_problem",
    "needs_sign_in",
    "save_sign_in",
    "set_global_client_id",
    "start_device",
    "wait_for_device",
]
