"""Writing one message into a Maildir, the way the Maildir specification says (and exactly once).

tmp/NAME is written and fsynced, then renamed into new/NAME, and new/ is fsynced. NAME is
derived from the message and the target (from the bytes, for an export), so a name that is
already there holds the same message: delivering it again finds its own file instead of
writing a second copy. After a crash mid-delivery the writer also looks in cur/, where a
reader moves what it has seen.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from tui.core.delivery.errors import DeliveryError
from tui.core.delivery.paths import check_owner, expand, resolve

_SUBDIRS = ("tmp", "new", "cur")


def _hostname() -> str:
    # The spec: "/" and ":" in the host name are written \057 and \072.
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


def unique_name(seconds: int, key: str) -> str:
    """A Maildir file name: time, then a key unique per message and target, then the host."""
    return f"{seconds}.P{key}.{_hostname()}"


class Maildir:
    """One Maildir folder, opened for delivery (created 0700 with tmp/new/cur if missing)."""

    def __init__(self, address: str, *, label: str | None = None) -> None:
        self.label = label or f"Maildir {address}"
        self.root = resolve(expand(address), self.label)
        self._cur: set[str] | None = None
        try:
            self._prepare()
        except OSError as error:
            raise self._failure(error) from error

    def _failure(self, error: OSError) -> DeliveryError:
        return DeliveryError(f"Could not deliver to {self.label}: {error.strerror or error}")

    def _prepare(self) -> None:
        if not self.root.exists():
            self.root.mkdir(mode=0o700, parents=True)
        info = os.stat(self.root)
        if not stat.S_ISDIR(info.st_mode):
            raise DeliveryError(f"Could not deliver to {self.label}: it is not a folder")
        check_owner(info, self.root, self.label)
        self._owner = (info.st_uid, info.st_gid)
        for sub in _SUBDIRS:
            path = self.root / sub
            try:
                os.mkdir(path, 0o700)
                if os.geteuid() == 0 and self._owner[0] != 0:
                    os.chown(path, *self._owner)
            except FileExistsError:
                pass
            sub_info = os.lstat(path)
            if not stat.S_ISDIR(sub_info.st_mode):
                raise DeliveryError(
                    f"Could not deliver to {self.label}: {sub}/ is not a folder (a link?)"
                )
            check_owner(sub_info, path, self.label)

    def holds(self, name: str, *, look_in_cur: bool) -> bool:
        """Is the message named `name` already here (new/, and cur/ when asked)?"""
        if os.path.lexists(self.root / "new" / name):
            return True
        if not look_in_cur:
            return False
        if self._cur is None:
            # Readers rename new/NAME to cur/NAME:2,FLAGS: one listing serves a whole batch.
            self._cur = {entry.split(":", 1)[0] for entry in os.listdir(self.root / "cur")}
        return name in self._cur

    def deliver(
        self, raw: bytes, name: str, *, look_in_cur: bool = False, sync: bool = True
    ) -> bool:
        """Write `raw` as new/NAME unless the message is already here; whether it was written.

        `look_in_cur`: a delivery of this message may have happened before (a crash between
        writing it and recording it), so cur/ is searched too. `sync=False` leaves fsyncing the
        folder to `sync()` (export syncs once at the end; each file is still fsynced).
        """
        try:
            if self.holds(name, look_in_cur=look_in_cur):
                return False
            tmp = self.root / "tmp" / name
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # our own leftover from an interrupted attempt (the name is ours)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(fd, view) :]
                if os.geteuid() == 0 and self._owner[0] != 0:
                    os.fchown(fd, *self._owner)  # root delivering into a user's Maildir
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.root / "new" / name)
            if sync:
                self.sync()
            return True
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(self.root / "tmp" / name)
            raise self._failure(error) from error

    def sync(self) -> None:
        """fsync new/, so the renames into it survive a power cut."""
        fd = os.open(self.root / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
