"""tui.core.net.tls: certificate details, fingerprints and pins, without a network."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.servers.certs import CertMaterial, make_ca_and_leaf, make_self_signed
from tui.core.net import tls
from tui.core.net.tls import (
    PIN_MISMATCH_REASON,
    CertificateProblem,
    certificate_info,
    format_fingerprint,
    normalize_fingerprint,
    pin_from_setting,
    pin_mismatch,
)


@pytest.fixture(scope="module")
def ca_cert(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_ca_and_leaf(tmp_path_factory.mktemp("ca"))


def test_certificate_details_without_cryptography(
    monkeypatch: pytest.MonkeyPatch, ca_cert: CertMaterial
) -> None:
    monkeypatch.setattr(tls, "_parse_with_cryptography", lambda der: None)
    info = certificate_info(ca_cert.cert_der)
    assert info.sha256 == ca_cert.fingerprint
    assert "localhost" in info.subject
    assert set(info.san) == {"localhost", "127.0.0.1"}
    assert info.not_after is not None and info.not_after > dt.datetime.now(dt.UTC)


def test_certificate_details_of_garbage_keep_the_fingerprint() -> None:
    info = certificate_info(b"not a certificate")
    assert info.sha256.count(":") == 31
    assert info.subject == "(details unavailable)"


def test_names_a_server_wrote_are_cleaned(tmp_path: Path) -> None:
    hostile = make_self_signed(
        tmp_path,
        common_name="mail\x1b[2J\x1b]0;owned\x07.example\u202etxt.exe",
        san=("evil\x1b[31m.example",),
    )
    info = certificate_info(hostile.cert_der)
    for text in (info.subject, info.issuer, *info.san):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "mail" in info.subject and ".exampletxt.exe" in info.subject
    assert info.san == ("evil.example",)
    assert info.self_signed


def test_fingerprint_helpers() -> None:
    der = b"abc"
    shown = format_fingerprint(der)
    assert shown == shown.upper() and len(shown) == 95
    assert normalize_fingerprint(shown.lower()) == shown.replace(":", "").lower()
    assert normalize_fingerprint("SHA256:" + shown) == shown.replace(":", "").lower()
    for bad in ("", "zz" * 32, shown[:-3]):
        with pytest.raises(ValueError):
            normalize_fingerprint(bad)


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_pin_setting_means_verify_as_usual(blank: str) -> None:
    """POP3 and SMTP read the setting through one rule (SMTP used to refuse whitespace)."""
    assert pin_from_setting(blank) == ""


def test_a_pin_setting_is_normalized_and_a_typo_refused(ca_cert: CertMaterial) -> None:
    expected = normalize_fingerprint(ca_cert.fingerprint)
    assert pin_from_setting(f"  {ca_cert.fingerprint}  ") == expected
    with pytest.raises(ValueError, match="64 hex digits"):
        pin_from_setting("AB:CD")


def test_pin_mismatch(ca_cert: CertMaterial, tmp_path: Path) -> None:
    assert pin_mismatch(ca_cert.cert_der, normalize_fingerprint(ca_cert.fingerprint)) is None
    other = make_ca_and_leaf(tmp_path)
    presented = pin_mismatch(other.cert_der, normalize_fingerprint(ca_cert.fingerprint))
    assert presented is not None
    assert presented.sha256 == other.fingerprint
    assert presented.problem is CertificateProblem.PIN_MISMATCH
    assert presented.reason == PIN_MISMATCH_REASON
