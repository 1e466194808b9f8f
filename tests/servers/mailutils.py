"""A private GNU Mailutils ``pop3d`` on 127.0.0.1: the suite's second real POP3 server.

Dovecot alone could let poptui grow tuned to one server's habits. Mailutils'
pop3d has different ones, and the tests run the same sync, delete-setting and
STARTTLS checks against both:

* it adds an ``X-UIDL:`` header to every message it serves (and counts it in
  LIST), so what a client stores differs from the file that was delivered;
* its UIDLs look like ``<md5 hex>.<timestamp>.<n>``, not Dovecot's hex pairs;
* log-ins are ``user@domain`` (the ``virtdomain`` authorisation below).

One instance offers three listeners on free high ports picked at start:
``plain_port`` (``tls-mode false``: no STLS), ``starttls_port`` (``tls-mode
stls``: STLS advertised and accepted) and ``tls_port`` (``tls-mode connection``:
implicit TLS).

No system users are needed: users live in a ``virtdomain`` passwd file
(``pw/<domain>``, read afresh on each login), each with a Maildir ``INBOX`` in its
home, owned by ``nobody`` when running as root (pop3d switches to that uid).

pop3d runs under a small supervisor that ends it when the test process goes away, as
the Dovecot server's children do (see ``_SUPERVISOR``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.servers.certs import DEFAULT_SAN, CertMaterial, make_self_signed
from tests.servers.dovecot import find_binary, make_workdir
from tests.servers.pop3_server import HOST, LocalPop3Server
from tests.servers.tcp_proxy import free_tcp_ports

DOMAIN = "example.test"
DEBIAN_PACKAGE = "mailutils-pop3d"


def served_form(delivered: bytes, uidl: str) -> bytes:
    """What pop3d serves for *delivered*: CRLF line ends, ``X-UIDL: <uidl>`` added as the
    last header line, and a final CRLF."""
    lf = delivered.replace(b"\r\n", b"\n")
    head, sep, body = lf.partition(b"\n\n")
    text = head + b"\nX-UIDL: " + uidl.encode("ascii") + b"\n\n" + body if sep else lf
    served = text.replace(b"\n", b"\r\n")
    return served if served.endswith(b"\r\n") else served + b"\r\n"


def without_x_uidl(stored: bytes) -> bytes:
    """A Maildir file pop3d has rewritten, less the ``X-UIDL:`` line it added."""
    return re.sub(rb"(?m)^X-UIDL: [^\n]*\n", b"", stored, count=1)


_SUPERVISOR = """
import os, signal, subprocess, sys, threading
server = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def stop_with_the_tests():
    sys.stdin.buffer.read()  # EOF: the test process closed the pipe, or died
    os.killpg(0, signal.SIGKILL)  # pop3d, its session children and this supervisor
threading.Thread(target=stop_with_the_tests, daemon=True).start()
code = server.wait()
sys.exit(code if code >= 0 else 128 - code)
"""
"""Runs pop3d and ends it when the test process goes away.

