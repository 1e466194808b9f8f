"""A private Dovecot POP3 server on 127.0.0.1, started and stopped by the tests.

One instance offers three POP3 listeners on free high ports picked at start:

* ``plain_port``    -- no TLS at all: CAPA does *not* list STLS and STLS is refused
  (a second ``pop3-login`` service run with ``-o ssl=no``);
* ``starttls_port`` -- plain text that advertises and accepts STLS (RFC 2595);
* ``tls_port``      -- implicit TLS (RFC 8314, "995-style").

Plaintext USER/PASS and AUTH PLAIN/LOGIN are allowed on every port. Dovecot treats
loopback connections as "secured" anyway, so ``disable_plaintext_auth`` could not
be tested against it in any case.

Users live in a ``dict`` passdb/userdb backed by plain files (``fs:posix``: one
JSON file per user, read afresh on every login), so :meth:`add_user` takes effect
at once, before or after :meth:`start`. (A passwd-file would not: Dovecot 2.3
re-checks it at most once per second -- ``last_sync_time`` in db-passwd-file.c --
so a user added right after another login was refused for up to a second.)
Dovecot's auth penalty (growing delays after failed logins from one IP) is off and
``auth_failure_delay`` is 0, so wrong-password tests stay fast (Dovecot still answers
a failed login after about 0.5 s: it flushes failures on a 500 ms timer).

Mail is Maildir, owned by ``nobody`` (or the current user when not running as
root); :meth:`deliver` writes into ``Maildir/new`` the way an MDA does (``tmp/``
then rename).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.servers.certs import DEFAULT_SAN, CertMaterial, make_self_signed
from tests.servers.pop3_server import HOST, LocalPop3Server
from tests.servers.tcp_proxy import free_tcp_ports

DEBIAN_PACKAGES = "dovecot-core dovecot-pop3d"
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


class ServerBinaryMissing(RuntimeError):
    """A server program is not installed; the message names the Debian package."""


class DovecotError(RuntimeError):
    """Dovecot failed to start or stop; the message carries its log."""


def find_binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServerBinaryMissing(
        f"`{name}` not found: the test suite starts a real server itself. "
        f"Install it with: apt-get install {package}"
    )


_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(None, use_errno=True)  # loaded here: never dlopen() after fork()


def die_with_parent_preexec() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child if the test process dies.

    So a test run killed by ``timeout``/SIGKILL/SIGTERM leaves no server behind
    (Linux ``PR_SET_PDEATHSIG``; a no-op elsewhere). The signal is tied to the
    *thread* that started the child: start servers from the main thread.
    """
    parent = os.getpid()

    def preexec() -> None:
        if _libc is not None and hasattr(_libc, "prctl"):
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl()
            os._exit(1)

    return preexec


