"""tui.core.net.pop3 against a real Dovecot (started by tests/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.conftest import PopUser
from tests.servers.certs import another_fingerprint
from tests.servers.dovecot import DovecotServer
from tests.servers.tcp_proxy import TcpProxy
from tui.core.net.pop3 import (
    AuthenticationFailed,
    CertificateProblem,
    CommandRejected,
    ConnectionLost,
    Pop3Client,
    ProtocolError,
    StartTlsUnavailable,
    UntrustedCertificate,
    is_auth_failure,
)
from tui.core.settings import Security

pytestmark = pytest.mark.dovecot


def crlf(raw: bytes) -> bytes:
    """What POP3 serves for a Maildir file: LF line ends become CRLF."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message(n: int, body: bytes = b"Hello.\n") -> bytes:
    return (
        f"From: Sender <s{n}@example.org>\nTo: you@example.com\nSubject: message {n}\n"
        f"Message-ID: <m{n}@example.org>\n\n"
    ).encode() + body


def pinned(dovecot: DovecotServer, security: Security = Security.SSL) -> Pop3Client:
    port = {
        Security.SSL: dovecot.tls_port,
        Security.STARTTLS: dovecot.starttls_port,
        Security.NONE: dovecot.plain_port,
    }[security]
    return Pop3Client.connect(
        dovecot.host, port, security, pinned_fingerprint=dovecot.cert_fingerprint, timeout=10
    )


# --------------------------------------------------------------------- certificates


def test_untrusted_self_signed_certificate(dovecot: DovecotServer) -> None:
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(dovecot.host, dovecot.tls_port, Security.SSL, timeout=10)
    cert = info.value.certificate
    assert cert is not None
    assert cert.sha256 == dovecot.cert_fingerprint
    assert cert.problem is CertificateProblem.SELF_SIGNED
    assert "127.0.0.1" in cert.san and "localhost" in cert.san
    assert not is_auth_failure(info.value)


def test_untrusted_over_starttls_too(dovecot: DovecotServer) -> None:
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(dovecot.host, dovecot.starttls_port, Security.STARTTLS, timeout=10)
    assert info.value.certificate is not None
    assert info.value.certificate.sha256 == dovecot.cert_fingerprint


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_pinned_fingerprint_works(
    dovecot: DovecotServer, pop_user: PopUser, security: Security
) -> None:
    dovecot.deliver(pop_user.name, message(1))
    with pinned(dovecot, security) as client:
        assert client.certificate is not None
        assert client.certificate.sha256 == dovecot.cert_fingerprint
        client.login(*pop_user)
        assert client.stat()[0] == 1
        client.quit()


def test_pin_in_another_form_works(dovecot: DovecotServer, pop_user: PopUser) -> None:
    pin = dovecot.cert_fingerprint.replace(":", "").lower()
    with Pop3Client.connect(
        dovecot.host, dovecot.tls_port, Security.SSL, pinned_fingerprint=pin
    ) as client:
        client.login(*pop_user)
        client.quit()


def test_wrong_pin_is_refused(dovecot: DovecotServer) -> None:
    wrong = another_fingerprint(dovecot.cert_fingerprint)
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(dovecot.host, dovecot.tls_port, Security.SSL, pinned_fingerprint=wrong)
    assert info.value.certificate is not None
    assert info.value.certificate.problem is CertificateProblem.PIN_MISMATCH


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_ca_file_verifies(
    dovecot: DovecotServer, pop_user: PopUser, host: str, security: Security
) -> None:
    port = dovecot.tls_port if security is Security.SSL else dovecot.starttls_port
    with Pop3Client.connect(host, port, security, ca_file=dovecot.cert_path) as client:
        client.login(*pop_user)
        client.quit()


def test_hostname_mismatch_refused_even_with_trusted_cert(
    dovecot_wrong_host: DovecotServer,
) -> None:
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(
            dovecot_wrong_host.host,
            dovecot_wrong_host.tls_port,
            Security.SSL,
            ca_file=dovecot_wrong_host.cert_path,
        )
    cert = info.value.certificate
    assert cert is not None
    assert cert.problem is CertificateProblem.HOSTNAME_MISMATCH
    assert cert.san == ("wrong.example",)
    assert cert.sha256 == dovecot_wrong_host.cert_fingerprint


def test_starttls_required_but_not_offered(dovecot: DovecotServer) -> None:
    with pytest.raises(StartTlsUnavailable):
        Pop3Client.connect(dovecot.host, dovecot.plain_port, Security.STARTTLS, timeout=10)


