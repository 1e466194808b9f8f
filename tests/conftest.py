"""Shared fixtures: real servers the suite starts and stops itself on 127.0.0.1.

Servers are session-scoped (started once, on first use). A missing server program
FAILS the tests that need it, naming the Debian package to install -- it never
skips: a skipped test must not count as a pass.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

import pytest

from tests.servers.certs import CertMaterial, make_ca_and_leaf, make_self_signed
from tests.servers.dovecot import DovecotServer, ServerBinaryMissing
from tests.servers.mailutils import MailutilsServer
from tests.servers.postgres import PostgresServer
from tests.servers.smtp import SmtpServer
from tests.servers.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from tests.servers.oauth_server import OAuthServer

DOVECOT_USER = "alice"
DOVECOT_PASSWORD = "secret"
SMTP_USER = "alice@example.test"
SMTP_PASSWORD = "smtp-secret"


class PopUser(NamedTuple):
    name: str
    password: str


class PgDatabase(NamedTuple):
    name: str
    user: str
    password: str
    url: str


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Stoppable)


def _start_or_fail(server: _S, start: Callable[[], object]) -> _S:
    """Start *server*; a missing program fails the test with the package to install."""
    try:
        start()
    except ServerBinaryMissing as exc:
        server.stop()
        missing = str(exc)
    except BaseException:
        server.stop()
        raise
    else:
        return server
    pytest.fail(missing, pytrace=False)


def _new_postgres() -> PostgresServer:
    try:
        return PostgresServer()  # looks for the binaries
    except ServerBinaryMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- certificates
@pytest.fixture(scope="session")
def cert_material(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    """A self-signed certificate for 127.0.0.1/localhost (paths + SHA-256 fingerprint)."""
    return make_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def ca_cert_material(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    """A private CA (``ca_path``) and a 127.0.0.1/localhost leaf signed by it."""
    return make_ca_and_leaf(tmp_path_factory.mktemp("ca-certs"))


@pytest.fixture(scope="session")
def wrong_host_cert_material(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    """A self-signed certificate for ``wrong.example`` only (host-name mismatch)."""
    return make_self_signed(tmp_path_factory.mktemp("wrong-certs"), san=("wrong.example",))


# ---------------------------------------------------------------------- dovecot
@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot with user ``alice``/``secret`` (shared: call ``clear("alice")``).

    Ports: ``plain_port`` (no STLS), ``starttls_port`` (STLS), ``tls_port`` (implicit TLS).
    """
    server = DovecotServer()
    server.add_user(DOVECOT_USER, DOVECOT_PASSWORD)
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_wrong_host() -> Iterator[DovecotServer]:
    """A second Dovecot whose certificate names only ``wrong.example``; user alice/secret."""
    server = DovecotServer(cert_san=("wrong.example",))
    server.add_user(DOVECOT_USER, DOVECOT_PASSWORD)
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """The local OAuth2 authorization server (authlib): device, code + PKCE, refresh, introspection.

    Shared: set ``token_lifetime`` back to 3600 if a test changes it.
    """
    from tests.servers.oauth_server import OAuthServer  # flask/authlib: only for these tests

    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_oauth(oauth_server: OAuthServer) -> Iterator[DovecotServer]:
    """A Dovecot offering XOAUTH2 and OAUTHBEARER, checked by its ``oauth2`` passdb against
    ``oauth_server``'s introspection (besides PLAIN for the passwords of its users)."""
    from tests.servers.oauth_server import DOVECOT_CLIENT_ID, DOVECOT_CLIENT_SECRET

    server = DovecotServer(
        oauth2_introspection=(
            oauth_server.introspection_url,
            DOVECOT_CLIENT_ID,
            DOVECOT_CLIENT_SECRET,
        )
    )
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oauth_user(dovecot_oauth: DovecotServer) -> Iterator[str]:
    """A fresh mailbox on ``dovecot_oauth`` named by an address (the token's ``email``)."""
    name = f"{_unique('u')}@example.test"
    dovecot_oauth.add_user(name, secrets.token_urlsafe(12))
    try:
        yield name
    finally:
        dovecot_oauth.clear(name)
        dovecot_oauth.remove_user(name)


@pytest.fixture
def pop_user(dovecot: DovecotServer) -> Iterator[PopUser]:
    """A fresh Dovecot user with a random password and an empty mailbox: ``(name, password)``."""
    user = PopUser(_unique("u"), secrets.token_urlsafe(12))
    dovecot.add_user(user.name, user.password)
    try:
        yield user
    finally:
        dovecot.clear(user.name)
        dovecot.remove_user(user.name)


# -------------------------------------------------------------------- mailutils
@pytest.fixture(scope="session")
def mailutils() -> Iterator[MailutilsServer]:
    """A running GNU Mailutils pop3d, the second real POP3 server (users: ``mailutils_user``).

    Ports as Dovecot's: ``plain_port`` (no STLS), ``starttls_port``, ``tls_port``.
    """
    server = MailutilsServer()
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailutils_user(mailutils: MailutilsServer) -> Iterator[PopUser]:
    """A fresh pop3d user and empty mailbox: ``(login name with @domain, password)``."""
    name = _unique("u")
    password = secrets.token_urlsafe(12)
    mailutils.add_user(name, password)
    try:
        yield PopUser(mailutils.login(name), password)
    finally:
        mailutils.clear(name)
        mailutils.remove_user(name)


# --------------------------------------------------------------------- postgres
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL (superuser ``postgres``, trusted on socket and 127.0.0.1)."""
    server = _new_postgres()
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(postgres_server: PostgresServer) -> Iterator[PgDatabase]:
    """A fresh database owned by a fresh password role: ``(name, user, password, url)``."""
    user, password = _unique("r"), secrets.token_urlsafe(12)
    name = _unique("db")
    postgres_server.create_role(user, password)
    postgres_server.create_database(name, owner=user)
    try:
        yield PgDatabase(name, user, password, postgres_server.url(name, user, password))
    finally:
        postgres_server.drop_database(name)
        postgres_server.drop_role(user)


# ------------------------------------------------------------------------- smtp
@pytest.fixture(scope="session")
def smtp_server_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """aiosmtpd with implicit TLS (465-style); AUTH user ``alice@example.test``/``smtp-secret``.

    Shared: call ``reset()`` or look only at messages you sent.
    """
    cert = make_self_signed(tmp_path_factory.mktemp("smtp-tls"), name="smtp")
    server = SmtpServer("tls", users={SMTP_USER: SMTP_PASSWORD}, cert=cert)
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_server_starttls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """aiosmtpd with STARTTLS required (587-style); same user table as ``smtp_server_tls``."""
    cert = make_self_signed(tmp_path_factory.mktemp("smtp-starttls"), name="smtp")
    server = SmtpServer("starttls", users={SMTP_USER: SMTP_PASSWORD}, cert=cert)
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------ proxy
@pytest.fixture
def tcp_proxy() -> Iterator[Callable[[str, int], TcpProxy]]:
    """Factory: ``tcp_proxy(host, port)`` -> a started :class:`TcpProxy`, stopped after the test."""
    proxies: list[TcpProxy] = []

    def make(target_host: str, target_port: int) -> TcpProxy:
        proxy = TcpProxy(target_host, target_port).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.stop()
