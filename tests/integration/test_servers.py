"""Smoke tests for the real servers the suite runs (tests/servers/*, tests/conftest.py).

They prove each helper works with stdlib/psycopg2 clients, independent of poptui.
"""

from __future__ import annotations

import base64
import hashlib
import poplib
import smtplib
import socket
import ssl
import time
from collections.abc import Callable

import psycopg2
import psycopg2.errors
import pytest

from tests.conftest import (
    DOVECOT_PASSWORD,
    DOVECOT_USER,
    SMTP_PASSWORD,
    SMTP_USER,
    PgDatabase,
    PopUser,
)
from tests.servers.certs import CertMaterial, fingerprint_sha256
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresError, PostgresServer
from tests.servers.smtp import SmtpServer
from tests.servers.tcp_proxy import TcpProxy

ProxyFactory = Callable[[str, int], TcpProxy]


def _message(n: int, body: bytes = b"") -> bytes:
    return (
        b"From: sender@example.test\r\nTo: alice@example.test\r\n"
        b"Subject: test %d\r\nMessage-ID: <m%d@example.test>\r\n\r\nbody %d\r\n" % (n, n, n)
    ) + body


def _retr(client: poplib.POP3, which: int) -> bytes:
    _resp, lines, _octets = client.retr(which)
    return b"\r\n".join(lines) + b"\r\n"


def _login(client: poplib.POP3, user: PopUser | tuple[str, str]) -> None:
    client.user(user[0])
    client.pass_(user[1])


# ------------------------------------------------------------------------ certs
def test_cert_material_fingerprint_and_trust(
    cert_material: CertMaterial, ca_cert_material: CertMaterial
) -> None:
    for material in (cert_material, ca_cert_material):
        assert material.fingerprint == fingerprint_sha256(material.cert_der)
        digest = hashlib.sha256(material.cert_der).hexdigest().upper()
        assert material.fingerprint.replace(":", "") == digest
        assert len(material.fingerprint) == 32 * 3 - 1
        assert material.key_path.stat().st_mode & 0o077 == 0
    assert cert_material.ca_path is None
    assert ca_cert_material.ca_path is not None
    assert ca_cert_material.trust_path == ca_cert_material.ca_path
    assert cert_material.san == ("localhost", "127.0.0.1")


