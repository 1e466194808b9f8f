"""An in-process SMTP submission server (aiosmtpd) on 127.0.0.1 for the tests.

Two modes:

* ``"tls"``      -- implicit TLS from the first byte (port-465 style);
* ``"starttls"`` -- plain text, STARTTLS required before anything else (port-587
  style; MAIL/AUTH before STARTTLS are refused).

AUTH PLAIN and LOGIN are offered, checked against a user table, only over TLS and
required before MAIL. With ``token_check`` XOAUTH2 is offered too: the token goes to that
callable (the OAuth test server's introspection); a refused token gets the error challenge
(RFC 7628 style 334 with base64 JSON) before the 535. Every accepted message is recorded in
:attr:`SmtpServer.messages`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.certs import CertMaterial, make_self_signed

HOST = "127.0.0.1"
SmtpMode = Literal["tls", "starttls"]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    """The message as received (after dot-unstuffing, line endings as sent)."""
    auth_user: str | None
    tls: bool


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    user: str
    success: bool


TokenCheck = Callable[[str, str], bool]
"""(user, access token) -> whether the token is valid for that user with scope ``mail``."""


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 2:
            try:
                blob: Any = base64.b64decode(args[1], validate=True)
            except ValueError:
                return AuthResult(success=False, handled=False, message="501 5.5.2 bad base64")
        else:
            blob = await smtp.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        fields = dict(
            part.split("=", 1)
            for part in blob.decode("utf-8", "replace").split("\x01")
            if "=" in part
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        check = self._server.token_check
        ok = bool(user and token and check is not None)
        if ok:
            assert check is not None
            ok = await asyncio.to_thread(check, user, token)
        self._server._record_auth(AuthAttempt("XOAUTH2", user, ok))
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = {"status": "401", "schemes": "bearer", "scope": "mail"}
        await smtp.challenge_auth(json.dumps(error))  # the client answers with an empty line
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if isinstance(content, str):  # pragma: no cover - decode_data is off
            content = content.encode("utf-8")
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=content,
            auth_user=auth_user,
            tls=self._server.mode == "tls" or session.ssl is not None,
        )
        self._server._record(message)
        return "250 2.0.0 OK: queued"


class _PortZeroController(Controller):
    """A Controller that binds port 0 and reports the port the OS picked."""

    def _create_server(self) -> Any:
        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()

    def factory(self) -> SMTP:
        # With implicit TLS, aiosmtpd warns that AUTH does not require (STARTTLS) TLS.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()  # type: ignore[no-any-return]


@dataclass
class _State:
    messages: list[ReceivedMessage] = field(default_factory=list)
    auth_attempts: list[AuthAttempt] = field(default_factory=list)


class SmtpServer:
    """aiosmtpd in a thread. Context manager, or :meth:`start`/:meth:`stop`.

    :param mode: ``"tls"`` (implicit TLS) or ``"starttls"`` (STARTTLS required).
    :param users: login -> password table for AUTH PLAIN/LOGIN.
    :param cert: certificate to present (default: a new self-signed one for
        127.0.0.1/localhost).
    :param auth_required: refuse MAIL FROM before a successful AUTH.
    :param token_check: offer XOAUTH2, validating tokens with it.
    """

    def __init__(
        self,
        mode: SmtpMode = "starttls",
        *,
        users: Mapping[str, str] | None = None,
        cert: CertMaterial | None = None,
        auth_required: bool = True,
        token_check: TokenCheck | None = None,
    ) -> None:
        if mode not in ("tls", "starttls"):
            raise ValueError(f"unknown SMTP mode {mode!r}")
        self.mode: SmtpMode = mode
        self.users: dict[str, str] = dict(users or {})
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._own_cert = cert is None
        self.cert = cert or self._new_cert()
        self._auth_required = auth_required
        self.token_check = token_check
        self._lock = threading.Lock()
        self._state = _State()
        self._controller: _PortZeroController | None = None

    def _new_cert(self) -> CertMaterial:
        self._tmp = tempfile.TemporaryDirectory(prefix="poptui-smtp-")
        return make_self_signed(Path(self._tmp.name), name="smtp")

    # ------------------------------------------------------------------ facts
    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SMTP server is not running")
        return int(self._controller.port)

    @property
    def cert_path(self) -> Path:
        return self.cert.cert_path

    @property
    def cert_fingerprint(self) -> str:
        return self.cert.fingerprint

    def client_context(self, *, check_hostname: bool = True) -> ssl.SSLContext:
        return self.cert.client_context(check_hostname=check_hostname)

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._state.messages)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        with self._lock:
            return list(self._state.auth_attempts)

    def add_user(self, name: str, password: str) -> None:
        self.users[name] = password

    def reset(self) -> None:
        """Forget recorded messages and auth attempts."""
        with self._lock:
            self._state = _State()

    def _record_auth(self, attempt: AuthAttempt) -> None:
        with self._lock:
            self._state.auth_attempts.append(attempt)

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._state.messages.append(message)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = user in self.users and self.users[user] == password
        with self._lock:
            self._state.auth_attempts.append(AuthAttempt(mechanism, user, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    # -------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self._controller is not None:
            return self
        if self._own_cert and self._tmp is None:  # restarted after stop()
            self.cert = self._new_cert()
        context = self.cert.server_context()
        kwargs: dict[str, Any] = {
            "authenticator": self._authenticate,
            "auth_required": self._auth_required,
            # aiosmtpd only knows about STARTTLS: with implicit TLS the whole
            # connection is encrypted, so "require TLS" must be off there.
            "auth_require_tls": self.mode == "starttls",
            "auth_exclude_mechanism": [] if self.token_check else ["XOAUTH2"],
            "server_hostname": "localhost",
            "ready_timeout": 10.0,
        }
        if self.mode == "tls":
            kwargs["ssl_context"] = context
        else:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        controller = _PortZeroController(_Handler(self), hostname=HOST, port=0, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        port = self._controller.port if self._controller else "-"
        return f"<SmtpServer {self.mode} {HOST}:{port}>"
