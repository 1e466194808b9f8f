"""What every real POP3 server the suite runs (Dovecot, Mailutils pop3d) tells a test about itself.

Both run three listeners (plain, STLS, implicit TLS) from one work directory with one certificate;
the subclasses start, configure and feed their own server.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
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
    _start_timeout: float
    _name = "the server"
    """How errors name the program ("Dovecot", "pop3d")."""

    def _error(self, message: str) -> Exception:
        """The subclass's own error type for a server that misbehaves in the harness."""
        return RuntimeError(message)

    def _not_running(self) -> Exception:
        return self._error(f"{self._name} is not running")

    def log_text(self) -> str:
        return ""

    def _wait_ready(self) -> None:
        """Until every listener answers (+OK greeting on the plain ones), or the start timeout."""
        assert self._proc is not None
        deadline = time.monotonic() + self._start_timeout
        pending = [self.plain_port, self.starttls_port, self.tls_port]
        while pending:
            if self._proc.poll() is not None:
                raise self._error(
                    f"{self._name} exited with status {self._proc.returncode} during start.\n"
                    f"--- log ---\n{self.log_text()}"
                )
            port = pending[0]
            try:
                with socket.create_connection((HOST, port), timeout=2) as sock:
                    if port != self.tls_port:
                        sock.settimeout(5)
                        greeting = sock.recv(512)
                        if not greeting.startswith(b"+OK"):
                            raise OSError(f"unexpected greeting {greeting!r}")
                        sock.sendall(b"QUIT\r\n")
                pending.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self._error(
                    f"{self._name} did not accept connections on {HOST}:{port} within "
                    f"{self._start_timeout}s.\n--- log ---\n{self.log_text()}"
                )
            time.sleep(0.05)

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