# ---------------------------------------------------------------------- dovecot
@pytest.mark.dovecot
def test_plain_port_no_stls_retr_dele_quit(dovecot: DovecotServer, pop_user: PopUser) -> None:
    first, second = _message(1), _message(2)
    dovecot.deliver_many(pop_user.name, [first, second])

    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    capa = client.capa()
    assert "STLS" not in capa and "UIDL" in capa
    _login(client, pop_user)
    assert client.stat()[0] == 2
    uidls = client.uidl()[1]
    assert len(uidls) == 2
    assert _retr(client, 1) == first
    client.dele(1)
    client.quit()

    assert dovecot.maildir_messages(pop_user.name) == [second]
    # The server itself refuses STLS there (not only poplib's CAPA check).
    with socket.create_connection((dovecot.host, dovecot.plain_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"+OK")
        sock.sendall(b"STLS\r\n")
        assert reader.readline().startswith(b"-ERR")


@pytest.mark.dovecot
def test_drop_without_quit_deletes_nothing(dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, _message(1))
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    _login(client, pop_user)
    uidl_before = client.uidl(1)
    client.dele(1)
    client.close()  # no QUIT

    assert len(dovecot.maildir_messages(pop_user.name)) == 1
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    _login(client, pop_user)
    assert client.uidl(1) == uidl_before  # UIDL persists across sessions
    client.quit()


@pytest.mark.dovecot
def test_starttls_port(dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, _message(7))
    client = poplib.POP3(dovecot.host, dovecot.starttls_port, timeout=10)
    assert "STLS" in client.capa()
    client.stls(dovecot.client_context())
    capa = client.capa()
    assert "STLS" not in capa and "UIDL" in capa
    _login(client, pop_user)
    assert _retr(client, 1) == _message(7)
    client.quit()


@pytest.mark.dovecot
def test_implicit_tls_port(dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, _message(3))
    client = poplib.POP3_SSL(
        dovecot.host, dovecot.tls_port, context=dovecot.client_context(), timeout=10
    )
    assert isinstance(client.sock, ssl.SSLSocket)
    der = client.sock.getpeercert(binary_form=True)
    assert der is not None and fingerprint_sha256(der) == dovecot.cert_fingerprint
    _login(client, pop_user)
    assert _retr(client, 1) == _message(3)
    client.quit()


@pytest.mark.dovecot
def test_shared_user_and_wrong_password(dovecot: DovecotServer) -> None:
    dovecot.clear(DOVECOT_USER)
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    client.user(DOVECOT_USER)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("not-" + DOVECOT_PASSWORD)
    client.close()
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    _login(client, (DOVECOT_USER, DOVECOT_PASSWORD))
    assert client.stat() == (0, 0)
    client.quit()


@pytest.mark.dovecot
def test_password_change_and_odd_password(dovecot: DovecotServer, pop_user: PopUser) -> None:
    new_password = "colon:space quote' é"
    dovecot.add_user(pop_user.name, new_password)
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    client.user(pop_user.name)
    with pytest.raises(poplib.error_proto):
        client.pass_(pop_user.password)
    client.close()
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    client.encoding = "utf-8"
    _login(client, (pop_user.name, new_password))
    client.quit()


@pytest.mark.dovecot
def test_clear_with_index_reset_changes_uidls(dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, _message(1))
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    _login(client, pop_user)
    before = client.uidl(1)
    client.quit()
    dovecot.clear(pop_user.name, reset_index=True)
    assert dovecot.maildir_messages(pop_user.name) == []
    dovecot.deliver(pop_user.name, _message(1))
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    _login(client, pop_user)
    assert client.uidl(1) != before
    client.quit()


@pytest.mark.dovecot
def test_wrong_host_certificate(dovecot_wrong_host: DovecotServer) -> None:
    server = dovecot_wrong_host
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        poplib.POP3_SSL(server.host, server.tls_port, context=server.client_context(), timeout=10)
    # The certificate itself is fine: only the host name is wrong.
    client = poplib.POP3_SSL(
        server.host,
        server.tls_port,
        context=server.client_context(check_hostname=False),
        timeout=10,
    )
    _login(client, (DOVECOT_USER, DOVECOT_PASSWORD))
    client.quit()


# ------------------------------------------------------------------------ proxy
@pytest.mark.dovecot
def test_proxy_strips_stls_and_sees_clear_password(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: ProxyFactory
) -> None:
    proxy = tcp_proxy(dovecot.host, dovecot.starttls_port)
    proxy.strip_capability("STLS")
    client = poplib.POP3(proxy.host, proxy.port, timeout=10)
    assert "STLS" not in client.capa()
    _login(client, pop_user)
    assert "STLS" not in client.capa()
    client.quit()
    assert b"PASS " + pop_user.password.encode() in proxy.client_bytes
    assert b"\r\nSTLS\r\n" in proxy.server_bytes  # the server did offer it


@pytest.mark.dovecot
def test_proxy_password_never_in_clear_over_stls(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: ProxyFactory
) -> None:
    proxy = tcp_proxy(dovecot.host, dovecot.starttls_port)
    client = poplib.POP3(proxy.host, proxy.port, timeout=10)
    client.stls(dovecot.client_context())
    _login(client, pop_user)
    client.quit()
    assert proxy.client_bytes.startswith(b"CAPA\r\nSTLS\r\n")
    assert pop_user.password.encode() not in proxy.client_bytes
    assert pop_user.name.encode() not in proxy.client_bytes


@pytest.mark.dovecot
def test_proxy_strip_follows_pipelining_and_auth(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: ProxyFactory
) -> None:
    """Raw dialogue: pipelined CAPAs, AUTH PLAIN continuation, multi-line UIDL, then CAPA."""
    dovecot.deliver(pop_user.name, _message(1, b"CAPA\r\nSTLS\r\n"))
    proxy = tcp_proxy(dovecot.host, dovecot.starttls_port)
    proxy.strip_capability("STLS", "SASL")
    token = base64.b64encode(f"\0{pop_user.name}\0{pop_user.password}".encode())
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"+OK")

        def multiline() -> list[bytes]:
            assert reader.readline().startswith(b"+OK")
            lines = []
            while (line := reader.readline()) != b".\r\n":
                lines.append(line)
            return lines

        # UIDL before login fails: an -ERR reply to a multi-line command is one line.
        sock.sendall(b"CAPA\r\nUIDL\r\nCAPA\r\n")
        first_caps = multiline()
        assert reader.readline().startswith(b"-ERR")
        for caps in (first_caps, multiline()):
            assert b"STLS\r\n" not in caps and not any(c.startswith(b"SASL") for c in caps)
            assert b"UIDL\r\n" in caps
        sock.sendall(b"AUTH PLAIN\r\n")
        assert reader.readline().startswith(b"+ ")
        sock.sendall(token + b"\r\n")
        assert reader.readline().startswith(b"+OK")
        sock.sendall(b"UIDL\r\nRETR 1\r\nCAPA\r\n")
        assert len(multiline()) == 1
        body = multiline()
        assert b"STLS\r\n" in body  # message content is never rewritten
        assert b"STLS\r\n" not in multiline()
        sock.sendall(b"QUIT\r\n")
        assert reader.readline().startswith(b"+OK")