def make_workdir(prefix: str) -> Path:
    """A new temp directory (mode 0755) with an ``owner.pid`` marker.

    Also removes directories with the same prefix left behind by test processes
    that no longer exist (their servers died with them, see
    :func:`die_with_parent_preexec`).
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{prefix}*"):
        try:
            owner = int((old / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or being created right now
        if not _pid_alive(owner):
            shutil.rmtree(old, ignore_errors=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)  # mkdtemp makes 0700; server processes must traverse it
    (directory / "owner.pid").write_text(str(os.getpid()))
    return directory


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _user_ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


class DovecotServer(LocalPop3Server):
    """A throw-away Dovecot instance (POP3 only) in its own temporary directory.

    Use as a context manager or call :meth:`start` / :meth:`stop`.

    :param cert: certificate to present; by default a new self-signed one is made
        with *cert_san* as subject alternative names.
    :param cert_san: SAN entries of the generated certificate -- pass e.g.
        ``("wrong.example",)`` for a server whose name does not match 127.0.0.1.
    :param auth_failure_delay: seconds Dovecot waits before answering a failed
        login (Dovecot's default is 2; 0 keeps wrong-password tests fast).
    :param extra_config: text appended verbatim to ``dovecot.conf``.
    :param oauth2_introspection: ``(url, client_id, client_secret)`` of an RFC 7662
        introspection endpoint: XOAUTH2 and OAUTHBEARER are then offered, checked by Dovecot's
        ``oauth2`` passdb (``introspection_mode = post``, user name = the token's ``email``,
        scope ``mail`` required). Users still need :meth:`add_user` (for their mailbox).
    """

    def __init__(
        self,
        *,
        cert: CertMaterial | None = None,
        cert_san: Sequence[str] = DEFAULT_SAN,
        auth_failure_delay: int = 0,
        pop3_uidl_format: str = "%08Xu%08Xv",
        extra_config: str = "",
        oauth2_introspection: tuple[str, str, str] | None = None,
        start_timeout: float = 20.0,
        keep_workdir: bool = False,
    ) -> None:
        self._auth_failure_delay = auth_failure_delay
        self._uidl_format = pop3_uidl_format
        self._extra_config = extra_config
        self._oauth2 = oauth2_introspection
        self._start_timeout = start_timeout
        self._keep_workdir = keep_workdir

        self._is_root = os.geteuid() == 0
        if self._is_root:
            self._login_user, self._internal_user = "dovenull", "dovecot"
            self._mail_uid, self._mail_gid = _user_ids("nobody")
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            self._login_user = self._internal_user = me
            self._mail_uid, self._mail_gid = os.geteuid(), os.getegid()

        self._dir = make_workdir("poptui-dovecot-")
        (self._dir / "home").mkdir(mode=0o755)
        self._users: dict[str, str] = {}
        self._authdir = self._dir / "auth"
        for sub in ("", "passdb", "userdb", "tmp"):
            (self._authdir / sub).mkdir(mode=0o755, exist_ok=True)
        self._deliveries = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: tuple[int, int, int] | None = None
        self._cert: CertMaterial = cert or make_self_signed(self._dir / "tls", san=cert_san)

    # ------------------------------------------------------------------ facts
    _name = "Dovecot"

    def _error(self, message: str) -> Exception:
        return DovecotError(message)

    @property
    def conf_path(self) -> Path:
        return self._dir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self._dir / "dovecot.log"

    def log_text(self) -> str:
        parts = []
        for path in (self.log_path, self._dir / "dovecot.stderr"):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # ------------------------------------------------------------------ users
    def home(self, user: str) -> Path:
        return self._dir / "home" / user

    def maildir(self, user: str) -> Path:
        return self.home(user) / "Maildir"

    def add_user(self, name: str, password: str) -> None:
        """Add a user (or change its password); effective immediately, running or not.

        Dovecot lowercases login names (``auth_username_format = %Lu``), so user
        names are case-insensitive; mail lives under the name as given.
        """
        if not name or any(c in name for c in ":/\\\n\r\0\t ") or name in (".", ".."):
            raise ValueError(f"unusable Dovecot user name: {name!r}")
        self._users[name] = password
        self._ensure_maildir(name)
        encoded = base64.b64encode(password.encode("utf-8")).decode("ascii")
        self._write_auth(
            "userdb",
            name,
            {
                "uid": str(self._mail_uid),
                "gid": str(self._mail_gid),
                "home": str(self.home(name)),
            },
        )
        self._write_auth("passdb", name, {"password": "{PLAIN.B64}" + encoded})

    def remove_user(self, name: str) -> None:
        """Forget a user (its mail stays on disk until :meth:`stop`)."""
        self._users.pop(name, None)
        for table in ("passdb", "userdb"):
            (self._authdir / table / name.lower()).unlink(missing_ok=True)

    def _write_auth(self, table: str, name: str, fields: dict[str, str]) -> None:
        tmp = self._authdir / "tmp" / f"{table}-{name.lower()}"
        tmp.write_text(json.dumps(fields))
        tmp.chmod(0o644)
        tmp.replace(self._authdir / table / name.lower())

    def _chown(self, path: Path) -> None:
        if self._is_root:
            os.chown(path, self._mail_uid, self._mail_gid)

    def _ensure_maildir(self, user: str) -> Path:
        home = self.home(user)
        maildir = home / "Maildir"
        for directory in (home, maildir, maildir / "tmp", maildir / "new", maildir / "cur"):
            if not directory.exists():
                directory.mkdir(mode=0o700)
                self._chown(directory)
        return maildir

    # ------------------------------------------------------------------- mail
    def deliver(self, user: str, raw: bytes) -> str:
        """Drop one message into ``Maildir/new`` atomically; return its file name.

        File names sort in delivery order, so Dovecot numbers messages in that order.
        """
        maildir = self._ensure_maildir(user)
        self._deliveries += 1
        now = time.time_ns()
        seconds, micros = divmod(now // 1000, 1_000_000)
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
        """Message files in ``new/`` and ``cur/``, in delivery (file name) order."""
        maildir = self.maildir(user)
        files = [
            path
            for sub in ("new", "cur")
            if (maildir / sub).is_dir()
            for path in (maildir / sub).iterdir()
            if path.is_file()
        ]
        return sorted(files, key=lambda p: p.name)

    def maildir_messages(self, user: str) -> list[bytes]:
        """Contents of the messages the server still holds, in delivery order."""
        return [path.read_bytes() for path in self.maildir_files(user)]

    def clear(self, user: str, *, reset_index: bool = False) -> None:
        """Delete every message of *user*.

        With ``reset_index`` Dovecot's uidlist/index files are replaced by a fresh
        uidlist with a new, larger UIDVALIDITY, so every UIDL changes from the next
        session on (what a server reset or migration looks like to a client).
        """
        maildir = self.maildir(user)
        if not maildir.exists():
            return
        for sub in ("new", "cur", "tmp"):
            directory = maildir / sub
            if directory.is_dir():
                for path in directory.iterdir():
                    path.unlink(missing_ok=True)
        if reset_index:
            uidlist = maildir / "dovecot-uidlist"
            old_validity = 0
            with contextlib.suppress(OSError, ValueError, IndexError):
                header = uidlist.read_text().split("\n", 1)[0].split()
                old_validity = next(int(f[1:]) for f in header[1:] if f.startswith("V"))
            for path in maildir.iterdir():
                if path.is_file() and path.name.startswith("dovecot"):
                    path.unlink(missing_ok=True)
            validity = max(int(time.time()), old_validity + 1)
            tmp = maildir / "tmp" / "dovecot-uidlist.poptui"
            tmp.write_text(f"3 V{validity} N1\n")
            self._chown(tmp)
            tmp.replace(uidlist)

    # -------------------------------------------------------------- lifecycle
    def _config(self, ports: tuple[int, int, int]) -> str:
        d = self._dir
        plain, starttls, tls = ports
        chroot = "login" if self._is_root else ""
        return f"""# generated by tests/servers/dovecot.py
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = pop3
listen = {HOST}
ssl = yes
ssl_cert = <{self._cert.cert_path}
ssl_key = <{self._cert.key_path}
disable_plaintext_auth = no
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self._oauth2 else ""}
auth_verbose = yes
auth_failure_delay = {self._auth_failure_delay} secs
default_login_user = {self._login_user}
default_internal_user = {self._internal_user}
first_valid_uid = {min(self._mail_uid, 100)}
first_valid_gid = {min(self._mail_gid, 100)}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 100
pop3_uidl_format = {self._uidl_format}
{self._oauth2_passdb()}passdb {{
  driver = dict
  args = {d}/dict-auth.conf.ext
}}
userdb {{
  driver = dict
  args = {d}/dict-auth.conf.ext
}}
# No auth penalty: a failed login must not slow down the next test's login.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  chroot = {chroot}
  inet_listener pop3 {{
    port = {starttls}
  }}
  inet_listener pop3s {{
    port = {tls}
    ssl = yes
  }}
}}
# A second login service with TLS switched off: its port does not offer STLS.
service pop3-login-nostls {{
  executable = pop3-login -o ssl=no
  protocol = pop3
  type = login
  user = $default_login_user
  chroot = {chroot}
  inet_listener pop3-nostls {{
    port = {plain}
  }}
}}
{self._extra_config}
"""

    def _oauth2_passdb(self) -> str:
        if self._oauth2 is None:
            return ""
        url, client_id, secret = self._oauth2
        args = self._dir / "oauth2.conf.ext"
        args.write_text(
            f"introspection_url = {url}\n"
            "introspection_mode = post\n"
            f"client_id = {client_id}\n"
            f"client_secret = {secret}\n"
            "force_introspection = yes\n"
            "username_attribute = email\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "scope = mail\n"
        )
        return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {args}
}}
"""

    def start(self) -> Self:
        if self.running:
            return self
        dovecot = find_binary("dovecot", DEBIAN_PACKAGES)
        find_binary("doveadm", DEBIAN_PACKAGES)
        last_error: Exception | None = None
        for _attempt in range(3):
            plain, starttls, tls = free_tcp_ports(3, HOST)
            ports = (plain, starttls, tls)
            self.conf_path.write_text(self._config(ports))
            (self._dir / "dict-auth.conf.ext").write_text(
                f"uri = fs:posix:prefix={self._authdir}/\n"
                "password_key = passdb/%u\n"
                "user_key = userdb/%u\n"
                "iterate_disable = yes\n"
                "default_pass_scheme = PLAIN\n"
            )
            self.log_path.unlink(missing_ok=True)
            stderr = (self._dir / "dovecot.stderr").open("wb")
            try:
                self._proc = subprocess.Popen(
                    [dovecot, "-F", "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    start_new_session=True,
                    preexec_fn=die_with_parent_preexec(),
                )
            finally:
                stderr.close()
            self._ports = ports
            try:
                self._wait_ready()
                return self
            except DovecotError as exc:
                last_error = exc
                self._kill()
                self._ports = None
                if "in use" not in self.log_text():
                    break
        raise last_error or DovecotError("Dovecot did not start")

    def _kill(self) -> None:
        """Kill the master and everything in its process group, without asking."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        """Stop Dovecot (``doveadm stop``, then SIGKILL) and delete the directory."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                # `doveadm stop` polls until the master's pid is gone; the master is our
                # child (-F), so reap it concurrently or doveadm sees a zombie for 3 s.
                doveadm: subprocess.Popen[bytes] | None = None
                with contextlib.suppress(OSError):
                    doveadm = subprocess.Popen(
                        [
                            find_binary("doveadm", DEBIAN_PACKAGES),
                            *("-c", str(self.conf_path), "stop"),
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
                if doveadm is not None:
                    try:
                        doveadm.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        doveadm.kill()
                        doveadm.wait()
            # Children (login/pop3 processes) share the master's process group:
            # make sure none outlives the test run.
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
            f"<DovecotServer {HOST} plain={ports[0]} starttls={ports[1]} tls={ports[2]} "
            f"dir={self._dir}>"
        )