def test_starttls_stripped_by_a_man_in_the_middle(
    dovecot: DovecotServer, tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    proxy = tcp_proxy(dovecot.host, dovecot.starttls_port)
    proxy.strip_capability("STLS")
    with pytest.raises(StartTlsUnavailable):
        Pop3Client.connect(proxy.host, proxy.port, Security.STARTTLS, timeout=10)
    assert b"USER" not in proxy.client_bytes and b"AUTH" not in proxy.client_bytes


def test_plain_only_when_chosen(dovecot: DovecotServer, pop_user: PopUser) -> None:
    with Pop3Client.connect(dovecot.host, dovecot.plain_port, Security.NONE) as client:
        assert client.certificate is None
        client.login(*pop_user)
        client.quit()


# ------------------------------------------------------------------- authentication


def test_capabilities_before_and_after_login(dovecot: DovecotServer, pop_user: PopUser) -> None:
    client = Pop3Client.connect(dovecot.host, dovecot.starttls_port, Security.NONE)
    assert "STLS" in client.capabilities
    assert "PLAIN" in client.capabilities["SASL"]
    client.login(*pop_user)
    assert {"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"} <= set(client.capabilities)
    assert client.supports_pipelining and client.supports_uidl
    client.quit()


def test_wrong_password(dovecot: DovecotServer, pop_user: PopUser) -> None:
    with pinned(dovecot) as client:
        with pytest.raises(AuthenticationFailed) as info:
            client.login(pop_user.name, "not-" + pop_user.password)
        assert "[AUTH]" in info.value.server_text
        assert pop_user.password not in str(info.value)
        assert client.usable
        client.quit()


# ---------------------------------------------------------------------------- mail


def test_retr_is_byte_exact(dovecot: DovecotServer, pop_user: PopUser) -> None:
    delivered = [
        message(1),
        message(2, b".leading dot\n..two\n.\nlast\n"),
        message(3, b"x" * 5000 + b"\n" + b"y" * 70_000 + b"\n"),
        message(4, (b"0123456789" * 7 + b"\n") * 40_000),  # ~2.8 MB
        message(5, "caf\u00e9 \u2603\n".encode()),
    ]
    for raw in delivered:
        dovecot.deliver(pop_user.name, raw)
    with pinned(dovecot) as client:
        client.login(*pop_user)
        sizes = client.list_sizes()
        assert sizes == {n: len(crlf(raw)) for n, raw in enumerate(delivered, 1)}
        got = dict(client.retrieve(sorted(sizes), expected_sizes=sizes, batch=2))
        client.quit()
    assert [got[n] for n in sorted(got)] == [crlf(raw) for raw in delivered]


def test_message_without_final_newline(dovecot: DovecotServer, pop_user: PopUser) -> None:
    # Dovecot's LIST counts the stored bytes, but RETR adds the missing CRLF: two more bytes
    # than announced, which the size check must accept.
    dovecot.deliver(pop_user.name, message(1, b"no newline at the end"))
    with pinned(dovecot) as client:
        client.login(*pop_user)
        sizes = client.list_sizes()
        [(_, raw)] = list(client.retrieve([1], expected_sizes=sizes))
        client.quit()
    assert raw == crlf(message(1, b"no newline at the end")) + b"\r\n"
    assert len(raw) == sizes[1] + 2


def test_uidl_and_pipelined_retrieve(dovecot: DovecotServer, pop_user: PopUser) -> None:
    delivered = [message(n) for n in range(1, 121)]
    dovecot.deliver_many(pop_user.name, delivered)
    with pinned(dovecot) as client:
        client.login(*pop_user)
        uidls = client.uidl()
        assert [n for n, _ in uidls] == list(range(1, 121))
        assert all(re.fullmatch(r"[0-9A-F]{16}", uid, re.IGNORECASE) for _, uid in uidls)
        assert len({uid for _, uid in uidls}) == 120
        got = list(client.retrieve(range(1, 121), expected_sizes=client.list_sizes(), batch=25))
        assert [n for n, _ in got] == list(range(1, 121))
        assert [raw for _, raw in got] == [crlf(m) for m in delivered]
        client.quit()


def test_retr_of_missing_message(dovecot: DovecotServer, pop_user: PopUser) -> None:
    dovecot.deliver(pop_user.name, message(1))
    with pinned(dovecot) as client:
        client.login(*pop_user)
        with pytest.raises(CommandRejected) as info:
            list(client.retrieve([1, 7]))
        assert info.value.number == 7
        assert client.usable
        assert client.top(1) == crlf(message(1)).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        client.quit()


def test_dele_then_quit_removes(dovecot: DovecotServer, pop_user: PopUser) -> None:
    delivered = [message(n) for n in range(1, 6)]
    dovecot.deliver_many(pop_user.name, delivered)
    with pinned(dovecot) as client:
        client.login(*pop_user)
        for number, _raw in client.retrieve([1, 2, 3]):
            client.dele(number)  # deferred while pipelined RETRs are in flight
        client.quit()
    assert dovecot.maildir_messages(pop_user.name) == delivered[3:]


def test_dele_many(dovecot: DovecotServer, pop_user: PopUser) -> None:
    delivered = [message(n) for n in range(1, 131)]
    dovecot.deliver_many(pop_user.name, delivered)
    with pinned(dovecot) as client:
        client.login(*pop_user)
        client.dele_many(range(1, 121))
        assert client.stat()[0] == 10
        client.quit()
    assert dovecot.maildir_messages(pop_user.name) == delivered[120:]


def test_abort_after_dele_removes_nothing(dovecot: DovecotServer, pop_user: PopUser) -> None:
    delivered = [message(n) for n in range(1, 4)]
    dovecot.deliver_many(pop_user.name, delivered)
    client = pinned(dovecot)
    client.login(*pop_user)
    list(client.retrieve([1, 2, 3]))
    client.dele_many([1, 2, 3])
    client.abort()
    assert dovecot.maildir_messages(pop_user.name) == delivered
    # A later session still sees them all.
    with pinned(dovecot) as again:
        again.login(*pop_user)
        assert again.stat()[0] == 3
        again.quit()


def test_connection_cut_mid_message(
    dovecot: DovecotServer, pop_user: PopUser, tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    dovecot.deliver(pop_user.name, message(1, b"z" * 200_000 + b"\n"))
    proxy = tcp_proxy(dovecot.host, dovecot.plain_port)
    proxy.cut_after_server_bytes(50_000, after=b" octets\r\n")
    with Pop3Client.connect(proxy.host, proxy.port, Security.NONE, timeout=10) as client:
        client.login(*pop_user)
        got: list[tuple[int, bytes]] = []
        with pytest.raises(ConnectionLost):
            got.extend(client.retrieve([1]))
        assert got == []
        with pytest.raises(ProtocolError):
            client.dele(1)
    assert b"DELE" not in proxy.client_bytes and b"QUIT" not in proxy.client_bytes
    assert len(dovecot.maildir_messages(pop_user.name)) == 1
