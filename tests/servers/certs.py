"""Test certificates made with the ``cryptography`` package.

Two shapes are offered:

* :func:`make_self_signed` -- one self-signed server certificate (what a small
  private mail server usually has; the app accepts it only when the user pins its
  SHA-256 fingerprint);
* :func:`make_ca_and_leaf` -- a small private CA and a server certificate signed
  by it (what a client that trusts the CA verifies normally).

Subject alternative names default to ``DNS:localhost`` and ``IP:127.0.0.1``; pass
e.g. ``san=("wrong.example",)`` for a host-name-mismatch certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_SAN: tuple[str, ...] = ("localhost", "127.0.0.1")

KeyType = Literal["ec", "rsa"]
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertMaterial:
    """Paths and facts about one server certificate (PEM files on disk)."""

    cert_path: Path
    """PEM server certificate (leaf only)."""
    key_path: Path
    """PEM private key of the server certificate (unencrypted, mode 0600)."""
    fingerprint: str
    """SHA-256 of the DER leaf certificate, uppercase hex with colons (``AB:CD:...``)."""
    san: tuple[str, ...]
    """The subject alternative names the certificate carries."""
    ca_path: Path | None = None
    """PEM certificate of the private CA that signed the leaf (``None`` when self-signed)."""
    ca_key_path: Path | None = None
    """PEM private key of that CA."""

    @property
    def trust_path(self) -> Path:
        """The file a client must trust to verify this certificate (CA, else the leaf)."""
        return self.ca_path if self.ca_path is not None else self.cert_path

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()

    @property
    def cert_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert_pem.decode("ascii"))

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint without colons, lowercase (``abcd...``)."""
        return self.fingerprint.replace(":", "").lower()

    def client_context(self, *, check_hostname: bool = True) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` for clients that trusts exactly this certificate's root."""
        ctx = ssl.create_default_context(cafile=str(self.trust_path))
        ctx.check_hostname = check_hostname
        return ctx

    def server_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` for servers presenting this certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


def fingerprint_sha256(der: bytes) -> str:
    """SHA-256 of DER bytes as uppercase hex pairs joined by colons."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def another_fingerprint(fingerprint: str) -> str:
    """A pin that is not this one: its first byte flipped. (A fixed "00:" prefix would equal
    the real fingerprint for one certificate in 256, and the test would fail at random.)"""
    first = int(fingerprint[:2], 16)
    return f"{first ^ 0xFF:02X}{fingerprint[2:]}"


def _new_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _san_entries(san: Sequence[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in san:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _write_key(path: Path, key: _PrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(hours=1), now + dt.timedelta(days=days)


def _leaf(
    *,
    key: _PrivateKey,
    issuer_name: x509.Name,
    issuer_key: _PrivateKey,
    san: Sequence[str],
    common_name: str,
    days: int,
) -> x509.Certificate:
    not_before, not_after = _validity(days)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_san_entries(san)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_self_signed(
    directory: str | os.PathLike[str],
    *,
    san: Sequence[str] = DEFAULT_SAN,
    common_name: str | None = None,
    name: str = "server",
    key_type: KeyType = "ec",
    days: int = 30,
) -> CertMaterial:
    """Write ``<name>.crt`` / ``<name>.key`` (self-signed) into *directory*.

    *san* entries that parse as IP addresses become ``IP:`` names, the rest ``DNS:``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    key = _new_key(key_type)
    cn = common_name or (san[0] if san else "localhost")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = _leaf(key=key, issuer_name=subject, issuer_key=key, san=san, common_name=cn, days=days)
    cert_path, key_path = out / f"{name}.crt", out / f"{name}.key"
    _write_cert(cert_path, cert)
    _write_key(key_path, key)
    return CertMaterial(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint=fingerprint_sha256(cert.public_bytes(serialization.Encoding.DER)),
        san=tuple(san),
    )


def make_ca_and_leaf(
    directory: str | os.PathLike[str],
    *,
    san: Sequence[str] = DEFAULT_SAN,
    common_name: str | None = None,
    name: str = "server",
    ca_name: str = "poptui test CA",
    key_type: KeyType = "ec",
    days: int = 30,
) -> CertMaterial:
    """Write a private CA (``<name>-ca.crt``/``.key``) and a leaf signed by it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key(key_type)
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    not_before, not_after = _validity(days + 1)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = _new_key(key_type)
    cn = common_name or (san[0] if san else "localhost")
    cert = _leaf(
        key=key, issuer_name=ca_subject, issuer_key=ca_key, san=san, common_name=cn, days=days
    )
    cert_path, key_path = out / f"{name}.crt", out / f"{name}.key"
    ca_path, ca_key_path = out / f"{name}-ca.crt", out / f"{name}-ca.key"
    _write_cert(cert_path, cert)
    _write_key(key_path, key)
    _write_cert(ca_path, ca_cert)
    _write_key(ca_key_path, ca_key)
    return CertMaterial(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint=fingerprint_sha256(cert.public_bytes(serialization.Encoding.DER)),
        san=tuple(san),
        ca_path=ca_path,
        ca_key_path=ca_key_path,
    )
