"""The authorization server's storage and grants (authlib server side), for `oauth_server`:
clients, tokens, codes and device codes kept in memory, and the grant classes authlib asks."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import ClientMixin, TokenMixin
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)

HOST = "127.0.0.1"
CLIENT_ID = "poptui-test"
DOVECOT_CLIENT_ID = "dovecot"
DOVECOT_CLIENT_SECRET = "dovecot-secret"
SCOPES = ("mail", "offline_access", "profile")


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
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
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
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
class Code:
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


class User(str):
    """authlib passes the user around; an e-mail address is all these tests need."""

    def get_user_id(self) -> str:
        return str(self)


@dataclass
class State:
    tokens: list[Token] = field(default_factory=list)
    codes: dict[str, Code] = field(default_factory=dict)
    devices: dict[str, DeviceCredentialDict] = field(default_factory=dict)
    """device_code -> what the device endpoint issued."""
    grants: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """user_code -> (user, approved), once the person answered on /device."""
    last_poll: dict[str, float] = field(default_factory=dict)
    slow_downs: int = 0
    introspections: int = 0


class Owner(Protocol):
    """What the grants need of the running `OAuthServer` (found through Flask's app config)."""

    lock: threading.RLock
    state: State
    device_interval: int
    device_expires: int

    @property
    def base_url(self) -> str: ...


def _owner() -> Owner:
    from flask import current_app

    owner: Owner = current_app.config["owner"]
    return owner


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, req: Any) -> Code:
        owner = _owner()
        item = Code(
            code=code,
            client_id=req.client.client_id,
            redirect_uri=req.payload.redirect_uri or "",
            scope=req.payload.scope or "",
            user=str(req.user),
            code_challenge=req.payload.data.get("code_challenge", ""),
            code_challenge_method=req.payload.data.get("code_challenge_method", ""),
        )
        with owner.lock:
            owner.state.codes[code] = item
        return item

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        owner = _owner()
        with owner.lock:
            item = owner.state.codes.get(code)
        if item and item.client_id == client.client_id and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        owner = _owner()
        with owner.lock:
            owner.state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> User:
        return User(authorization_code.user)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        owner = _owner()
        with owner.lock:
            for token in owner.state.tokens:
                if token.refresh_token == refresh_token and not token.revoked:
                    return token
        return None

    def authenticate_user(self, refresh_token: Token) -> User:
        return User(refresh_token.user)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        owner = _owner()
        with owner.lock:
            # Rotation: the old refresh token dies, its access token lives out its time.
            refresh_token.refresh_token = ""


class DeviceCodeGrantImpl(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        owner = _owner()
        with owner.lock:
            return owner.state.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[User, bool] | None:
        owner = _owner()
        with owner.lock:
            answer = owner.state.grants.get(user_code)
        return None if answer is None else (User(answer[0]), answer[1])

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        owner = _owner()
        now = time.time()
        with owner.lock:
            last = owner.state.last_poll.get(credential["device_code"], 0.0)
            owner.state.last_poll[credential["device_code"]] = now
            too_soon = now - last < owner.device_interval * 0.8
            owner.state.slow_downs += too_soon
        return too_soon


class DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
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
        with owner.lock:
            owner.state.devices[data["device_code"]] = item


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        owner = _owner()
        with owner.lock:
            for token in owner.state.tokens:
                if token.access_token == token_string:
                    return token
        return None

    def check_permission(self, token: Token, client: Client, req: Any) -> bool:
        return client.client_id == DOVECOT_CLIENT_ID

    def introspect_token(self, token: Token) -> dict[str, Any]:
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
