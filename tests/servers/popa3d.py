"""A private popa3d on 127.0.0.1: an old, minimal POP3 server (no CAPA, so no pipelining).

popa3d answers every RETR in several small writes with Nagle's algorithm on; a client that
delays its ACKs then waits ~40 ms per message. The suite fetches from it to prove poptui does
not (see ``tests/integration/test_popa3d.py``) and ``bench/fetch_speed.py`` times it.

popa3d conflicts with Dovecot's pop3d (both provide ``pop3-server``), so it is not installed:
``scripts/install-test-deps.sh`` downloads its .deb into ``.cache/debs/`` and this module
unpacks it into ``.cache/popa3d/``. It runs inetd-style: a small listener spawns one popa3d per
connection with the socket as its stdin and stdout.

popa3d authenticates through PAM against ``/etc/passwd`` and ``/etc/shadow``, needs a system
user ``popa3d`` and a chroot directory ``/var/lib/popa3d``, and reads mbox spools in
``/var/mail``. None of that is touched on the machine: the listener runs in a private mount
namespace (``unshare -m``, root only) where a copy of passwd and shadow with the test users
added, a private spool directory and an empty ``/var/lib`` are mounted over the real ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.servers.dovecot import ServerBinaryMissing, make_workdir
from tests.servers.pop3_server import HOST

ROOT = Path(__file__).resolve().parents[2]
DEBS = ROOT / ".cache" / "debs"
UNPACKED = ROOT / ".cache" / "popa3d"
BINARY = UNPACKED / "usr" / "sbin" / "popa3d"
USER = "popuser"
PASSWORD = "popa3d-pass-1"
_UID = 60201
"""The test user's uid in the private passwd (popa3d refuses uid 0, and serves as this uid)."""
_DAEMON_UID = 60200
"""popa3d's own unprivileged user, which it looks up by name and drops to before login."""


class Popa3dError(RuntimeError):
    """popa3d's listener failed to start; the message says why."""


def find_popa3d() -> Path:
    """The unpacked popa3d binary, unpacking the downloaded .deb on first use."""
    if BINARY.is_file():
        return BINARY
    debs = sorted(DEBS.glob("popa3d_*.deb"))
    if not debs or not shutil.which("dpkg"):
        raise ServerBinaryMissing(
            "popa3d not found: it is not installed (it conflicts with dovecot-pop3d); "
            "`bash scripts/install-test-deps.sh` downloads its .deb into .cache/debs/"
        )
    tmp = UNPACKED.with_name(f"popa3d.{os.getpid()}")
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(tmp)], check=True)
    with contextlib.suppress(OSError):  # another process unpacked it at the same time
        tmp.rename(UNPACKED)
    shutil.rmtree(tmp, ignore_errors=True)
    return BINARY


def _as_stored(message: bytes) -> bytes:
    """LF line ends, a final LF, and body lines starting "From " quoted as ">From " (mboxo):
    unquoted, such a line would start a new message."""
    lf = message.replace(b"\r\n", b"\n")
    if not lf.endswith(b"\n"):
        lf += b"\n"
    if lf.startswith(b"From "):
        lf = b">" + lf
    return lf.replace(b"\nFrom ", b"\n>From ")


def served_form(message: bytes) -> bytes:
    """What popa3d sends for `message` stored by `Popa3dServer`: the stored form (quoted
    "From " lines stay quoted: popa3d serves the file as it is) with CRLF line ends."""
    return _as_stored(message).replace(b"\n", b"\r\n")


def mbox_entry(message: bytes) -> bytes:
    """`message` as an mbox entry: a From_ line, the stored form, a blank separator line."""
    return b"From sender@example.test Thu Jan  1 00:00:00 2026\n" + _as_stored(message) + b"\n"


