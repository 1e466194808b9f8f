"""The TLS contexts poptui connects with, and pinned fingerprints as settings hold them.

Apart from `tui.core.net.tls` (certificate details, failures in words) so that a connection
that goes well, the quick "nothing new" check's, loads neither dataclasses nor logging.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not `typing`'s: that import is 2 ms of a "nothing new" run over TLS
if TYPE_CHECKING:
    import ssl


_HEX = "0123456789abcdef"


def normalize_fingerprint(text: str) -> str:
    """A pinned fingerprint as 64 lowercase hex digits; colons, spaces and case are ignored.

    Raises ValueError when it is not a SHA-256 fingerprint, so a typo never silently disables
    verification.
    """
    # str.split() and re's \s are the same whitespace (Py_UNICODE_ISSPACE); no regex to
    # compile on the quick check's path.
    cleaned = "".join(text.split()).replace(":", "").lower()
    if cleaned.startswith("sha256"):
        cleaned = cleaned.removeprefix("sha256").lstrip("=")
    if len(cleaned) != 64 or cleaned.strip(_HEX):
        raise ValueError("a pinned certificate fingerprint must be 64 hex digits (SHA-256)")
    return cleaned


def pin_from_setting(text: str) -> str:
    """The pin an account's setting asks for: "" (verify as usual) when the setting is blank,
    else the fingerprint from `normalize_fingerprint` (which refuses a typo)."""
    return normalize_fingerprint(text) if text.strip() else ""


def verifying_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """Checks the chain (system store, or `ca_file`) and the host name."""
    import ssl

    if ca_file is not None:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    capath = hashed_ca_dir()
    if capath is not None:
        return ssl.create_default_context(capath=capath)
    return ssl.create_default_context()


def hashed_ca_dir() -> str | None:
    """The system's hashed CA directory (`c_rehash` links), when that is the whole store.

    OpenSSL looks a certificate up there by its issuer's hash, one file when needed, instead
    of parsing the whole bundle (about 140 certificates: 25 ms and more) on every connection.
    Debian, Ubuntu, Alpine and Arch keep the directory and the bundle in step; where there is
    no such directory, or SSL_CERT_FILE names a bundle, the default store is loaded as usual.
    Trust can only shrink by this, never grow: the directory is part of the default store.
    """
    import _ssl  # `ssl.get_default_verify_paths`'s source, without loading `ssl` (light_tls)

    if os.environ.get("SSL_CERT_FILE"):
        return None
    _file_env, _file, capath_env, default_capath = _ssl.get_default_verify_paths()
    capath = os.environ.get(capath_env) or default_capath
    try:
        with os.scandir(capath) as entries:
            hashed = any(entry.name.endswith(".0") for entry in entries)
    except OSError:
        return None
    return capath if hashed else None


def non_verifying_context() -> ssl.SSLContext:
    """Checks nothing: only for a pinned certificate, compared by fingerprint right after the
    handshake, and for reading an untrusted certificate on a connection closed straight away.
    Building it skips loading the system CA store (tens of milliseconds)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def client_context(pin: str, ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """The context for a connection: non-verifying when `pin` will be checked instead."""
    return non_verifying_context() if pin else verifying_context(ca_file)
