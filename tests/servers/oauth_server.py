"""A real OAuth2 authorization server on 127.0.0.1 for the tests, built on authlib's server side.

Endpoints (all under :attr:`OAuthServer.base_url`):

* ``/authorize``  -- authorization code with PKCE (S256 required); GET shows a consent form,
  POST ``user=<email>&confirm=yes`` redirects to the client's loopback address with the code;
* ``/device_authorization`` and ``/device`` -- the device grant (RFC 8628); ``/device`` is the
  page where a person types the user code and approves;
* ``/token``      -- authorization_code, refresh_token and device_code grants;
* ``/introspect`` -- RFC 7662, for Dovecot's ``oauth2`` passdb (``introspection_mode = post``,
  client ``dovecot``/``dovecot-secret``) and the SMTP test server.

Access tokens live :attr:`OAuthServer.token_lifetime` seconds (change it at any time: short-lived
tokens for the expiry tests). :meth:`revoke_refresh_tokens` plays the provider revoking a grant.
The public client ``poptui-test`` (no secret, as a desktop app's) may ask for the scopes
``mail``, ``offline_access`` and ``profile``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
)
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from tests.servers.oauth_grants import (
    CLIENT_ID,
    DOVECOT_CLIENT_ID,
    DOVECOT_CLIENT_SECRET,
    HOST,
    SCOPES,
    AuthorizationCodeGrant,
    Client,
    DeviceCodeGrantImpl,
    DeviceEndpoint,
    Introspection,
    RefreshTokenGrant,
    State,
    Token,
    User,
)

__all__ = ["CLIENT_ID", "DOVECOT_CLIENT_ID", "DOVECOT_CLIENT_SECRET", "OAuthServer"]


class OAuthServer:
    """authlib's AuthorizationServer on Flask, served by werkzeug in a thread."""

    def __init__(
        self, *, token_lifetime: int = 3600, device_interval: int = 1, device_expires: int = 600
    ) -> None:
        self.token_lifetime = token_lifetime
        self.device_interval = device_interval
        self.device_expires = device_expires
        self.clients = {
            CLIENT_ID: Client(
                CLIENT_ID,
                grant_types=("authorization_code", "refresh_token", DEVICE_CODE_GRANT_TYPE),
            ),
            DOVECOT_CLIENT_ID: Client(
                DOVECOT_CLIENT_ID, DOVECOT_CLIENT_SECRET, auth_method="client_secret_post"
            ),
        }
        self.lock = threading.RLock()
        self.state = State()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------ facts
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the OAuth server is not running")
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def device_url(self) -> str:
        return self.base_url + "/device_authorization"

    @property
    def introspection_url(self) -> str:
        return self.base_url + "/introspect"

    @property
    def introspections(self) -> int:
        """How many introspection requests arrived (Dovecot asks once per login)."""
        with self.lock:
            return self.state.introspections

    @property
    def slow_downs(self) -> int:
        """How many device polls came too soon and were answered `slow_down`."""
        with self.lock:
            return self.state.slow_downs

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out so far (for the leak tests)."""
        with self.lock:
            out = [t.access_token for t in self.state.tokens]
            out += [t.refresh_token for t in self.state.tokens if t.refresh_token]
            return out

    def check_token(self, user: str, token: str) -> bool:
        """What a mail server does with a token: introspect it over HTTP (as Dovecot does),
        then insist on the user and the ``mail`` scope."""
        reply = requests.post(
            self.introspection_url,
            data={
                "token": token,
                "client_id": DOVECOT_CLIENT_ID,
                "client_secret": DOVECOT_CLIENT_SECRET,
            },
            timeout=10,
        )
        info = reply.json() if reply.ok else {}
        return (
            info.get("active") is True
            and info.get("email", "").lower() == user.lower()
            and "mail" in str(info.get("scope", "")).split()
        )

    # ------------------------------------------------------------ acting as a person
    def approve_device(self, user_code: str, user: str, *, approve: bool = True) -> None:
        """What a person does on the verification page: type the code, then allow (or deny)."""
        reply = requests.post(
            self.base_url + "/device",
            data={"user_code": user_code, "user": user, "confirm": "yes" if approve else "no"},
            timeout=10,
        )
        reply.raise_for_status()

    def approve_authorization(self, address: str, user: str) -> str:
        """Open the authorize address, sign in as `user`, consent: the address the browser
        ends on (the loopback redirect with the code), which is what a person pastes back."""
        reply = requests.post(
            address, data={"user": user, "confirm": "yes"}, allow_redirects=False, timeout=10
        )
        if reply.status_code != 302:
            raise AssertionError(f"authorize answered {reply.status_code}: {reply.text[:300]}")
        return str(reply.headers["Location"])

    def revoke_refresh_tokens(self, user: str) -> None:
        """The provider (or the user, in their account page) withdraws every grant of `user`."""
        with self.lock:
            for token in self.state.tokens:
                if token.user == user:
                    token.revoked = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired now (refresh tokens stay valid)."""
        with self.lock:
            for token in self.state.tokens:
                token.issued_at = time.time() - token.expires_in - 1

    # --------------------------------------------------------------- the server
    def _build_app(self) -> Flask:
        app = Flask("poptui-test-oauth")
        owner = self

        def query_client(client_id: str) -> Client | None:
            return owner.clients.get(client_id)

        def save_token(token: dict[str, Any], req: Any) -> None:
            with owner.lock:
                owner.state.tokens.append(
                    Token(
                        client_id=req.client.client_id,
                        user=str(req.user),
                        scope=token.get("scope", ""),
                        access_token=token["access_token"],
                        refresh_token=token.get("refresh_token", ""),
                        issued_at=time.time(),
                        expires_in=int(token["expires_in"]),
                    )
                )

        server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
        server.scopes_supported = list(SCOPES)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda *a, **k: secrets.token_urlsafe(48),
                refresh_token_generator=lambda *a, **k: secrets.token_urlsafe(48),
                expires_generator=lambda client, grant_type: owner.token_lifetime,
            ),
        )
        server.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshTokenGrant)
        server.register_grant(DeviceCodeGrantImpl)
        server.register_endpoint(DeviceEndpoint)
        server.register_endpoint(Introspection)
        app.config["owner"] = self

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            if request.method == "GET":
                grant = server.get_consent_grant(end_user=None)
                return (
                    "<form method=post>Sign in as <input name=user> to let "
                    f"{grant.client.client_id} read your mail "
                    "<button name=confirm value=yes>Allow</button></form>"
                )
            user = request.form.get("user", "")
            person = User(user) if user and request.form.get("confirm") == "yes" else None
            grant = server.get_consent_grant(end_user=person)
            return server.create_authorization_response(grant_user=person, grant=grant)

        @app.route("/token", methods=["POST"])
        def token() -> Any:
            return server.create_token_response()

        @app.route("/device_authorization", methods=["POST"])
        def device_authorization() -> Any:
            return server.create_endpoint_response("device_authorization")

        @app.route("/device", methods=["GET", "POST"])
        def device() -> Any:
            if request.method == "GET":
                return "<form method=post>Code: <input name=user_code></form>"
            code = request.form.get("user_code", "").strip().upper()
            with owner.lock:
                known = any(d["user_code"] == code for d in owner.state.devices.values())
                if not known:
                    return Response("unknown code", status=404)
                owner.state.grants[code] = (
                    request.form.get("user", ""),
                    request.form.get("confirm") == "yes",
                )
            return "Done: you may close this page."

        @app.route("/introspect", methods=["POST"])
        def introspect() -> Any:
            with owner.lock:
                owner.state.introspections += 1
            return server.create_endpoint_response("introspection")

        return app

    # -------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._server is not None:
            return self
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = make_server(HOST, 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def authorize_address(self, **params: str) -> str:
        """An authorize address as a client builds it (for tests that play the client)."""
        return f"{self.authorize_url}?{urlencode(params)}"
