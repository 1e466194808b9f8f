"""Protocol edges of tui.core.net.pop3 against an in-process fake POP3 server."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers.certs import CertMaterial, make_ca_and_leaf, make_self_signed
from tests.servers.fake_pop3 import HANG, FakePop3Server, FakeSession, stuff
from tui.core.net.pop3 import (
    AuthenticationFailed,
    CertificateProblem,
    CommandRejected,
    ConnectFailed,
    ConnectionLost,
    LoginDelay,
    MailboxInUse,
    MessageSizeMismatch,
    Pop3Client,
    Pop3Error,
    Pop3Timeout,
    Pop3UsageError,
    ProtocolError,
    ServerPermanentError,
    ServerTemporaryError,
    StartTlsUnavailable,
    TlsFailed,
    UidlUnsupported,
    UntrustedCertificate,
    is_auth_failure,
    is_connection_failure,
)
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES
from tui.core.settings import Security

PASSWORD = "s3cret-Pa55"
USERS = {"alice": PASSWORD}


def msg(n: int, body: bytes = b"Hello\r\n") -> bytes:
    return (
        f"From: a@example.com\r\nTo: b@example.com\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}@example.com>\r\n\r\n"
    ).encode() + body


@pytest.fixture
def serve() -> Iterator[type[FakePop3Server]]:
    """Start fake servers with the given options; all stopped at the end of the test."""
    started: list[FakePop3Server] = []

    class _Factory(FakePop3Server):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("users", USERS)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)
            self.start()

    yield _Factory
    for server in started:
        server.stop()


def plain(server: FakePop3Server, **kwargs: object) -> Pop3Client:
    return Pop3Client.connect(server.host, server.port, Security.NONE, **kwargs)  # type: ignore[arg-type]


def logged_in(server: FakePop3Server, **kwargs: object) -> Pop3Client:
    client = plain(server, **kwargs)
    client.login("alice", PASSWORD)
    return client


# ------------------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def ca_cert(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_ca_and_leaf(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_self_signed(tmp_path_factory.mktemp("self"))


@pytest.fixture(scope="module")
def wrong_name(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_ca_and_leaf(tmp_path_factory.mktemp("wrong"), san=("mail.example.test",))


@pytest.fixture(scope="module")
def expired(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that expired yesterday."""
    directory = tmp_path_factory.mktemp("expired")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "expired.crt", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_path), str(key_path))
    return ctx


# ------------------------------------------------------------------ greeting and CAPA


def test_capabilities_are_parsed(serve: type[FakePop3Server]) -> None:
    server = serve(
        capa=[
            "TOP",
            "uidl",
            "SASL PLAIN LOGIN",
            "LOGIN-DELAY 900",
            "IMPLEMENTATION Fake 1.0",
            "PIPELINING",
        ],
    )
    with plain(server) as client:
        assert client.capabilities["SASL"] == ["PLAIN", "LOGIN"]
        assert client.capabilities["UIDL"] == []
        assert client.capabilities["IMPLEMENTATION"] == ["Fake", "1.0"]
        assert client.supports_pipelining and client.supports_uidl
        assert client.login_delay_seconds == 900
        assert client.certificate is None
    assert server.last.verbs == ["CAPA"]


def test_capa_unsupported_leaves_capabilities_empty_and_probes_uidl(
    serve: type[FakePop3Server],
) -> None:
    server = serve([msg(1)], capa=None)
    with logged_in(server) as client:
        assert client.capabilities == {}
        assert not client.supports_pipelining
        assert client.supports_uidl  # probed with UIDL after login
        assert client.uidl() == [(1, "uid0001")]
    # STAT first: its count caps how many lines the UIDL listing may hold.
    assert server.last.verbs == ["CAPA", "USER", "PASS", "STAT", "UIDL", "UIDL"]


def test_capa_unsupported_and_uidl_refused(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1)], capa=None, handlers={"UIDL": lambda s, a: b"-ERR no UIDL here\r\n"})
    with logged_in(server) as client:
        assert client.supports_uidl is False
        with pytest.raises(UidlUnsupported) as info:
            client.uidl()
        assert "no UIDL here" in info.value.message
        assert client.usable  # a clean -ERR does not break the session
        client.noop()


