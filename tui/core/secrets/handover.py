"""How a scheduler hands the encrypted file's passphrase to poptui without a prompt.

In order, the first one set wins:

1. a file descriptor: `--passphrase-fd N` or POPTUI_SECRETS_PASSPHRASE_FD=N (read up to the
   first newline, once per process, then closed);
2. a file readable only by the user: POPTUI_SECRETS_PASSPHRASE_FILE=PATH (refused when group or
   others have any access to it);
3. the environment: POPTUI_SECRETS_PASSPHRASE (every child process inherits it: prefer 1 or 2);
4. systemd's credentials: `$CREDENTIALS_DIRECTORY/poptui-passphrase` (LoadCredential= or
   SetCredentialEncrypted= in the unit), picked up when the service runs with one.

The passphrase stays in this process's memory; it is never written, logged or put in the
environment. Light on purpose: the command-line parser imports this module.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from tui.core.secrets.errors import SecretStoreError

PASSPHRASE_ENV = "POPTUI_SECRETS_PASSPHRASE"
"""For scripts and timers: the encrypted file's passphrase (inherited by every child process)."""
PASSPHRASE_FD_ENV = "POPTUI_SECRETS_PASSPHRASE_FD"
PASSPHRASE_FILE_ENV = "POPTUI_SECRETS_PASSPHRASE_FILE"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
CREDENTIAL_NAME = "poptui-passphrase"
MAX_PASSPHRASE_BYTES = 4096

_lock = threading.Lock()
_fd_option: int | None = None
_read_from_fd: dict[int, str] = {}


@dataclass(frozen=True)
class HandedPassphrase:
    """A passphrase handed over without a prompt, and where it came from (for messages)."""

    passphrase: str
    source: str

    def __repr__(self) -> str:
        return f"HandedPassphrase(source={self.source!r})"


def use_passphrase_fd(fd: int) -> None:
    """`--passphrase-fd N`: read the passphrase from N when a store first needs it."""
    global _fd_option
    with _lock:
        _fd_option = fd


def forget_handed_passphrase() -> None:
    """Forget `--passphrase-fd` and what was read from a descriptor (tests)."""
    global _fd_option
    with _lock:
        _fd_option = None
        _read_from_fd.clear()


def _text(raw: bytes, source: str) -> str:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretStoreError(f"The passphrase from {source} is not UTF-8 text.") from None
    if not text.strip():
        raise SecretStoreError(f"The passphrase from {source} is empty.")
    return text


def _from_fd(fd: int, source: str) -> str:
    """Up to the first newline (or the end), read once: a descriptor cannot be read twice."""
    with _lock:
        if fd in _read_from_fd:
            return _read_from_fd[fd]
        chunks = bytearray()
        try:
            while len(chunks) <= MAX_PASSPHRASE_BYTES:
                byte = os.read(fd, 1)
                if not byte or byte == b"\n":
                    break
                chunks += byte
        except OSError as exc:
            raise SecretStoreError(
                f"Could not read the passphrase from {source}: {exc.strerror or exc}. "
                "Open it for reading in the command that starts poptui, e.g. 3<FILE."
            ) from None
        finally:
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if len(chunks) > MAX_PASSPHRASE_BYTES:
            raise SecretStoreError(f"The passphrase from {source} is too long.")
        text = _text(bytes(chunks), source)
        _read_from_fd[fd] = text
        return text


def _fd_number(value: str) -> int:
    try:
        fd = int(value)
    except ValueError:
        fd = -1
    if fd < 0:
        raise SecretStoreError(
            f"{PASSPHRASE_FD_ENV} must be a file descriptor number such as 3, not {value!r}."
        )
    return fd


def _from_file(path: Path, source: str, refused_bits: int) -> str:
    """The file's first line, when its mode gives group/others none of `refused_bits`."""
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SecretStoreError(f"The passphrase file {source} is not a regular file.")
            mode = stat.S_IMODE(st.st_mode)
            if mode & refused_bits:
                raise SecretStoreError(
                    f"The passphrase file {source} can be read or changed by other users "
                    f"(mode {mode:04o}): refused. Make it yours alone: chmod 600 {path}"
                )
            raw = handle.read(MAX_PASSPHRASE_BYTES + 1)
    except OSError as exc:
        raise SecretStoreError(
            f"Could not read the passphrase file {source}: {exc.strerror or exc}."
        ) from None
    if len(raw) > MAX_PASSPHRASE_BYTES:
        raise SecretStoreError(f"The passphrase file {source} is too long.")
    return _text(raw.split(b"\n", 1)[0], source)


def handed_over_passphrase() -> HandedPassphrase | None:
    """The passphrase a scheduler handed over (see the module's order), or None.

    Raises `SecretStoreError` naming the source when one is set but cannot be used (a closed
    descriptor, a file others can read, an empty passphrase): never falls through silently.
    """
    env = os.environ
    with _lock:
        fd_option = _fd_option
    if fd_option is not None:
        source = f"--passphrase-fd {fd_option}"
        return HandedPassphrase(_from_fd(fd_option, source), source)
    if env.get(PASSPHRASE_FD_ENV):
        fd = _fd_number(env[PASSPHRASE_FD_ENV])
        source = f"{PASSPHRASE_FD_ENV}={fd}"
        return HandedPassphrase(_from_fd(fd, source), source)
    if env.get(PASSPHRASE_FILE_ENV):
        path = Path(env[PASSPHRASE_FILE_ENV]).expanduser()
        source = f"{path} ({PASSPHRASE_FILE_ENV})"
        return HandedPassphrase(_from_file(path, source, 0o077), source)
    if env.get(PASSPHRASE_ENV):
        return HandedPassphrase(env[PASSPHRASE_ENV], PASSPHRASE_ENV)
    if env.get(CREDENTIALS_ENV):
        path = Path(env[CREDENTIALS_ENV]) / CREDENTIAL_NAME
        if path.exists():
            source = f"the systemd credential {path}"
            # systemd makes the directory private to the service; others must not read the file.
            return HandedPassphrase(_from_file(path, source, 0o007), source)
    return None
