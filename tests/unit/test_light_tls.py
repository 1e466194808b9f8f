"""`net.light_tls`: the quick check's TLS on `_ssl` must be the engine's TLS (`tls_context`, on
`ssl`): the same context settings, and a socket that reads, writes, ends and times out as
`ssl.SSLSocket` does. (Against servers: tests/integration/test_quick_check.py runs the quick
check over TLS and STARTTLS with verified, pinned, expired, misnamed and untrusted
certificates; test_session_handover.py goes on with its session in the engine.)"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.certs import CertMaterial, make_self_signed
from tui.core.net import light_tls, tls_context


def settings(context: Any) -> dict[str, object]:
    """Everything a client context decides, read the same way from either kind."""
    return {
        "protocol": int(context.protocol),
        "verify_mode": int(context.verify_mode),
        "check_hostname": context.check_hostname,
        "options": int(context.options),
        "minimum_version": int(context.minimum_version),
        "maximum_version": int(context.maximum_version),
        "verify_flags": int(context.verify_flags),
        "security_level": context.security_level,
        "post_handshake_auth": context.post_handshake_auth,
        "keylog_filename": context.keylog_filename,
        "cert_store_stats": context.cert_store_stats(),
        "ca_certs": context.get_ca_certs(),
        "ciphers": [cipher["name"] for cipher in context.get_ciphers()],
    }


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_self_signed(tmp_path_factory.mktemp("light-tls"), san=("127.0.0.1",))


@pytest.mark.parametrize("store", ["bundle", "hashed directory", "ca file", "pinned"])
def test_the_contexts_are_the_engines(
    store: str, cert: CertMaterial, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if store == "hashed directory":
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        if tls_context.hashed_ca_dir() is None:
            pytest.skip("this system has no hashed CA directory")
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert_path))
    pin = cert.fingerprint_hex if store == "pinned" else ""
    ca_file = str(cert.cert_path) if store == "ca file" else None
    light = settings(light_tls.client_context(pin, ca_file))
    full = settings(tls_context.client_context(pin, ca_file))
    assert light == full
    assert light["verify_mode"] == (ssl.CERT_NONE if pin else ssl.CERT_REQUIRED)
    assert light["check_hostname"] is not bool(pin)


class TlsPeer:
    """A TLS server on one end of a socket pair (the `ssl` module's own), scripted per test."""

    def __init__(self, cert: CertMaterial) -> None:
        self.client_end, server_end = socket.socketpair()
        self.client_end.settimeout(5)
        self.server: ssl.SSLSocket | None = None
        self._context = cert.server_context()
        self._server_end = server_end
        self._ready = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server = self._context.wrap_socket(self._server_end, server_side=True)
        self._ready.set()

    def connected(self) -> light_tls.TlsSocket:
        # A pinned account's context (any pin: it is compared by the caller, after this).
        context = light_tls.client_context(pin="pinned")
        tls = light_tls.TlsSocket.handshake(context, self.client_end, "127.0.0.1")
        assert self._ready.wait(5)
        return tls


@pytest.fixture
def peer(cert: CertMaterial) -> Iterator[TlsPeer]:
    made = TlsPeer(cert)
    yield made
    made.client_end.close()
    if made.server is not None:
        made.server.close()


def test_reads_and_writes_as_an_ssl_socket(peer: TlsPeer, cert: CertMaterial) -> None:
    tls = peer.connected()
    assert tls.getpeercert(binary_form=True) == cert.cert_der
    assert peer.server is not None
    tls.sendall(memoryview(b"CAPA\r\n" * 5000))  # more than one TLS record
    received = b""
    while len(received) < 30000:
        received += peer.server.recv(65536)
    assert received == b"CAPA\r\n" * 5000
    peer.server.sendall(b"+OK one\r\n+OK two\r\n")
    buffer = bytearray(64)
    count = tls.recv_into(memoryview(buffer), 5)
    assert bytes(buffer[:count]) == b"+OK o"
    assert tls.pending() == 13  # the rest of the record, decrypted and waiting
    count += tls.recv_into(memoryview(buffer)[count:])
    assert bytes(buffer[:count]) == b"+OK one\r\n+OK two\r\n"
    assert tls.fileno() == peer.client_end.fileno()


def test_a_silent_peer_times_out_and_an_abrupt_end_reads_as_the_end(peer: TlsPeer) -> None:
    tls = peer.connected()
    tls.settimeout(0.2)
    assert tls.gettimeout() == 0.2
    with pytest.raises(TimeoutError):
        tls.recv_into(bytearray(16))
    assert peer.server is not None
    os.close(peer.server.detach())  # the server's end closes without a TLS close_notify
    tls.settimeout(5)
    assert tls.recv_into(bytearray(16)) == 0  # as ssl.SSLSocket (suppress_ragged_eofs)


def test_a_failed_handshake_closes_the_socket(cert: CertMaterial) -> None:
    client_end, server_end = socket.socketpair()
    client_end.settimeout(5)
    with server_end:
        server_end.sendall(b"+OK not TLS at all\r\n")
        context = light_tls.client_context("", str(cert.cert_path))
        with pytest.raises(ssl.SSLError):
            light_tls.TlsSocket.handshake(context, client_end, "127.0.0.1")
    assert client_end.fileno() == -1