def test_err_greeting_is_a_connect_failure(serve: type[FakePop3Server]) -> None:
    server = serve(greeting="-ERR [SYS/TEMP] too many connections")
    with pytest.raises(ServerTemporaryError):
        plain(server)
    server = serve(greeting="-ERR go away")
    with pytest.raises(ConnectFailed, match="go away"):
        plain(server)


def test_non_pop3_greeting_is_a_protocol_error(serve: type[FakePop3Server]) -> None:
    server = serve(greeting="220 smtp.example.com ESMTP")
    with pytest.raises(ProtocolError, match="does not look like a POP3 server"):
        plain(server)


# ------------------------------------------------------------------------ authentication


def test_sasl_plain_is_used_when_advertised(serve: type[FakePop3Server]) -> None:
    server = serve()
    with logged_in(server) as client:
        client.quit()
    commands = server.last.commands
    assert [c.split()[0] for c in commands] == ["CAPA", "AUTH", "CAPA", "QUIT"]
    verb, mech, blob = commands[1].split()
    assert (verb, mech) == ("AUTH", "PLAIN")
    assert base64.b64decode(blob) == b"\0alice\0" + PASSWORD.encode()


def test_user_pass_when_plain_not_advertised(serve: type[FakePop3Server]) -> None:
    server = serve(capa=["UIDL", "USER", "SASL LOGIN CRAM-MD5"])
    with logged_in(server):
        pass
    assert server.last.commands[1:3] == ["USER alice", f"PASS {PASSWORD}"]
    assert "AUTH" not in server.last.verbs


def test_apop_never_used_even_with_timestamp(serve: type[FakePop3Server]) -> None:
    server = serve(capa=["UIDL", "USER", "APOP"], greeting="+OK ready <12345.678@host>")
    with logged_in(server):
        pass
    assert "APOP" not in server.last.verbs


def test_recapa_after_login(serve: type[FakePop3Server]) -> None:
    def capa(session: FakeSession, args: list[str]) -> bytes:
        extra = "PIPELINING\r\n" if session.authenticated else ""
        return f"+OK\r\nUIDL\r\nSASL PLAIN\r\n{extra}.\r\n".encode()

    server = serve(handlers={"CAPA": capa})
    client = plain(server)
    assert not client.supports_pipelining
    client.login("alice", PASSWORD)
    assert client.supports_pipelining
    client.abort()


@pytest.mark.parametrize(
    ("reply", "exc_type", "words"),
    [
        ("-ERR [AUTH] Invalid credentials", AuthenticationFailed, "password was rejected"),
        ("-ERR [IN-USE] Mailbox locked", MailboxInUse, "in use by another client"),
        ("-ERR [LOGIN-DELAY] Wait", LoginDelay, "only every few minutes"),
        ("-ERR [SYS/TEMP] Backend down", ServerTemporaryError, "temporary problem"),
        ("-ERR [SYS/PERM] Account disabled", ServerPermanentError, "lasting problem"),
        ("-ERR Logon failure: unknown user", AuthenticationFailed, "unknown user"),
        ("-ERR", AuthenticationFailed, "password was rejected"),
    ],
)
@pytest.mark.parametrize("capa", [["SASL PLAIN"], ["USER"]])
def test_login_response_codes(
    serve: type[FakePop3Server],
    reply: str,
    exc_type: type[Pop3Error],
    words: str,
    capa: list[str],
) -> None:
    server = serve(capa=capa, auth_error=reply)
    client = plain(server)
    with pytest.raises(exc_type) as info:
        client.login("alice", "wrong")
    assert type(info.value) is exc_type
    assert words in info.value.message
    assert is_auth_failure(info.value) == (exc_type is AuthenticationFailed)
    assert client.usable  # -ERR keeps the stream in step: the caller may QUIT
    client.quit()


def test_classification_helpers() -> None:
    assert is_connection_failure(ConnectFailed("x"))
    assert is_connection_failure(Pop3Timeout("x"))
    assert is_connection_failure(UntrustedCertificate("x", None))
    assert is_connection_failure(ProtocolError("x"))
    assert not is_connection_failure(AuthenticationFailed("x"))
    assert not is_connection_failure(MailboxInUse("x"))
    assert not is_connection_failure(LoginDelay("x"))
    assert not is_auth_failure(ServerPermanentError("x"))


def test_login_delay_carries_capa_value(serve: type[FakePop3Server]) -> None:
    server = serve(capa=["SASL PLAIN", "LOGIN-DELAY 300"], auth_error="-ERR [LOGIN-DELAY] wait")
    with plain(server) as client, pytest.raises(LoginDelay) as info:
        client.login("alice", "wrong")
    assert info.value.delay_seconds == 300


