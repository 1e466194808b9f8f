"""Appending to an mbox file the way mutt and procmail expect it (mboxrd).

Locking: first a dot-lock, `FILE.lock` created with O_EXCL (what procmail and mutt's dotlock
make; one older than procmail's 1024 s lock timeout is stale and removed), then an fcntl lock
on the file itself (what mutt takes). Each message starts with a `From ` line and lines of
the message that start with `>*From ` get one more `>` (mboxrd: a reader removes exactly one,
so the original bytes come back). A failed write is cut off again, so no half message stays.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tui.core.delivery.errors import DeliveryError
from tui.core.delivery.paths import check_owner, expand, resolve

LOCK_WAIT = 30.0
"""Seconds to wait for another program's lock before giving up (the mail stays on the server)."""
STALE_LOCK = 1024.0
"""procmail's default LOCKTIMEOUT: an older dot-lock was left by a dead program."""

_FROM_AFTER_NEWLINE = re.compile(rb"\n(>*From )")
_FROM_AT_START = re.compile(rb">*From ")
_ADDRESS = re.compile(rb"^Return-Path:[ \t]*<([^<>\s]*)>", re.MULTILINE | re.IGNORECASE)


def escape(raw: bytes) -> bytes:
    """mboxrd: one more `>` before every line that starts with `>*From `."""
    if b"From " not in raw:
        return raw  # most mail: no scan at all
    # A pattern that starts with a literal newline is searched for fast; `^` with MULTILINE
    # is tried at every byte (measured: three times slower over 10,000 messages).
    body = _FROM_AFTER_NEWLINE.sub(rb"\n>\1", raw)
    return b">" + body if _FROM_AT_START.match(body) else body


def unescape(body: bytes) -> bytes:
    """What a reader does: one `>` less before every `>+From ` line."""
    return re.sub(rb"^>(>*From )", rb"\1", body, flags=re.MULTILINE)


_BLANK_LINE = re.compile(rb"\n\r?\n")


def _header_end(raw: bytes) -> int:
    found = _BLANK_LINE.search(raw)
    return found.start() if found else len(raw)


def from_line(raw: bytes, when: datetime) -> bytes:
    """`From SENDER DATE`: the envelope sender from Return-Path, else MAILER-DAEMON."""
    found = _ADDRESS.search(raw, 0, _header_end(raw))
    sender = found.group(1) if found and found.group(1) else b"MAILER-DAEMON"
    return b"From " + sender + b" " + when.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n"


def entry(raw: bytes, when: datetime) -> bytes:
    """One message as it is appended: From line, escaped bytes, a blank line after."""
    body = escape(raw)
    if not body.endswith(b"\n"):
        body += b"\n"
    return from_line(raw, when) + body + b"\n"


class Mbox:
    """An mbox file opened for appending, locked while `locked()` is held."""

    def __init__(self, address: str, *, label: str | None = None) -> None:
        self.label = label or f"mbox {address}"
        self.path = resolve(expand(address), self.label)
        self._fd: int | None = None

    def _failure(self, error: OSError, doing: str = "") -> DeliveryError:
        return DeliveryError(f"Could not deliver to {self.label}: {doing}{error.strerror or error}")

    @contextlib.contextmanager
    def locked(self, wait: float = LOCK_WAIT) -> Iterator[Mbox]:
        """Open (create 0600 if missing) and lock the file; unlock and close on leaving."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise DeliveryError(
                    f"Could not deliver to {self.label}: it became a symbolic link"
                ) from error
            raise self._failure(error) from error
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise DeliveryError(f"Could not deliver to {self.label}: it is not a plain file")
            check_owner(info, self.path, self.label)
            folder = os.stat(self.path.parent)
            if os.geteuid() == 0 and info.st_uid == 0 and folder.st_uid != 0:
                os.fchown(fd, folder.st_uid, folder.st_gid)  # root writing into a user's folder
            dotlock = self._dotlock(wait)
            try:
                self._fcntl_lock(fd, wait)
                self._fd = fd
                yield self
            finally:
                self._fd = None
                if dotlock is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(dotlock)
        finally:
            os.close(fd)  # closing drops the fcntl lock

    def _dotlock(self, wait: float) -> Path | None:
        lock = self.path.with_name(self.path.name + ".lock")
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            except FileExistsError:
                with contextlib.suppress(OSError):
                    if time.time() - os.lstat(lock).st_mtime > STALE_LOCK:
                        os.unlink(lock)
                        continue
            except PermissionError:
                # A spool directory only a setgid dotlock helper may write (/var/mail): the
                # fcntl lock below is then the only one, as with mutt without mutt_dotlock.
                return None
            except OSError as error:
                raise self._failure(error, "cannot create its lock file: ") from error
            else:
                with contextlib.suppress(OSError):
                    os.write(fd, f"{os.getpid()}\n".encode())
                os.close(fd)
                return lock
            if time.monotonic() >= deadline:
                raise DeliveryError(
                    f"Could not deliver to {self.label}: {lock} has been held by another "
                    f"program for {wait:.0f} seconds",
                    hint="The mail stays on the server; poptui tries again on the next fetch",
                )
            time.sleep(0.1)

    def _fcntl_lock(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise self._failure(error, "cannot lock it: ") from error
            if time.monotonic() >= deadline:
                raise DeliveryError(
                    f"Could not deliver to {self.label}: another program keeps it locked"
                )
            time.sleep(0.1)

    def append(self, raw: bytes, when: datetime, *, sync: bool = True) -> None:
        """Append one message (inside `locked()`); on failure the file is cut back."""
        fd = self._fd
        if fd is None:
            raise RuntimeError("Mbox.append outside locked()")
        size = os.fstat(fd).st_size
        try:
            data = self._separator(fd, size) + entry(raw, when)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise self._failure(error) from error

    def sync(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as error:
                raise self._failure(error) from error

    def _separator(self, fd: int, size: int) -> bytes:
        """What must come first so our From line follows a blank line (a file cut short
        by someone else's crash)."""
        if size == 0:
            return b""
        tail = os.pread(fd, 2, size - 2) if size >= 2 else os.pread(fd, 1, 0)
        if tail.endswith(b"\n\n") or tail == b"\n":
            return b""
        return b"\n" if tail.endswith(b"\n") else b"\n\n"