@pytest.mark.dovecot
def test_proxy_cut_mid_retr(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: ProxyFactory
) -> None:
    big = _message(2, b"x" * 78 + b"\r\n") + b"".join(
        b"line %06d " % i + b"y" * 60 + b"\r\n" for i in range(3000)
    )
    dovecot.deliver_many(pop_user.name, [_message(1), big])
    proxy = tcp_proxy(dovecot.host, dovecot.plain_port)
    proxy.cut_after_server_bytes(5000, after=b"octets\r\n", connections=1)

    client = poplib.POP3(proxy.host, proxy.port, timeout=10)
    _login(client, pop_user)
    client.dele(1)
    with pytest.raises((OSError, poplib.error_proto)):
        client.retr(2)
    client.close()

    assert proxy.cut_count == 1
    first = proxy.connections[0]
    marker_end = bytes(first.server_bytes).index(b"octets\r\n") + len(b"octets\r\n")
    assert first.forwarded_server_bytes == marker_end + 5000
    assert len(first.server_bytes) > first.forwarded_server_bytes
    # No QUIT reached the server: the DELE was not applied.
    assert len(dovecot.maildir_messages(pop_user.name)) == 2

    # The rule applied to one connection only: the next one is whole.
    client = poplib.POP3(proxy.host, proxy.port, timeout=10)
    _login(client, pop_user)
    assert _retr(client, 2) == big
    client.quit()
    assert proxy.cut_count == 1


@pytest.mark.dovecot
def test_proxy_cut_from_connection_start(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: ProxyFactory
) -> None:
    proxy = tcp_proxy(dovecot.host, dovecot.plain_port)
    proxy.cut_after_server_bytes(10)
    received = b""
    try:  # under load the reset can even arrive while the connection is being set up
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
            while chunk := sock.recv(100):
                received += chunk
    except ConnectionResetError:
        pass
    deadline = time.monotonic() + 5
    while proxy.cut_count < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The greeting is cut after 10 bytes (a reset may even discard those).
    assert len(received) <= 10 and b"+OK Dovecot".startswith(received)
    assert proxy.connections[0].forwarded_server_bytes == 10
    assert proxy.cut_count == 1