def test_password_never_appears_in_errors(serve: type[FakePop3Server]) -> None:
    # A careless server echoing the command back, with control characters thrown in.
    def echo(session: FakeSession, args: list[str]) -> bytes:
        return f"-ERR \x1b[31mbad\x07 {' '.join(args)} \u202e{'x' * 400}\r\n".encode()

    for capa, verb in ((["SASL PLAIN"], "AUTH"), (["USER"], "PASS")):
        server = serve(capa=capa, handlers={verb: echo})
        client = plain(server)
        with pytest.raises(AuthenticationFailed) as info:
            client.login("alice", PASSWORD)
        err = info.value
        blob = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
        for text in (str(err), repr(err), err.message, err.server_text, repr(err.args)):
            assert PASSWORD not in text
            assert blob not in text
            assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert len(err.server_text) <= 200
        assert "bad" in err.server_text
        assert PASSWORD not in repr(client)
        client.abort()


def test_line_break_in_password_is_refused_before_sending(serve: type[FakePop3Server]) -> None:
    server = serve()
    with plain(server) as client, pytest.raises(AuthenticationFailed, match="line break"):
        client.login("alice", "pw\r\nDELE 1")
    assert server.last.verbs == ["CAPA"]


def test_auth_failure_carries_what_advice_needs(serve: type[FakePop3Server]) -> None:
    # Provider advice (app password, OAuth only) is attached by the sync layer from these two.
    server = serve(auth_error="-ERR [AUTH] Application-specific password required")
    with plain(server) as client, pytest.raises(AuthenticationFailed) as info:
        client.login("alice", "wrong")
    assert info.value.host == server.host
    assert info.value.server_text == "[AUTH] Application-specific password required"
    assert info.value.hint == ""


# ---------------------------------------------------------------------------- STARTTLS


def test_starttls_missing_refuses_and_sends_no_password(serve: type[FakePop3Server]) -> None:
    server = serve()
    with pytest.raises(StartTlsUnavailable) as info:
        Pop3Client.connect(server.host, server.port, Security.STARTTLS, timeout=5)
    assert "password was not sent" in info.value.message
    assert not is_auth_failure(info.value)
    assert server.last.verbs == ["CAPA"]
    assert PASSWORD.encode() not in server.last.raw


def test_starttls_refused_by_server(serve: type[FakePop3Server], ca_cert: CertMaterial) -> None:
    server = serve(capa=["STLS", "SASL PLAIN"], handlers={"STLS": lambda s, a: b"-ERR not now\r\n"})
    with pytest.raises(StartTlsUnavailable, match="not now"):
        Pop3Client.connect(server.host, server.port, Security.STARTTLS, ca_file=ca_cert.trust_path)


def test_starttls_works_and_recapas(serve: type[FakePop3Server], ca_cert: CertMaterial) -> None:
    server = serve(
        [msg(1)],
        capa=["SASL PLAIN", "X-BEFORE-TLS"],
        capa_after_tls=["SASL PLAIN", "UIDL", "X-AFTER-TLS"],
        starttls=ca_cert.server_context(),
    )
    client = Pop3Client.connect(
        server.host, server.port, Security.STARTTLS, ca_file=ca_cert.trust_path, timeout=5
    )
    assert "X-AFTER-TLS" in client.capabilities
    assert "X-BEFORE-TLS" not in client.capabilities
    assert client.certificate is not None
    assert client.certificate.sha256 == ca_cert.fingerprint
    client.login("alice", PASSWORD)
    assert client.stat() == (1, len(msg(1)))
    client.quit()
    assert server.last.tls
    assert server.last.verbs == ["CAPA", "STLS", "CAPA", "AUTH", "CAPA", "STAT", "QUIT"]


