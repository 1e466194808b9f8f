"""The system trust store read from its hashed directory (no bundle parsed per connection):
a CA in the directory is trusted, one outside it is not, and the bundle is loaded as before
where there is no hashed directory or SSL_CERT_FILE names a bundle."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.certs import CertMaterial, make_ca_and_leaf
from tests.servers.fake_pop3 import FakePop3Server
from tui.core.net.pop3 import Pop3Client, UntrustedCertificate
from tui.core.net.tls import verifying_context
from tui.core.settings import Security

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl rehash")


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_ca_and_leaf(tmp_path_factory.mktemp("trusted"), ca_name="poptui trusted CA")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_ca_and_leaf(tmp_path_factory.mktemp("stranger"), ca_name="poptui stranger CA")


@pytest.fixture
def ca_dir(tmp_path: Path, trusted: CertMaterial, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hashed CA directory holding only `trusted`'s CA, as the system's store."""
    directory = tmp_path / "certs"
    directory.mkdir()
    assert trusted.ca_path is not None
    shutil.copy(trusted.ca_path, directory / "trusted.pem")
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(ssl.get_default_verify_paths().openssl_capath_env, str(directory))
    return directory


def tls_server(material: CertMaterial) -> Iterator[FakePop3Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(material.cert_path), str(material.key_path))
    with FakePop3Server([b"Subject: x\r\n\r\nx\r\n"], implicit_tls=context) as server:
        yield server


@pytest.fixture
def trusted_server(trusted: CertMaterial) -> Iterator[FakePop3Server]:
    yield from tls_server(trusted)


@pytest.fixture
def stranger_server(stranger: CertMaterial) -> Iterator[FakePop3Server]:
    yield from tls_server(stranger)


def test_a_ca_in_the_hashed_directory_is_trusted(
    ca_dir: Path, trusted_server: FakePop3Server
) -> None:
    assert verifying_context().cert_store_stats()["x509"] == 0  # nothing parsed up front
    server = trusted_server
    with Pop3Client.connect(server.host, server.port, Security.SSL, timeout=5) as client:
        assert client.usable


def test_a_ca_outside_it_is_not(ca_dir: Path, stranger_server: FakePop3Server) -> None:
    server = stranger_server
    with pytest.raises(UntrustedCertificate):
        Pop3Client.connect(server.host, server.port, Security.SSL, timeout=5)


def test_the_host_name_is_still_checked(ca_dir: Path) -> None:
    context = verifying_context()
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED


def test_without_hash_links_the_bundle_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: CertMaterial
) -> None:
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    assert trusted.ca_path is not None
    shutil.copy(trusted.ca_path, plain_dir / "trusted.pem")  # no c_rehash links
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv(ssl.get_default_verify_paths().openssl_capath_env, str(plain_dir))
    loaded = verifying_context().cert_store_stats()
    assert loaded == ssl.create_default_context().cert_store_stats()  # the default store


def test_ssl_cert_file_wins_over_the_directory(
    ca_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stranger: CertMaterial
) -> None:
    assert stranger.ca_path is not None
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(stranger.ca_path.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert verifying_context().cert_store_stats()["x509_ca"] == 1
