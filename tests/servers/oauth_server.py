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
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import ClientMixin, TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"
CLIENT_ID = "poptui-test"
DOVECOT_CLIENT_ID = "dovecot"
DOVECOT_CLIENT_SECRET = "dovecot-secret"
SCOPES = ("mail", "offline_access", "profile")


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    secret: str = ""
    grant_types: tuple[str, ...] = ()
    auth_method: str = "none"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return f"http://{HOST}/"

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 8252 §7.3: a native app's loopback redirect may use any port.
        return redirect_uri.startswith((f"http://{HOST}:", "http://localhost:"))

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.secret) and secrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class _Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float = field(default_factory=lambda: time.time() + 300)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None


class _User(str):
    """authlib passes the user around; an e-mail address is all these tests need."""

    def get_user_id(self) -> str:
        return str(self)


@dataclass
class _State:
    tokens: list[_Token] = field(default_factory=list)
    codes: dict[str, _Code] = field(default_factory=dict)
    devices: dict[str, DeviceCredentialDict] = field(default_factory=dict)
    """device_code -> what the device endpoint issued."""
    grants: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """user_code -> (user, approved), once the person answered on /device."""
    last_poll: dict[str, float] = field(default_factory=dict)
    slow_downs: int = 0
    introspections: int = 0


class OAuthServer:
    """authlib's AuthorizationServer on Flask, served by werkzeug in a thread."""

    def __init__(
        self, *, token_lifetime: int = 3600, device_interval: int = 1, device_expires: int = 600
    ) -> None:
        self.token_lifetime = token_lifetime
        self.device_interval = device_interval
        self.device_expires = device_expires
        self.clients = {
            CLIENT_ID: _Client(
                CLIENT_ID,
                grant_types=("authorization_code", "refresh_token", DEVICE_CODE_GRANT_TYPE),
            ),
            DOVECOT_CLIENT_ID: _Client(
                DOVECOT_CLIENT_ID, DOVECOT_CLIENT_SECRET, auth_method="client_secret_post"
            ),
        }
        self._lock = threading.RLock()
        self._state = _State()
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
        with self._lock:
            return self._state.introspections

    @property
    def slow_downs(self) -> int:
        """How many device polls came too soon and were answered `slow_down`."""
        with self._lock:
            return self._state.slow_downs

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out so far (for the leak tests)."""
        with self._lock:
            out = [t.access_token for t in self._state.tokens]
            out += [t.refresh_token for t in self._state.tokens if t.refresh_token]
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
        with self._lock:
            for token in self._state.tokens:
                if token.user == user:
                    token.revoked = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired now (refresh tokens stay valid)."""
        with self._lock:
            for token in self._state.tokens:
                token.issued_at = time.time() - token.expires_in - 1

    # --------------------------------------------------------------- the server
    def _build_app(self) -> Flask:
        app = Flask("poptui-test-oauth")
        owner = self

        def query_client(client_id: str) -> _Client | None:
            return owner.clients.get(client_id)

        def save_token(token: dict[str, Any], req: Any) -> None:
            with owner._lock:
                owner._state.tokens.append(
                    _Token(
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
        server.register_grant(_AuthorizationCodeGrant, [CodeChallenge(required=True)])
        server.register_grant(_RefreshTokenGrant)
        server.register_grant(_DeviceCodeGrant)
        server.register_endpoint(_DeviceEndpoint)
        server.register_endpoint(_Introspection)
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
            person = _User(user) if user and request.form.get("confirm") == "yes" else None
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
            with owner._lock:
                known = any(d["user_code"] == code for d in owner._state.devices.values())
                if not known:
                    return Response("unknown code", status=404)
                owner._state.grants[code] = (
                    request.form.get("user", ""),
                    request.form.get("confirm") == "yes",
                )
            return "Done: you may close this page."

        @app.route("/introspect", methods=["POST"])
        def introspect() -> Any:
            with owner._lock:
                owner._state.introspections += 1
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


def _owner() -> OAuthServer:
    from flask import current_app

    owner = current_app.config["owner"]
    assert isinstance(owner, OAuthServer)
    return owner


class _AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, req: Any) -> _Code:
        owner = _owner()
        item = _Code(
            code=code,
            client_id=req.client.client_id,
            redirect_uri=req.payload.redirect_uri or "",
            scope=req.payload.scope or "",
            user=str(req.user),
            code_challenge=req.payload.data.get("code_challenge", ""),
            code_challenge_method=req.payload.data.get("code_challenge_method", ""),
        )
        with owner._lock:
            owner._state.codes[code] = item
        return item

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        owner = _owner()
        with owner._lock:
            item = owner._state.codes.get(code)
        if item and item.client_id == client.client_id and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        owner = _owner()
        with owner._lock:
            owner._state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> _User:
        return _User(authorization_code.user)


class _RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
        owner = _owner()
        with owner._lock:
            for token in owner._state.tokens:
                if token.refresh_token == refresh_token and not token.revoked:
                    return token
        return None

    def authenticate_user(self, refresh_token: _Token) -> _User:
        return _User(refresh_token.user)

    def revoke_old_credential(self, refresh_token: _Token) -> None:
        owner = _owner()
        with owner._lock:
            # Rotation: the old refresh token dies, its access token lives out its time.
            refresh_token.refresh_token = ""


class _DeviceCodeGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        owner = _owner()
        with owner._lock:
            return owner._state.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[_User, bool] | None:
        owner = _owner()
        with owner._lock:
            answer = owner._state.grants.get(user_code)
        return None if answer is None else (_User(answer[0]), answer[1])

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        owner = _owner()
        now = time.time()
        with owner._lock:
            last = owner._state.last_poll.get(credential["device_code"], 0.0)
            owner._state.last_poll[credential["device_code"]] = now
            too_soon = now - last < owner.device_interval * 0.8
            owner._state.slow_downs += too_soon
        return too_soon


class _DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["none"]

    def __init__(self, server: Any) -> None:
        super().__init__(server)

    def get_verification_uri(self) -> str:
        return _owner().base_url + "/device"

    def create_endpoint_response(self, req: Any) -> Any:
        owner = _owner()
        self.INTERVAL = owner.device_interval
        self.EXPIRES_IN = owner.device_expires
        return super().create_endpoint_response(req)

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        owner = _owner()
        item = DeviceCredentialDict(
            client_id=client_id,
            scope=scope,
            expires_at=time.time() + int(data["expires_in"]),
            **data,
        )
        with owner._lock:
            owner._state.devices[data["device_code"]] = item


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        owner = _owner()
        with owner._lock:
            for token in owner._state.tokens:
                if token.access_token == token_string:
                    return token
        return None

    def check_permission(self, token: _Token, client: _Client, req: Any) -> bool:
        return client.client_id == DOVECOT_CLIENT_ID

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "email": token.user,
            "username": token.user,
            "scope": token.scope,
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
        }