def test_starttls_injected_bytes_are_discarded(
    serve: type[FakePop3Server], ca_cert: CertMaterial
) -> None:
    # A man in the middle appends a forged reply to the +OK, hoping it is read as the answer
    # to the next command (CAPA) once TLS is up.
    injected = b"+OK injected\r\nINJECTED-CAP\r\n.\r\n"
    server = serve(
        [msg(1)],
        capa=["SASL PLAIN"],
        capa_after_tls=["SASL PLAIN", "UIDL", "X-AFTER-TLS"],
        starttls=ca_cert.server_context(),
        stls_extra=injected,
    )
    with Pop3Client.connect(
        server.host, server.port, Security.STARTTLS, ca_file=ca_cert.trust_path, timeout=5
    ) as client:
        assert "INJECTED-CAP" not in client.capabilities
        assert "X-AFTER-TLS" in client.capabilities
        client.login("alice", PASSWORD)
        assert client.uidl() == [(1, "uid0001")]
        client.quit()


# ------------------------------------------------------------------------ certificates


def tls_server(serve: type[FakePop3Server], cert_path: Path, key_path: Path) -> FakePop3Server:
    return serve([msg(1)], implicit_tls=server_context(cert_path, key_path))


def test_implicit_tls_with_trusted_ca(serve: type[FakePop3Server], ca_cert: CertMaterial) -> None:
    server = tls_server(serve, ca_cert.cert_path, ca_cert.key_path)
    with Pop3Client.connect(
        server.host, server.port, Security.SSL, ca_file=ca_cert.trust_path
    ) as client:
        info = client.certificate
        assert info is not None
        assert info.sha256 == ca_cert.fingerprint
        assert set(info.san) == {"localhost", "127.0.0.1"}
        assert "poptui test CA" in info.issuer
        assert info.not_before is not None and info.not_after is not None
        assert info.not_before < dt.datetime.now(dt.UTC) < info.not_after
        client.login("alice", PASSWORD)
        client.quit()


def test_self_signed_is_untrusted_with_details(
    serve: type[FakePop3Server], self_signed: CertMaterial
) -> None:
    server = tls_server(serve, self_signed.cert_path, self_signed.key_path)
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(server.host, server.port, Security.SSL, timeout=5)
    cert = info.value.certificate
    assert cert is not None
    assert cert.sha256 == self_signed.fingerprint
    assert cert.problem is CertificateProblem.SELF_SIGNED
    assert "self-signed" in cert.reason and "self-signed" in info.value.message
    assert cert.self_signed
    # Two handshakes (verify, then read the certificate), and nothing sent on either.
    assert len(server.sessions) == 2
    assert all(s.chunks == [] for s in server.sessions)


def test_hostname_mismatch_is_refused(
    serve: type[FakePop3Server], wrong_name: CertMaterial
) -> None:
    server = tls_server(serve, wrong_name.cert_path, wrong_name.key_path)
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(server.host, server.port, Security.SSL, ca_file=wrong_name.trust_path)
    cert = info.value.certificate
    assert cert is not None
    assert cert.problem is CertificateProblem.HOSTNAME_MISMATCH
    assert "not valid for 127.0.0.1" in cert.reason
    assert cert.san == ("mail.example.test",)


def test_expired_is_refused(serve: type[FakePop3Server], expired: tuple[Path, Path]) -> None:
    server = tls_server(serve, *expired)
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(server.host, server.port, Security.SSL, ca_file=expired[0])
    assert info.value.certificate is not None
    assert info.value.certificate.problem is CertificateProblem.EXPIRED


@pytest.mark.parametrize("form", ["colons", "lower-plain", "spaced"])
def test_pinned_fingerprint_accepts_exact_cert(
    serve: type[FakePop3Server], self_signed: CertMaterial, form: str
) -> None:
    pin = {
        "colons": self_signed.fingerprint,
        "lower-plain": self_signed.fingerprint_hex,
        "spaced": " " + self_signed.fingerprint.lower().replace(":", " ") + " ",
    }[form]
    server = tls_server(serve, self_signed.cert_path, self_signed.key_path)
    with Pop3Client.connect(
        server.host, server.port, Security.SSL, pinned_fingerprint=pin
    ) as client:
        assert client.certificate is not None
        assert client.certificate.sha256 == self_signed.fingerprint
        client.login("alice", PASSWORD)
        client.quit()


def test_pinned_fingerprint_mismatch(
    serve: type[FakePop3Server], self_signed: CertMaterial, ca_cert: CertMaterial
) -> None:
    server = tls_server(serve, ca_cert.cert_path, ca_cert.key_path)
    with pytest.raises(UntrustedCertificate) as info:
        Pop3Client.connect(
            server.host, server.port, Security.SSL, pinned_fingerprint=self_signed.fingerprint
        )
    cert = info.value.certificate
    assert cert is not None
    assert cert.problem is CertificateProblem.PIN_MISMATCH
    assert cert.sha256 == ca_cert.fingerprint
    assert server.last.chunks == []  # nothing was sent to the impostor


