"""Signing in without a local browser: the device grant (RFC 8628) and the authorization code
with PKCE (RFC 7636), whose loopback redirect is caught on a desktop or pasted back over SSH.

Both end in a `TokenSet`; the caller saves its refresh token (`tui.core.oauth.signin`).
Blocking calls: run them in a worker thread; `cancelled` is polled between waits.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tui.core.oauth.errors import SignInCancelled, SignInFailed, TokenServiceUnreachable
from tui.core.oauth.providers import Endpoints
from tui.core.oauth.tokens import HTTP_TIMEOUT, TokenSet, provider_error, session_for, token_set
from tui.core.text import one_line

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5
"""RFC 8628 §3.5: after `slow_down`, wait 5 s longer, for good."""
MAX_USER_CODE = 64
MAX_PASTE = 8192

Sleep = Callable[[float], None]
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class DeviceCode:
    """What the person is shown: an address and a code (both from the provider: cleaned)."""

    verification_uri: str
    user_code: str
    verification_uri_complete: str
    expires_in: int
    interval: int
    device_code: str = field(repr=False)


def _post_json(endpoints: Endpoints, url: str, data: dict[str, str]) -> dict[str, Any]:
    import requests

    try:
        reply = requests.post(url, data=data, timeout=HTTP_TIMEOUT)
        body = reply.json()
    except (requests.RequestException, ValueError) as error:
        raise TokenServiceUnreachable(
            f"Could not reach the sign-in service at {one_line(urlsplit(url).netloc, 120)}: "
            f"{one_line(type(error).__name__, 60)}"
        ) from None
    if not isinstance(body, dict):
        raise TokenServiceUnreachable("The sign-in service answered something that is not JSON.")
    return body


def start_device(endpoints: Endpoints) -> DeviceCode:
    """Ask for a device code (RFC 8628 §3.1)."""
    body = _post_json(
        endpoints,
        endpoints.device_url,
        {"client_id": endpoints.client_id, "scope": endpoints.scope},
    )
    if "error" in body or not body.get("device_code") or not body.get("user_code"):
        code = one_line(str(body.get("error", "no device code")), 60)
        said = one_line(str(body.get("error_description", "")), 200)
        detail = f"{code}: {said}" if said else code
        raise SignInFailed(
            f"The provider refused to start a device sign-in ({detail}).",
            hint="Check the client id and that the app registration allows public client flows.",
        )
    from tui.core.oauth.qr import verified_address

    uri = verified_address(str(body.get("verification_uri") or body.get("verification_url") or ""))
    complete = str(body.get("verification_uri_complete") or "")
    try:
        complete = verified_address(complete) if complete else ""
    except SignInFailed:
        complete = ""  # optional: the plain address and the code are enough
    user_code = str(body["user_code"])
    if len(user_code) > MAX_USER_CODE or not all(" " < c <= "~" for c in user_code):
        raise SignInFailed(
            "The provider sent a user code poptui will not show (not a short code of "
            "printable characters). Nothing was signed in."
        )
    return DeviceCode(
        verification_uri=uri,
        user_code=user_code,
        verification_uri_complete=complete,
        expires_in=_int(body.get("expires_in"), 900),
        interval=max(1, _int(body.get("interval"), 5)),
        device_code=str(body["device_code"]),
    )


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def wait_for_device(
    endpoints: Endpoints,
    code: DeviceCode,
    *,
    cancelled: Cancelled = lambda: False,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.time,
) -> TokenSet:
    """Poll the token endpoint until the person approved, denied, or the code expired."""
    deadline = clock() + code.expires_in
    interval = code.interval
    while True:
        _sleep_unless_cancelled(interval, cancelled, sleep)
        if clock() > deadline:
            raise SignInFailed("The code expired before it was entered; start the sign-in again.")
        body = _post_json(
            endpoints,
            endpoints.token_url,
            {
                "grant_type": DEVICE_GRANT,
                "device_code": code.device_code,
                "client_id": endpoints.client_id,
                **({"client_secret": endpoints.client_secret} if endpoints.client_secret else {}),
            },
        )
        error = body.get("error")
        if error is None:
            return token_set(body, endpoints.scope, clock())
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP
            continue
        if error == "access_denied":
            raise SignInFailed("The sign-in was declined on the provider's page.")
        if error == "expired_token":
            raise SignInFailed("The code expired before it was entered; start the sign-in again.")
        said = one_line(str(body.get("error_description", "")), 200)
        raise SignInFailed(
            f"The provider ended the sign-in: {one_line(str(error), 60)}"
            + (f" ({said})" if said else "")
        )


def _sleep_unless_cancelled(seconds: float, cancelled: Cancelled, sleep: Sleep) -> None:
    end = time.monotonic() + seconds
    while True:
        if cancelled():
            raise SignInCancelled("Sign-in cancelled.")
        left = end - time.monotonic()
        if left <= 0:
            return
        sleep(min(0.2, left))


# ----------------------------------------------------------------- authorization code + PKCE


class BrowserSignIn:
    """One authorization-code sign-in: the address to open, then the address it ended on."""

    def __init__(self, endpoints: Endpoints, redirect_uri: str) -> None:
        from authlib.common.security import generate_token

        self.endpoints = endpoints
        self.redirect_uri = redirect_uri
        self._verifier = generate_token(64)  # RFC 7636: 43-128 unreserved characters
        self._session = session_for(
            endpoints, redirect_uri=redirect_uri, code_challenge_method="S256"
        )
        self.address, self._state = self._session.create_authorization_url(
            endpoints.authorize_url,
            state=secrets.token_urlsafe(24),
            code_verifier=self._verifier,
            **dict(endpoints.authorize_params),
        )

    def __repr__(self) -> str:
        return f"BrowserSignIn({self.endpoints.provider})"

    def finish(self, pasted: str) -> TokenSet:
        """Exchange the code in the address the browser ended on (pasted, or caught)."""
        from authlib.integrations.base_client import OAuthError

        address = pasted.strip()[:MAX_PASTE]
        params = parse_qs(urlsplit(address).query)
        if "error" in params:
            error = one_line(params["error"][0], 60)
            raise SignInFailed(f"The provider did not sign you in: {error}.")
        if "code" not in params:
            raise SignInFailed(
                "That address has no sign-in code in it.",
                hint="Paste the whole address from the browser's address bar after you "
                "approved (it starts with " + self.redirect_uri + ").",
            )
        if params.get("state", [""])[0] != self._state:
            raise SignInFailed(
                "That address belongs to another sign-in (its state does not match); nothing "
                "was accepted.",
                hint="Use the address from this sign-in's browser tab.",
            )
        try:
            with self._session:
                response = self._session.fetch_token(
                    self.endpoints.token_url,
                    grant_type="authorization_code",
                    code=params["code"][0],
                    code_verifier=self._verifier,
                    timeout=HTTP_TIMEOUT,
                )
        except OAuthError as error:
            code, description = provider_error(error)
            raise SignInFailed(
                f"The provider refused the sign-in code ({code}"
                + (f": {description}" if description else "")
                + ")."
            ) from None
        except Exception as error:  # requests' errors; authlib raises ValueError on junk
            raise TokenServiceUnreachable(
                f"Could not finish the sign-in: {one_line(type(error).__name__, 60)}"
            ) from None
        return token_set(dict(response), self.endpoints.scope, time.time())


class LoopbackListener:
    """An HTTP listener on 127.0.0.1 for the redirect (RFC 8252 §7.3): on a desktop the
    browser lands here and the sign-in finishes by itself. Over SSH it is never reached and
    the person pastes the address instead."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._got = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "code=" in self.path or "error=" in self.path:
                    owner.received = f"{owner.redirect_uri.rstrip('/')}{self.path}"
                    owner._got.set()
                body = b"poptui: you may close this tab and return to the terminal."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the request line carries the code."""

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, seconds: float) -> str | None:
        """The redirect address once it arrived, else None after `seconds`."""
        self._got.wait(seconds)
        return self.received

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown()
            self._server.server_close()
