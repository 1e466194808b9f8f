"""Opening a delivery path without being tricked by another user.

A target in a shared directory (`/tmp`, a group-writable spool) could be replaced by a
symbolic link or a file another user planted, to receive our mail or make us overwrite theirs.
The rules, as the kernel's `protected_symlinks` and procmail apply them: follow a symbolic link
only if we or root own it; refuse a file or folder another user owns, unless we are root and it
is not in a directory anyone may write to (root delivering into a user's own Maildir is normal).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tui.core.delivery.errors import DeliveryError


def expand(address: str) -> Path:
    return Path(os.path.expanduser(address))


def _owned_by_another(info: os.stat_result) -> bool:
    return info.st_uid not in (os.geteuid(), 0)


def _shared(directory: Path) -> bool:
    """Anyone may create entries in `directory` (world-writable, e.g. /tmp)."""
    try:
        return bool(os.stat(directory).st_mode & stat.S_IWOTH)
    except OSError:
        return False


def resolve(path: Path, what: str) -> Path:
    """`path` with its last component's symbolic link followed if that link is safe."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as error:
        raise DeliveryError(f"Could not deliver to {what}: {error.strerror}") from error
    if stat.S_ISLNK(info.st_mode):
        if _owned_by_another(info):
            raise DeliveryError(
                f"Could not deliver to {what}: it is a symbolic link owned by another user "
                f"(uid {info.st_uid})",
                hint="Someone may be trying to redirect your mail; remove the link or pick "
                "another path",
            )
        return Path(os.path.realpath(path))
    return path


def check_owner(info: os.stat_result, path: Path, what: str) -> None:
    """Refuse a file or folder another user owns (see the module's rules)."""
    if info.st_uid == os.geteuid():
        return
    if os.geteuid() != 0 or _shared(path.parent):
        raise DeliveryError(
            f"Could not deliver to {what}: {path} belongs to another user (uid {info.st_uid})",
            hint="poptui delivers only into files and folders you own",
        )