_LISTENER = r"""
import os, signal, socket, subprocess, sys, threading
workdir, binary = sys.argv[1], sys.argv[2]
for source, target in (("passwd", "/etc/passwd"), ("shadow", "/etc/shadow"),
                       ("mail", "/var/mail")):
    subprocess.run(["mount", "--bind", os.path.join(workdir, source), target], check=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/var/lib"], check=True)
os.mkdir("/var/lib/popa3d", 0o755)
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
def stop_with_the_tests():
    sys.stdin.buffer.read()  # EOF: the test process closed the pipe, or died
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=stop_with_the_tests, daemon=True).start()
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # sessions reap themselves
while True:
    conn, _ = listener.accept()
    subprocess.Popen([binary], stdin=conn, stdout=conn, stderr=subprocess.DEVNULL,
                     close_fds=True)
    conn.close()
"""
"""Mounts the private files in its own namespace, then spawns popa3d per connection; kills
itself and every session when its stdin (a pipe from the test process) reaches EOF."""


class Popa3dServer:
    """popa3d serving one user (`USER`/`PASSWORD`) whose mbox holds what `set_messages` put."""

    def __init__(self, *, start_timeout: float = 10.0) -> None:
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._start_timeout = start_timeout

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise Popa3dError("popa3d is not running")
        return self._port

    @property
    def user(self) -> str:
        return USER

    @property
    def password(self) -> str:
        return PASSWORD

    @property
    def spool(self) -> Path:
        if self._dir is None:
            raise Popa3dError("popa3d is not running")
        return self._dir / "mail" / USER

    def set_messages(self, messages: Iterable[bytes]) -> None:
        """Replace the mailbox with `messages` (each as in `mbox_entry`)."""
        tmp = self.spool.with_name(f".{USER}.new")
        with tmp.open("wb") as fh:
            for message in messages:
                fh.write(mbox_entry(message))
        os.chown(tmp, _UID, _UID)
        tmp.chmod(0o600)
        tmp.replace(self.spool)

    def start(self) -> Self:
        if os.geteuid() != 0:
            raise Popa3dError("popa3d's harness needs root (a private mount namespace)")
        if not shutil.which("unshare"):
            raise ServerBinaryMissing("`unshare` not found: apt-get install util-linux")
        binary = find_popa3d()
        self._dir = make_workdir("poptui-popa3d-")
        self._write_users(self._dir)
        (self._dir / "mail").mkdir(mode=0o1777)
        self.set_messages(())
        self._proc = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                sys.executable,
                "-c",
                _LISTENER,
                str(self._dir),
                str(binary),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise Popa3dError(f"popa3d's listener did not start (it said {line!r})")
        self._port = int(line)
        self._wait_ready()
        return self

    def _write_users(self, directory: Path) -> None:
        """passwd and shadow: the machine's own, plus popa3d's daemon user and the test user."""
        hashed = (
            subprocess.run(
                ["openssl", "passwd", "-6", "-stdin"],
                input=PASSWORD.encode(),
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .strip()
        )
        passwd = Path("/etc/passwd").read_text()
        shadow = Path("/etc/shadow").read_text()
        passwd += (
            f"popa3d:x:{_DAEMON_UID}:{_DAEMON_UID}::/nonexistent:/usr/sbin/nologin\n"
            f"{USER}:x:{_UID}:{_UID}::/nonexistent:/usr/sbin/nologin\n"
        )
        shadow += f"popa3d:*:20000:0:99999:7:::\n{USER}:{hashed}:20000:0:99999:7:::\n"
        (directory / "passwd").write_text(passwd)
        (directory / "passwd").chmod(0o644)
        (directory / "shadow").write_text(shadow)
        (directory / "shadow").chmod(0o600)

    def _wait_ready(self) -> None:
        import socket

        deadline = time.monotonic() + self._start_timeout
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as sock:
                    sock.settimeout(5)
                    if sock.recv(512).startswith(b"+OK"):
                        sock.sendall(b"QUIT\r\n")
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise Popa3dError(f"popa3d did not greet within {self._start_timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        self._port = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def expected_messages(messages: Sequence[bytes]) -> list[bytes]:
    """What a client must receive for `messages`, in order."""
    return [served_form(message) for message in messages]