def test_malformed_pin_is_rejected() -> None:
    with pytest.raises(ValueError):
        Pop3Client.connect("127.0.0.1", 1, Security.SSL, pinned_fingerprint="AB:CD")


def test_tls_to_a_plain_port_fails_clearly(serve: type[FakePop3Server]) -> None:
    server = serve()
    with pytest.raises(TlsFailed, match="did not speak TLS"):
        Pop3Client.connect(server.host, server.port, Security.SSL, timeout=5)


# ------------------------------------------------------------------------------ RETR


def test_dot_unstuffing_and_crlf_preserved(serve: type[FakePop3Server]) -> None:
    messages = [
        msg(1, b".starts with a dot\r\n..two dots\r\n.\r\n...\r\nend\r\n"),
        b".first line is dotted\r\n\r\nbody\r\n",
        b"",
        msg(4, b"no final newline"),
    ]
    server = serve(messages)
    with logged_in(server) as client:
        got = dict(client.retrieve([1, 2, 3, 4]))
        client.quit()
    assert got[1] == messages[0]
    assert got[2] == messages[1]
    assert got[3] == b""
    assert got[4] == messages[3] + b"\r\n"  # the server ends the last line for us


def test_long_line_and_large_message(serve: type[FakePop3Server]) -> None:
    long_line = msg(1, b"x" * 5000 + b"\r\n.hidden dot\r\n")
    line = b"0123456789" * 7 + b"\r\n"
    # As large as poptui accepts (the global ceiling), to time the streaming read.
    big = msg(2, line * ((MAX_MESSAGE_BYTES - 64 * 1024) // len(line)))
    server = serve([long_line, big])
    with logged_in(server) as client:
        sizes = client.list_sizes()
        started = time.perf_counter()
        got = dict(client.retrieve([1, 2], expected_sizes=sizes))
        elapsed = time.perf_counter() - started
        client.quit()
    assert got[1] == long_line
    assert got[2] == big
    assert len(got[2]) > MAX_MESSAGE_BYTES - 128 * 1024
    assert elapsed < 10


def test_pipelined_retr_batches(serve: type[FakePop3Server]) -> None:
    messages = [msg(n) for n in range(1, 121)]
    server = serve(messages)
    with logged_in(server) as client:
        assert client.supports_pipelining
        got = list(client.retrieve(range(1, 121), expected_sizes=client.list_sizes(), batch=20))
        client.quit()
    assert [n for n, _ in got] == list(range(1, 121))
    assert [raw for _, raw in got] == messages
    retr_per_chunk = [c.count(b"RETR ") for c in server.last.chunks]
    assert max(retr_per_chunk) >= 10
    assert sum(retr_per_chunk) == 120


def test_no_pipelining_without_capability(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 6)], capa=["SASL PLAIN", "UIDL"])
    with logged_in(server) as client:
        assert [n for n, _ in client.retrieve(range(1, 6))] == [1, 2, 3, 4, 5]
        client.quit()
    assert max(c.count(b"RETR ") for c in server.last.chunks) == 1


def test_dele_during_pipelined_retrieve_is_deferred(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 11)])
    with logged_in(server) as client:
        for number, _raw in client.retrieve(range(1, 11), batch=4):
            client.dele(number)
        client.quit()
    assert server.committed_deletions == list(range(1, 11))
    # No DELE was sent while RETR responses were still in flight: all come after the RETRs.
    assert server.last.verbs[-11:] == ["DELE"] * 10 + ["QUIT"]
    assert server.last.verbs.count("RETR") == 10


def test_dele_is_immediate_without_pipelining(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 4)], capa=["SASL PLAIN", "UIDL"])
    with logged_in(server) as client:
        for number, _raw in client.retrieve([1, 2, 3]):
            client.dele(number)
        client.quit()
    assert server.last.verbs[-7:] == ["RETR", "DELE", "RETR", "DELE", "RETR", "DELE", "QUIT"]


def test_closing_retrieve_early_drains_pipeline(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 31)])
    with logged_in(server) as client:
        seen = []
        for number, _raw in client.retrieve(range(1, 31), batch=10):
            seen.append(number)
            if number == 3:
                client.dele(3)  # deferred: responses still in flight
                break
        assert seen == [1, 2, 3]
        assert client.usable
        assert client.stat() == (29, sum(len(msg(n)) for n in range(1, 31) if n != 3))
        client.quit()
    assert server.committed_deletions == [3]


