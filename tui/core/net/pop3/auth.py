"""Logging in to a POP3 server: SASL PLAIN or USER/PASS with a password, SASL XOAUTH2 or
OAUTHBEARER (RFC 7628) with an OAuth2 access token.

A failed bearer login is turned into words from the server's error challenge (a base64 JSON
object the client must answer before the server says -ERR): "token expired", "scope missing",
or "account not allowed" when the server refused a token it did not complain about.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from tui.core.net.failures import SERVER_TEXT_LIMIT
from tui.core.net.pop3.errors import AuthenticationFailed, Pop3Error, ProtocolError
from tui.core.net.pop3.wire import Pop3Wire
from tui.core.text import one_line

POP3_AUTH_LINE = 255
"""RFC 5034 §4: an AUTH command with its initial response may be at most 255 octets with CRLF;
longer payloads (every real access token) go on their own line after the server's `+ `."""


class Mechanism(StrEnum):
    """How a session logged in, as `poptui fetch --test` reports it."""

    PLAIN = "PLAIN"
    USER = "USER/PASS"
    XOAUTH2 = "XOAUTH2"
    OAUTHBEARER = "OAUTHBEARER"


BEARER_MECHANISMS = (Mechanism.OAUTHBEARER, Mechanism.XOAUTH2)


@dataclass(frozen=True)
class BearerToken:
    """An OAuth2 access token to log in with; `mechanism` None picks what the server offers."""

    token: str
    mechanism: Mechanism | None = None
    missing_scope: str = ""
    """A scope the provider did not grant although mail needs it (known from the token
    response): a refusal is then worded "scope missing"."""
    renewable: bool = False
    """True when the source can issue a new token (a refresh token), so a refused token is
    tried once more with a fresh one before the refusal is believed."""
    granted_scope: str = ""
    """The scope the provider said it granted, for the words of a refusal."""
    just_issued: bool = False
    """Issued a moment ago (the form's test right after signing in): a refusal cannot mean
    "expired"."""

    def __repr__(self) -> str:  # never show the token, not even in a traceback
        return f"BearerToken(mechanism={self.mechanism})"


TokenSource = Callable[[bool], BearerToken]
"""Asked for a token right before logging in, so every new connection gets a current one;
called with True after the server refused the last one, for a newly issued token."""

Secret = str | BearerToken | TokenSource
"""What `Pop3Client.login` accepts: a password, a token, or where to get a token."""


class TokenRejected(AuthenticationFailed):
    """The server refused an OAuth2 token; `reason` is the short form of why."""

    provider_advice: ClassVar[bool] = False
    """Password advice (app passwords, "OAuth only") does not apply to a token."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        host: str = "",
        server_text: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, host=host, server_text=server_text, hint=hint)
        self.reason = reason
        """"token expired", "scope missing", "account not allowed" or "sign-in refused"."""


@dataclass(frozen=True)
class Challenge:
    """What a server's error challenge said, cleaned; empty strings for what it left out."""

    status: str = ""
    scope: str = ""

    @classmethod
    def parse(cls, text: str) -> Challenge:
        """Decode `+ <base64 JSON>`; anything malformed is an empty challenge, never an error."""
        try:
            decoded = json.loads(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError, RecursionError):
            return cls()
        if not isinstance(decoded, dict):
            return cls()
        status, scope = decoded.get("status"), decoded.get("scope")
        return cls(
            one_line(str(status), 40) if isinstance(status, str | int) else "",
            one_line(scope, 200) if isinstance(scope, str) else "",
        )


def xoauth2_payload(username: str, token: str) -> str:
    """`user=U^Aauth=Bearer T^A^A`, base64 (Google's and Microsoft's XOAUTH2)."""
    raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def oauthbearer_payload(username: str, token: str, host: str, port: int) -> str:
    """RFC 7628 §3.1: a gs2 header naming the user, then host, port and the bearer token."""
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    raw = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


ErrorFor = Callable[[str], Pop3Error]
"""Words a login -ERR with the session's facts (host, port, LOGIN-DELAY)."""


