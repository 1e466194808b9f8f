"""Reading another program's files as a stranger's: not planted by someone else, not huge,
not a device, and warning when a file holding a password is readable by others."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tui.core.imports.found import ImportFailed
from tui.core.text import human_bytes, one_line

MAX_SETUP_BYTES = 1024 * 1024
"""A setup file larger than this is not a setup file (fetchmail's own are a few KB)."""
MAX_STATE_BYTES = 64 * 1024 * 1024
"""A state file of a million UIDLs is about 30 MB; beyond this it is not a state file."""


@dataclass(frozen=True)
class PeerFile:
    """One file's text and whether others than its owner may read it."""

    path: Path
    text: str
    readable_by_others: bool
    mode: int

    def password_warning(self) -> str | None:
        """What to say when this file, holding a clear-text password, is not private."""
        if not self.readable_by_others:
            return None
        return (
            f"{shown(self.path)} holds a clear-text password and others can read it "
            f"(mode {self.mode:04o}): run chmod 600 on it, or delete the password from it "
            "now that poptui keeps it"
        )


def shown(path: Path | str) -> str:
    """A path as a message shows it: under the home directory as ~/…, cleaned of escape
    sequences, its end kept."""
    text = str(path)
    home = str(Path.home())
    if home != "/" and text.startswith(home + "/"):
        text = "~" + text[len(home) :]
    return one_line(text, 160, keep_end=True)


def _trusted_owner(uid: int) -> bool:
    return uid in (os.getuid(), 0)


def read_peer_file(path: Path, *, what: str, limit: int = MAX_SETUP_BYTES) -> PeerFile:
    """The text of `path`, refused when someone else could have planted it or it is not a
    plain file of sensible size. Undecodable bytes become U+FFFD (names are cleaned later)."""
    try:
        link = path.lstat()
        info = path.stat()
    except FileNotFoundError:
        raise ImportFailed(f"No {what} at {shown(path)}") from None
    except OSError as error:
        raise ImportFailed(f"Cannot read the {what} {shown(path)}: {error.strerror}") from None
    if stat.S_ISLNK(link.st_mode) and not _trusted_owner(link.st_uid):
        raise ImportFailed(
            f"{shown(path)} is a symbolic link made by another user (uid {link.st_uid}); "
            "poptui does not read a setup someone else may have planted",
            hint="Remove the link, or copy the file you mean yourself and import that copy.",
        )
    if not _trusted_owner(info.st_uid):
        raise ImportFailed(
            f"The {what} {shown(path)} belongs to another user (uid {info.st_uid}); "
            "poptui imports only your own files",
            hint="Copy it yourself if you trust it, and import the copy.",
        )
    if not stat.S_ISREG(info.st_mode):
        raise ImportFailed(f"The {what} {shown(path)} is not a regular file")
    if info.st_size > limit:
        raise ImportFailed(
            f"The {what} {shown(path)} is {human_bytes(info.st_size)}: too large to be one "
            f"(at most {human_bytes(limit)}); nothing was imported"
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise ImportFailed(f"Cannot read the {what} {shown(path)}: {error.strerror}") from None
    if len(data) > limit:  # grew since stat()
        raise ImportFailed(f"The {what} {shown(path)} is too large to be one; nothing was imported")
    mode = stat.S_IMODE(info.st_mode)
    return PeerFile(path, data.decode("utf-8", "replace"), bool(mode & 0o077), mode)


def read_state_file(path: Path, *, what: str) -> PeerFile | None:
    """A peer's state file, or None when there is none (the peer never fetched)."""
    if not path.exists() and not path.is_symlink():
        return None
    return read_peer_file(path, what=what, limit=MAX_STATE_BYTES)


MAX_UIDL_LENGTH = 70
"""RFC 1939: a UIDL is 1 to 70 characters from 0x21 to 0x7E."""


def valid_uidl(uidl: str) -> bool:
    return 0 < len(uidl) <= MAX_UIDL_LENGTH and all("!" <= c <= "~" for c in uidl)