def test_other_command_while_pipeline_busy_is_a_usage_error(
    serve: type[FakePop3Server],
) -> None:
    server = serve([msg(n) for n in range(1, 6)])
    with logged_in(server) as client:
        iterator = client.retrieve(range(1, 6))
        next(iterator)
        with pytest.raises(Pop3UsageError):
            client.noop()
        assert [n for n, _ in iterator] == [2, 3, 4, 5]
        client.noop()


def test_retr_err_in_pipeline_raises_and_stays_in_sync(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 6)])
    with logged_in(server) as client:
        got = []
        with pytest.raises(CommandRejected) as info:
            for number, _raw in client.retrieve([1, 2, 99, 4, 5]):
                got.append(number)
        assert got == [1, 2]
        assert info.value.number == 99
        assert client.usable
        assert [n for n, _ in client.retrieve([4, 5])] == [4, 5]
        client.quit()


def test_size_shorter_than_list_is_refused(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1), msg(2), msg(3)], list_sizes={2: len(msg(2)) + 50})
    with logged_in(server) as client:
        got = []
        with pytest.raises(MessageSizeMismatch) as info:
            for number, _raw in client.retrieve([1, 2, 3], expected_sizes=client.list_sizes()):
                got.append(number)
        assert got == [1]
        assert (info.value.number, info.value.expected) == (2, len(msg(2)) + 50)
        assert info.value.received == len(msg(2))
        assert client.usable  # the stream is in step; the engine decides
        client.quit()


def test_size_larger_than_list_is_accepted(serve: type[FakePop3Server]) -> None:
    # Servers that count stored LF line ends announce less than they send.
    server = serve([msg(1)], list_sizes={1: len(msg(1)) - 6})
    with logged_in(server) as client:
        assert list(client.retrieve([1], expected_sizes=client.list_sizes())) == [(1, msg(1))]


def test_far_larger_than_announced_is_read_through_and_refused(
    serve: type[FakePop3Server],
) -> None:
    """Past its budget the body is read to its end without being kept: refused, in step."""
    server = serve([msg(1, b"y" * 100_000 + b"\r\n"), msg(2)], list_sizes={1: 100})
    with logged_in(server) as client:
        with pytest.raises(MessageSizeMismatch, match="far larger") as caught:
            list(client.retrieve([1], expected_sizes={1: 100}))
        assert caught.value.in_sync and caught.value.received > 100_000
        assert client.usable
        assert [raw for _, raw in client.retrieve([2])] == [msg(2)]


def test_connection_drop_mid_message_is_never_accepted(serve: type[FakePop3Server]) -> None:
    def half_then_gone(session: FakeSession, args: list[str]) -> bytes:
        session.close_after_reply = True
        return b"+OK\r\n" + stuff(msg(1, b"z" * 10_000 + b"\r\n"))[:5000]

    server = serve([msg(1)], handlers={"RETR": half_then_gone})
    with logged_in(server) as client:
        with pytest.raises(ConnectionLost):
            list(client.retrieve([1]))
        assert not client.usable
        with pytest.raises(ProtocolError):
            client.dele(1)
        with pytest.raises(ProtocolError, match="nothing was deleted"):
            client.quit()
    assert "DELE" not in server.last.verbs and "QUIT" not in server.last.verbs


def test_top_returns_headers(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1, b"body\r\n")])
    with logged_in(server) as client:
        assert client.top(1) == msg(1, b"")
        with pytest.raises(CommandRejected):
            client.top(9)


def test_stat_list_uidl(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1), msg(2)], uids={1: "AAA", 2: "B!~"})
    with logged_in(server) as client:
        assert client.stat() == (2, len(msg(1)) + len(msg(2)))
        assert client.list_sizes() == {1: len(msg(1)), 2: len(msg(2))}
        assert client.uidl() == [(1, "AAA"), (2, "B!~")]
        client.dele(1)
        assert client.uidl() == [(2, "B!~")]


# ----------------------------------------------------------------- QUIT versus abort