def login(
    wire: Pop3Wire, sasl: list[str], username: str, secret: Secret, error_for: ErrorFor
) -> Mechanism:
    """Log in on `wire` (`sasl` is CAPA's SASL list); returns the mechanism that worked.

    A `TokenSource` is asked for its token only now; if the server refuses a renewable token,
    a newly issued one is tried once on the same session (POP3 allows another AUTH).
    """
    source = None if isinstance(secret, str | BearerToken) else secret
    if source is not None:
        secret = source(False)
    assert isinstance(secret, str | BearerToken)
    offered = [m.upper() for m in sasl]
    if isinstance(secret, str):
        _check_sendable(wire, username, secret)
        return _login_password(wire, offered, username, secret, error_for)
    _check_sendable(wire, username, secret.token)
    mechanism = _bearer_mechanism(wire.host, offered, secret.mechanism)
    try:
        _auth_bearer(wire, mechanism, username, secret, error_for, fresh=secret.just_issued)
    except TokenRejected as refused:
        if source is None or not secret.renewable or refused.reason != "token expired":
            raise
        fresh = source(True)
        _check_sendable(wire, username, fresh.token)
        _auth_bearer(wire, mechanism, username, fresh, error_for, fresh=True)
    return mechanism


def _check_sendable(wire: Pop3Wire, username: str, password: str) -> None:
    if any(c in username or c in password for c in "\r\n\0\x01"):
        raise AuthenticationFailed(
            "The user name, password or token contains a line break or control character, "
            "which POP3 cannot send. Nothing was sent to the server.",
            host=wire.host,
        )


def _login_password(
    wire: Pop3Wire, offered: list[str], username: str, password: str, error_for: ErrorFor
) -> Mechanism:
    plain_ir = base64.b64encode(
        b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")
    ).decode("ascii")
    wire.secrets = tuple(s for s in (password, plain_ir) if s)
    try:
        if "PLAIN" in offered:
            _auth_plain(wire, plain_ir, error_for)
            return Mechanism.PLAIN
        _user_pass(wire, username, password, error_for)
        return Mechanism.USER
    finally:
        wire.secrets = ()


def _bearer_mechanism(host: str, offered: list[str], wanted: Mechanism | None) -> Mechanism:
    """The wanted mechanism, else OAUTHBEARER (the standard) or XOAUTH2 as the server offers.

    A server that lists SASL without either gets no token; one that lists no SASL at all gets
    XOAUTH2 (what Microsoft's POP servers take).
    """
    if wanted is not None:
        return wanted
    for mechanism in BEARER_MECHANISMS:
        if mechanism.value in offered:
            return mechanism
    if offered:
        raise AuthenticationFailed(
            f"{host} does not offer OAuth2 sign-in (XOAUTH2 or OAUTHBEARER); it offers "
            f"{one_line(' '.join(offered), 120)}. Nothing was sent.",
            host=host,
        )
    return Mechanism.XOAUTH2


def _auth_bearer(
    wire: Pop3Wire,
    mechanism: Mechanism,
    username: str,
    bearer: BearerToken,
    error_for: ErrorFor,
    *,
    fresh: bool,
) -> None:
    token = bearer.token
    if mechanism is Mechanism.OAUTHBEARER:
        payload = oauthbearer_payload(username, token, wire.host, wire.port)
    else:
        payload = xoauth2_payload(username, token)
    command = f"AUTH {mechanism.value}"
    wire.secrets = (token, payload)

    def refused(challenge: Challenge, text: str) -> Pop3Error:
        return _refused(wire.host, mechanism, bearer, challenge, text, error_for, fresh=fresh)

    try:
        if len(command) + 1 + len(payload) + 2 <= POP3_AUTH_LINE:
            wire.send_line(f"{command} {payload}", shown=f"{command} ********")
        else:
            wire.send_line(command)
            ok, text = wire.read_status(allow_continuation=True)
            if ok is not None:
                if ok:
                    raise wire.desync(f"+OK to a bare {command}")
                raise refused(Challenge(), text)
            wire.send_line(payload, shown="********")
        ok, text = wire.read_status(allow_continuation=True)
        if ok:
            return
        challenge = Challenge()
        if ok is None:
            challenge = Challenge.parse(text)
            # RFC 7628 §3.2.3: answer the error challenge with a dummy (^A; XOAUTH2: empty).
            wire.send_line("AQ==" if mechanism is Mechanism.OAUTHBEARER else "")
            ok, text = wire.read_status(allow_continuation=True)
            if ok is None:
                raise wire.desync("a second SASL challenge after the error challenge")
            if ok:
                return
        raise refused(challenge, text)
    finally:
        wire.secrets = ()


