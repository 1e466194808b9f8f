"""The outgoing-server check against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.conftest import SMTP_PASSWORD, SMTP_USER
from tests.servers.smtp import SmtpServer
from tui.core.net.pop3 import CertificateProblem, UntrustedCertificate
from tui.core.net.smtp import SmtpCheckFailed, check_outgoing
from tui.core.settings import Security


def test_implicit_tls_login_with_pinned_certificate(smtp_server_tls: SmtpServer) -> None:
    result = check_outgoing(
        smtp_server_tls.host,
        smtp_server_tls.port,
        Security.SSL,
        SMTP_USER,
        SMTP_PASSWORD,
        pinned_fingerprint=smtp_server_tls.cert_fingerprint,
    )
    assert result.certificate is not None
    assert result.certificate.sha256 == smtp_server_tls.cert_fingerprint
    assert "PLAIN" in result.auth_mechanisms
    assert "login OK" in result.summary()
    assert smtp_server_tls.messages == [] or all(
        SMTP_PASSWORD.encode() not in m.data for m in smtp_server_tls.messages
    )


def test_starttls_login(smtp_server_starttls: SmtpServer) -> None:
    result = check_outgoing(
        smtp_server_starttls.host,
        smtp_server_starttls.port,
        Security.STARTTLS,
        SMTP_USER,
        SMTP_PASSWORD,
        pinned_fingerprint=smtp_server_starttls.cert_fingerprint,
    )
    assert result.security is Security.STARTTLS


def test_wrong_password_is_an_auth_failure(smtp_server_starttls: SmtpServer) -> None:
    with pytest.raises(SmtpCheckFailed) as caught:
        check_outgoing(
            smtp_server_starttls.host,
            smtp_server_starttls.port,
            Security.STARTTLS,
            SMTP_USER,
            "wrong-smtp-password",
            pinned_fingerprint=smtp_server_starttls.cert_fingerprint,
        )
    assert caught.value.auth
    assert "rejected the username or password" in caught.value.message
    assert "wrong-smtp-password" not in caught.value.message


def test_untrusted_certificate_reports_its_fingerprint(smtp_server_tls: SmtpServer) -> None:
    with pytest.raises(UntrustedCertificate) as caught:
        check_outgoing(
            smtp_server_tls.host, smtp_server_tls.port, Security.SSL, SMTP_USER, SMTP_PASSWORD
        )
    assert caught.value.certificate is not None
    assert caught.value.certificate.sha256 == smtp_server_tls.cert_fingerprint


def test_tls_against_a_starttls_port_is_a_clear_error(smtp_server_starttls: SmtpServer) -> None:
    with pytest.raises((SmtpCheckFailed, UntrustedCertificate)) as caught:
        check_outgoing(
            smtp_server_starttls.host,
            smtp_server_starttls.port,
            Security.SSL,
            SMTP_USER,
            SMTP_PASSWORD,
            pinned_fingerprint=smtp_server_starttls.cert_fingerprint,
            timeout=3,
        )
    assert str(smtp_server_starttls.port) in str(caught.value)


def test_refused_port_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmtpCheckFailed, match="connection refused"):
        check_outgoing("127.0.0.1", port, Security.SSL, "u", "p", timeout=3)


def test_pinned_fingerprint_mismatch_names_the_problem(smtp_server_tls: SmtpServer) -> None:
    with pytest.raises(UntrustedCertificate) as caught:
        check_outgoing(
            smtp_server_tls.host,
            smtp_server_tls.port,
            Security.SSL,
            SMTP_USER,
            SMTP_PASSWORD,
            pinned_fingerprint="AB" * 32,
        )
    certificate = caught.value.certificate
    assert certificate is not None
    assert certificate.sha256 == smtp_server_tls.cert_fingerprint
    assert certificate.problem is CertificateProblem.PIN_MISMATCH
    assert "has changed" in caught.value.message
    assert not smtp_server_tls.messages


def test_refusing_greeting_is_quoted_cleaned() -> None:
    """A server that answers 554 with escape sequences: its words are quoted, made harmless."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"554 5.3.2 go away\x1b[2J\x1b]0;pwned\x07 now\r\n")

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        with pytest.raises(SmtpCheckFailed) as caught:
            check_outgoing("127.0.0.1", port, Security.NONE, "u", "p", timeout=3)
    finally:
        thread.join(5)
        listener.close()
    assert caught.value.message == f"127.0.0.1:{port} refused the session: 554 5.3.2 go away now"
