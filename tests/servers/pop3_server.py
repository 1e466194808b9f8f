"""What every real POP3 server the suite runs (Dovecot, Mailutils pop3d) tells a test about itself.

Both run three listeners (plain, STLS, implicit TLS) from one work directory with one certificate;
the subclasses start, configure and feed their own server.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from tests.servers.certs import CertMaterial

HOST = "127.0.0.1"


class LocalPop3Server:
    """Ports, certificate and state of a private POP3 server on 127.0.0.1."""

    _dir: Path
    _cert: CertMaterial
    _users: dict[str, str]
    _proc: subprocess.Popen[bytes] | None
    _ports: tuple[int, int, int] | None

    def _not_running(self) -> Exception:
        """The error to raise for a port asked of a stopped server."""
        return RuntimeError(f"{type(self).__name__} is not running")

    @property
    def host(self) -> str:
        return HOST

    def _port(self, index: int) -> int:
        if self._ports is None:
            raise self._not_running()
        return self._ports[index]

    @property
    def plain_port(self) -> int:
        """Plain-text POP3; STLS is neither advertised nor accepted."""
        return self._port(0)

    @property
    def starttls_port(self) -> int:
        """Plain-text POP3 that advertises and accepts STLS."""
        return self._port(1)

    @property
    def tls_port(self) -> int:
        """Implicit TLS POP3 (TLS handshake first)."""
        return self._port(2)

    @property
    def cert(self) -> CertMaterial:
        return self._cert

    @property
    def cert_path(self) -> Path:
        return self._cert.cert_path

    @property
    def cert_fingerprint(self) -> str:
        """SHA-256 of the server certificate (DER), ``AB:CD:...`` uppercase."""
        return self._cert.fingerprint

    @property
    def workdir(self) -> Path:
        return self._dir

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def users(self) -> dict[str, str]:
        """A copy of the user table (name -> password)."""
        return dict(self._users)

    def client_context(self, *, check_hostname: bool = True) -> ssl.SSLContext:
        """An SSL context that trusts this server's certificate."""
        return self._cert.client_context(check_hostname=check_hostname)