def _refused(
    host: str,
    mechanism: Mechanism,
    bearer: BearerToken,
    challenge: Challenge,
    text: str,
    error_for: ErrorFor,
    *,
    fresh: bool,
) -> Pop3Error:
    """The error a refused token means; [IN-USE], [SYS/TEMP]... keep their own meaning.

    Servers send one fixed challenge for every refusal (Dovecot: XOAUTH2 always
    `{"status":"401"...}`), so what poptui knows counts too: a scope it was not granted means
    "scope missing", a just-issued token refused means "account not allowed".
    """
    if not challenge.status:
        plain = error_for(text)
        if not isinstance(plain, AuthenticationFailed):
            return plain
    status = challenge.status.lower()
    if bearer.missing_scope or status in ("403", "insufficient_scope"):
        scope = bearer.missing_scope or challenge.scope
        reason = "scope missing"
    elif status in ("401", "invalid_token") and not fresh:
        reason = "token expired"
    else:
        reason = "account not allowed"
    err = _token_error(
        host, mechanism, reason, scope if reason == "scope missing" else "", text, bearer
    )
    err.in_sync = True
    return err


def _token_error(
    host: str, mechanism: Mechanism, reason: str, scope: str, text: str, bearer: BearerToken
) -> Pop3Error:
    said = one_line(text, SERVER_TEXT_LIMIT)
    server_said = f" The server said: {said}" if said else ""
    if reason == "token expired":
        return TokenRejected(
            f"{host} did not accept the sign-in token ({mechanism.value}): token expired or "
            f"revoked.{server_said}",
            reason=reason,
            host=host,
            server_text=said,
            hint="poptui asks for a new token at the next connection; if this keeps happening, "
            "sign in again.",
        )
    if reason == "scope missing":
        needed = f" (it needs: {one_line(scope, 200)})" if scope else ""
        return TokenRejected(
            f"{host} refused the sign-in token ({mechanism.value}): scope missing — the token "
            f"does not grant mail access{needed}.{server_said}",
            reason=reason,
            host=host,
            server_text=said,
            hint="Check the account's OAuth2 scope, then sign in again.",
        )
    granted = one_line(bearer.granted_scope, 200) if bearer.just_issued else ""
    if granted:
        return TokenRejected(
            f"{host} refused a sign-in token issued a moment ago ({mechanism.value}): scope "
            f"missing or account not allowed — the provider granted “{granted}”, which may not "
            f"include what this mail server needs.{server_said}",
            reason=reason,
            host=host,
            server_text=said,
            hint="Check the OAuth2 scope (the provider's mail scope), and that the user name is "
            "the address you signed in as, with POP allowed for the mailbox.",
        )
    return TokenRejected(
        f"{host} refused this account's sign-in ({mechanism.value}): account not allowed."
        f"{server_said}",
        reason=reason,
        host=host,
        server_text=said,
        hint="The user name must be the address you signed in as, and POP must be switched on "
        "for the mailbox (at Microsoft 365 an administrator may have to allow it).",
    )


def _auth_plain(wire: Pop3Wire, initial_response: str, error_for: ErrorFor) -> None:
    wire.send_line(f"AUTH PLAIN {initial_response}", shown="AUTH PLAIN ********")
    ok, text = wire.read_status(allow_continuation=True)
    if ok is None:
        # A server that ignores the RFC 5034 initial response: cancel rather than guess.
        wire.send_line("*")
        wire.read_status()
        raise ProtocolError(
            f"{wire.host} did not accept the SASL PLAIN initial response (RFC 5034)"
        )
    if not ok:
        raise error_for(text)


def _user_pass(wire: Pop3Wire, username: str, password: str, error_for: ErrorFor) -> None:
    wire.send_line(f"USER {username}")
    ok, text = wire.read_status()
    if not ok:
        raise error_for(text)
    wire.send_line(f"PASS {password}", shown="PASS ********")
    ok, text = wire.read_status()
    if not ok:
        raise error_for(text)