``PR_SET_PDEATHSIG`` (what the Dovecot server relies on) does not survive pop3d: it
switches to the ``mail`` group at start, and the kernel clears the parent-death signal on
any change of credentials. A pipe's end-of-file reaches the supervisor however the test
process dies. It kills at once: pop3d 3.15 sometimes takes over 10 s to act on SIGTERM
right after a session, and nothing it would do on a clean exit matters to the tests.
"""


class MailutilsError(RuntimeError):
    """pop3d failed to start; the message carries its log."""


def _hash_password(password: str) -> str:
    """A SHA-512 crypt(3) hash (what a passwd file holds), made by ``openssl passwd -6``."""
    openssl = find_binary("openssl", "openssl")
    done = subprocess.run(
        [openssl, "passwd", "-6", "-stdin"],
        input=password.encode("utf-8"),
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("ascii").strip()


class MailutilsServer(LocalPop3Server):
    """A throw-away GNU Mailutils pop3d in its own temporary directory.

    Use as a context manager or call :meth:`start` / :meth:`stop`. User names are
    given without the domain; :meth:`login` gives the name a client must send.
    """

    def __init__(
        self,
        *,
        cert: CertMaterial | None = None,
        cert_san: Sequence[str] = DEFAULT_SAN,
        start_timeout: float = 20.0,
        keep_workdir: bool = False,
    ) -> None:
        self._start_timeout = start_timeout
        self._keep_workdir = keep_workdir
        self._is_root = os.geteuid() == 0
        if self._is_root:
            entry = pwd.getpwnam("nobody")
            self._mail_uid, self._mail_gid = entry.pw_uid, entry.pw_gid
        else:
            self._mail_uid, self._mail_gid = os.geteuid(), os.getegid()
        self._dir = make_workdir("poptui-mailutils-")
        for sub in ("home", "pw"):
            (self._dir / sub).mkdir(mode=0o755)
        self._users: dict[str, str] = {}
        self._hashes: dict[str, str] = {}
        self._deliveries = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int, int] | None = None
        self._cert: CertMaterial = cert or make_self_signed(self._dir / "tls", san=cert_san)

    # ------------------------------------------------------------------ facts
    _name = "pop3d"

    def _error(self, message: str) -> Exception:
        return MailutilsError(message)

    @property
    def conf_path(self) -> Path:
        return self._dir / "pop3d.conf"

    @property
    def log_path(self) -> Path:
        return self._dir / "pop3d.log"

    def log_text(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")
        return ""

    # ------------------------------------------------------------------ users
    @staticmethod
    def login(user: str) -> str:
        """The name a client logs in with: pop3d refuses a name without its domain."""
        return f"{user}@{DOMAIN}"

    @staticmethod
    def _local(user: str) -> str:
        """*user* without ``@domain``: the methods below take either form."""
        return user.removesuffix(f"@{DOMAIN}")

    def home(self, user: str) -> Path:
        return self._dir / "home" / self._local(user)

    def maildir(self, user: str) -> Path:
        """The user's INBOX, a Maildir."""
        return self.home(user) / "INBOX"

    def add_user(self, name: str, password: str) -> None:
        """Add a user (or change its password); effective at the next login."""
        name = self._local(name)
        if not name or any(c in name for c in ":/\\@\n\r\0\t ") or name in (".", ".."):
            raise ValueError(f"unusable pop3d user name: {name!r}")
        self._users[name] = password
        self._hashes[name] = _hash_password(password)
        self._ensure_maildir(name)
        self._write_passwd()

    def remove_user(self, name: str) -> None:
        """Forget a user (its mail stays on disk until :meth:`stop`)."""
        name = self._local(name)
        self._users.pop(name, None)
        self._hashes.pop(name, None)
        self._write_passwd()

    def _write_passwd(self) -> None:
        lines = [
            f"{name}:{hashed}:{self._mail_uid}:{self._mail_gid}::{self.home(name)}:/bin/sh\n"
            for name, hashed in self._hashes.items()
        ]
        tmp = self._dir / "pw" / f".{DOMAIN}.tmp"
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)
        tmp.replace(self._dir / "pw" / DOMAIN)

    def _chown(self, path: Path) -> None:
        if self._is_root:
            os.chown(path, self._mail_uid, self._mail_gid)

    def _ensure_maildir(self, user: str) -> Path:
        home = self.home(user)
        maildir = self.maildir(user)
        for directory in (home, maildir, maildir / "tmp", maildir / "new", maildir / "cur"):
            if not directory.exists():
                directory.mkdir(mode=0o700)
                self._chown(directory)
        return maildir

    # ------------------------------------------------------------------- mail
    def deliver(self, user: str, raw: bytes) -> str:
        """Drop one message into ``INBOX/new`` atomically (``tmp/`` then rename).

        Line ends are stored as LF, as a Unix MDA stores them: pop3d 3.15 misreads a
        Maildir file with CRLF line ends (it finds no header/body break, serves a
        2-byte message and rewrites the file as just its ``X-UIDL:`` header).
        """
        raw = raw.replace(b"\r\n", b"\n")
        maildir = self._ensure_maildir(user)
        self._deliveries += 1
        seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
        name = f"{seconds}.M{micros:06d}P{os.getpid()}Q{self._deliveries:08d}.poptui-test"
        tmp = maildir / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            self._chown(tmp)
            tmp.rename(maildir / "new" / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return name

    def deliver_many(self, user: str, messages: Iterable[bytes]) -> list[str]:
        return [self.deliver(user, raw) for raw in messages]

    def maildir_files(self, user: str) -> list[Path]:
        """Message files in ``new/`` and ``cur/``, in delivery order.

        pop3d renames a file when it moves it to ``cur/`` (appending ``,a=O,u=1:2,S``
        and the like), but the part before the first comma -- the delivery name -- stays.
        """
        maildir = self.maildir(user)
        files = [
            path
            for sub in ("new", "cur")
            if (maildir / sub).is_dir()
            for path in (maildir / sub).iterdir()
            if path.is_file()
        ]
        return sorted(files, key=lambda p: re.split(r"[,:]", p.name, maxsplit=1)[0])

    def maildir_messages(self, user: str) -> list[bytes]:
        """Contents of the messages the server still holds, in delivery order."""
        return [path.read_bytes() for path in self.maildir_files(user)]

    def clear(self, user: str) -> None:
        """Delete every message of *user*."""
        maildir = self.maildir(user)
        for sub in ("new", "cur", "tmp"):
            directory = maildir / sub
            if directory.is_dir():
                for path in directory.iterdir():
                    path.unlink(missing_ok=True)

    # -------------------------------------------------------------- lifecycle
    def _config(self, ports: tuple[int, int, int]) -> str:
        d = self._dir
        plain, starttls, tls = ports
        cert, key = self._cert.cert_path, self._cert.key_path
        return f"""# generated by tests/servers/mailutils.py
mode daemon;
foreground true;
pidfile {d}/pop3d.pid;
auth {{
  authentication generic;
  authorization virtdomain;
}};
virtdomain {{
  passwd-dir {d}/pw;
}};
mandatory-locking {{
  enable false;
}};
logging {{
  syslog false;
  severity debug;
}};
tls-file-checks {{
  key-file none;
  cert-file none;
  ca-file none;
}};
tls {{
  ssl-certificate-file {cert};
  ssl-key-file {key};
}};
server {HOST}:{plain} {{
  tls-mode false;
}};
server {HOST}:{starttls} {{
  tls-mode stls;
}};
server {HOST}:{tls} {{
  tls-mode connection;
}};
"""

    def start(self) -> Self:
        if self.running:
            return self
        pop3d = find_binary("pop3d", DEBIAN_PACKAGE)
        last_error: MailutilsError | None = None
        for _attempt in range(3):
            ports = free_tcp_ports(3, HOST)
            self._ports = (ports[0], ports[1], ports[2])
            self.conf_path.write_text(self._config(self._ports))
            log = self.log_path.open("wb")
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _SUPERVISOR, pop3d, f"--config-file={self.conf_path}"],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            finally:
                log.close()
            try:
                self._wait_ready()
                return self
            except MailutilsError as exc:
                last_error = exc
                self._kill()
                self._ports = None
                if "in use" not in self.log_text():
                    break
        raise last_error or MailutilsError("pop3d did not start")

    def _kill(self) -> None:
        """Kill the supervisor, pop3d and every session child in their process group."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.stdin is not None:
            proc.stdin.close()
        self._proc = None

    def stop(self) -> None:
        """Stop pop3d (the supervisor kills its process group) and delete the directory."""
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            proc.stdin.close()  # the supervisor's cue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        self._kill()
        self._ports = None
        if not self._keep_workdir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        ports = self._ports or ("-", "-", "-")
        return (
            f"<MailutilsServer {HOST} plain={ports[0]} starttls={ports[1]} tls={ports[2]} "
            f"dir={self._dir}>"
        )