# --------------------------------------------------------------------- postgres
@pytest.mark.postgres
def test_postgres_roles_and_privileges(postgres_server: PostgresServer) -> None:
    pg = postgres_server
    pg.create_role("smoke_owner", "owner pw:'1")
    pg.create_role("smoke_reader", "reader-pw")
    pg.create_database("smoke_db", owner="smoke_owner")
    try:
        with psycopg2.connect(pg.url("smoke_db", "smoke_owner", "owner pw:'1")) as conn:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE mail (id serial PRIMARY KEY, subject text)")
                cur.execute("INSERT INTO mail (subject) VALUES ('hello')")
            conn.commit()
        conn.close()

        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(pg.url("smoke_db", "smoke_reader", "wrong"))

        reader = psycopg2.connect(pg.url("smoke_db", "smoke_reader", "reader-pw"))
        try:
            with reader.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT subject FROM mail")
            reader.rollback()
            pg.psql("GRANT SELECT ON mail TO smoke_reader", "smoke_db", "smoke_owner")
            with reader.cursor() as cur:
                cur.execute("SELECT subject FROM mail")
                assert cur.fetchall() == [("hello",)]
        finally:
            reader.close()

        assert pg.psql("SELECT count(*) FROM mail", "smoke_db", "smoke_reader") == "1"
        assert pg.psql("SELECT current_user", "smoke_db", "smoke_reader", password="reader-pw") == (
            "smoke_reader"
        )
        with pytest.raises(PostgresError, match="permission denied"):
            pg.psql("DELETE FROM mail", "smoke_db", "smoke_reader")
        with psycopg2.connect(pg.url()) as su:  # superuser over TCP without password
            assert su.server_version >= 150000
        su.close()
    finally:
        pg.drop_database("smoke_db")
        pg.drop_role("smoke_reader")
        pg.drop_role("smoke_owner")


@pytest.mark.postgres
def test_pg_database_fixture(pg_database: PgDatabase) -> None:
    with psycopg2.connect(pg_database.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_user")
        assert cur.fetchone() == (pg_database.name, pg_database.user)
    conn.close()


# ------------------------------------------------------------------------- smtp
def test_smtp_starttls_auth_and_record(smtp_server_starttls: SmtpServer) -> None:
    server = smtp_server_starttls
    server.reset()
    client = smtplib.SMTP(server.host, server.port, timeout=10)
    client.ehlo()
    assert client.has_extn("starttls")
    assert not client.has_extn("auth")  # no AUTH before TLS
    with pytest.raises(smtplib.SMTPException):
        client.login(SMTP_USER, SMTP_PASSWORD)
    client.starttls(context=server.client_context())
    client.ehlo()
    assert client.has_extn("auth")
    client.login(SMTP_USER, SMTP_PASSWORD)
    client.sendmail(SMTP_USER, ["bob@example.test"], b"Subject: via 587\r\n\r\n.hi\r\n")
    client.quit()

    (message,) = server.messages
    assert message.mail_from == SMTP_USER
    assert message.rcpt_tos == ("bob@example.test",)
    assert message.auth_user == SMTP_USER
    assert message.tls
    assert b"Subject: via 587" in message.data and b"\r\n.hi\r\n" in message.data


def test_smtp_implicit_tls_auth_and_record(smtp_server_tls: SmtpServer) -> None:
    server = smtp_server_tls
    server.reset()
    client = smtplib.SMTP_SSL(server.host, server.port, context=server.client_context(), timeout=10)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login(SMTP_USER, "wrong")
    client.login(SMTP_USER, SMTP_PASSWORD)
    client.sendmail(SMTP_USER, ["bob@example.test"], b"Subject: via 465\r\n\r\nhi\r\n")
    client.quit()

    (message,) = server.messages
    assert message.auth_user == SMTP_USER and message.tls
    assert any(a.success for a in server.auth_attempts)
    assert any(not a.success for a in server.auth_attempts)


def test_smtp_requires_auth(smtp_server_tls: SmtpServer) -> None:
    server = smtp_server_tls
    server.reset()
    client = smtplib.SMTP_SSL(server.host, server.port, context=server.client_context(), timeout=10)
    with pytest.raises(smtplib.SMTPSenderRefused):
        client.sendmail(SMTP_USER, ["bob@example.test"], b"Subject: x\r\n\r\nx\r\n")
    client.quit()
    assert server.messages == []