def test_quit_commits_abort_does_not(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1), msg(2)])
    client = logged_in(server)
    client.dele(1)
    client.abort()
    client.abort()  # idempotent
    assert server.committed_deletions == []
    assert "QUIT" not in server.last.verbs
    with pytest.raises(ProtocolError, match="closed"):
        client.noop()

    client = logged_in(server)
    client.dele(2)
    client.quit()
    assert server.committed_deletions == [2]
    assert client.closed


def test_context_manager_aborts_on_exception(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1)])
    with pytest.raises(RuntimeError), logged_in(server) as client:
        client.dele(1)
        raise RuntimeError("database is full")
    assert client.closed
    assert server.committed_deletions == []
    assert "QUIT" not in server.last.verbs


# ------------------------------------------------------------------- broken sessions


def test_timeout_when_server_stops_answering(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1)], handlers={"STAT": lambda s, a: HANG})
    client = logged_in(server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(Pop3Timeout, match="stopped answering"):
        client.stat()
    assert time.monotonic() - started < 3
    assert not client.usable
    with pytest.raises(ProtocolError, match="unusable"):
        client.dele(1)
    with pytest.raises(ProtocolError):
        client.quit()
    assert client.closed
    assert "DELE" not in server.last.verbs and "QUIT" not in server.last.verbs


def test_timeout_when_no_greeting(serve: type[FakePop3Server]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(Pop3Timeout, match=r"no POP3 greeting.*expect TLS"):
            Pop3Client.connect("127.0.0.1", port, Security.NONE, timeout=0.5)
        assert time.monotonic() - started < 3
        with pytest.raises(Pop3Timeout, match="TLS handshake"):
            Pop3Client.connect("127.0.0.1", port, Security.SSL, timeout=0.5)
    finally:
        listener.close()


def test_garbage_reply_breaks_the_session(serve: type[FakePop3Server]) -> None:
    server = serve([msg(1)], handlers={"NOOP": lambda s, a: b"HTTP/1.1 400 Bad Request\r\n"})
    with logged_in(server) as client:
        with pytest.raises(ProtocolError, match="unexpected reply"):
            client.noop()
        assert not client.usable
        with pytest.raises(ProtocolError):
            client.stat()


def test_desynced_extra_reply_breaks_the_session(serve: type[FakePop3Server]) -> None:
    # A server that answers NOOP twice: the second +OK lands as the reply to STAT.
    server = serve([msg(1)], handlers={"NOOP": lambda s, a: b"+OK\r\n+OK\r\n"})
    with logged_in(server) as client:
        client.noop()
        with pytest.raises(ProtocolError):
            client.stat()
        assert not client.usable


def test_connect_refused_names_host_and_port() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(ConnectFailed) as info:
        Pop3Client.connect("127.0.0.1", port, Security.SSL, timeout=2)
    assert info.value.message == (
        f"Could not connect to 127.0.0.1:{port}: connection refused (is the port right?)"
    )
    assert is_connection_failure(info.value)


def test_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> socket.socket:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", fail)
    with pytest.raises(ConnectFailed, match=r"pop\.nowhere\.invalid:995: the server name"):
        Pop3Client.connect("pop.nowhere.invalid", 995, Security.SSL)


def test_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", slow)
    with pytest.raises(ConnectFailed, match="no answer within 7 s"):
        Pop3Client.connect("pop.example.com", 995, Security.SSL, timeout=7)


def test_dele_many_is_pipelined_and_reports_refusals(serve: type[FakePop3Server]) -> None:
    server = serve([msg(n) for n in range(1, 61)])
    with logged_in(server) as client:
        client.dele_many(range(1, 61))
        with pytest.raises(CommandRejected) as info:
            client.dele_many([5, 61, 62])  # 5 already marked, 61/62 do not exist
        assert info.value.number == 5
        assert "5, 61, 62" in info.value.message
        assert client.usable
        client.quit()
    assert server.committed_deletions == list(range(1, 61))
    assert max(c.count(b"DELE ") for c in server.last.chunks) >= 10


def test_abort_from_another_thread_interrupts_a_blocked_read(
    serve: type[FakePop3Server],
) -> None:
    server = serve([msg(1)], handlers={"STAT": lambda s, a: HANG})
    client = logged_in(server, timeout=30)
    timer = threading.Timer(0.3, client.abort)
    timer.start()
    started = time.monotonic()
    with pytest.raises((ConnectionLost, ProtocolError)):
        client.stat()
    assert time.monotonic() - started < 5
    timer.join()
    assert client.closed
