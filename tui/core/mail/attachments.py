"""A message's attachments: listed under names safe to show, saved without trusting them.

A name from the message is reduced to a bare, visible file name; saving never leaves the chosen
folder, never follows a symlink, never overwrites (" (1)", " (2)" … instead), and a failed write
(full disk, no permission) removes the partial file and says why in a sentence for the user.
"""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tui.core.errors import PoptuiError
from tui.core.mail.mime import Leaf, leaves, parse_bytes, payload_bytes
from tui.core.mail.parse import unsurrogate
from tui.core.text import clean

MAX_FILENAME_BYTES = 200
MAX_SAVE_ATTEMPTS = 1000
WRITE_CHUNK = 1 << 20


@dataclass(frozen=True)
class AttachmentInfo:
    index: int
    """Position among the message's attachments, as `save_attachment` takes it (0-based)."""
    filename: str
    """Sanitized by `safe_filename`: safe to show and as a default name, never trusted."""
    content_type: str
    size: int
    """Decoded size in bytes."""


class SaveError(PoptuiError):
    """An attachment could not be saved; the message says why, for the user."""

    def __init__(self, message: str, errno_code: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_code


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """A bare, visible file name: no directories, no control or bidi characters, no leading dot.

    "../../etc/passwd" becomes "passwd", "evil\\u202etxt.exe" becomes "eviltxt.exe" (what the
    name really is, not what it pretends to be). Never empty; at most 200 bytes of UTF-8.
    """
    cleaned = clean(unsurrogate(name))
    cleaned = cleaned.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = cleaned.strip().lstrip(".").strip().rstrip(".").strip()
    if not cleaned:
        cleaned = fallback
    if len(cleaned.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return cleaned
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot or len(suffix) > 16 or not stem:
        stem, suffix = cleaned, ""
    budget = MAX_FILENAME_BYTES - len(suffix.encode("utf-8")) - (1 if suffix else 0)
    short = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip()
    return f"{short}.{suffix}" if suffix else short


def _attachment_name(leaf: Leaf, index: int) -> str:
    if leaf.nested_message:
        fallback = f"message-{index + 1}.eml"
    else:
        extension = mimetypes.guess_extension(leaf.content_type) or ".bin"
        fallback = f"attachment-{index + 1}{extension}"
    return safe_filename(leaf.filename, fallback) if leaf.filename else fallback


def list_attachments(parts: Iterable[Leaf]) -> tuple[AttachmentInfo, ...]:
    """The attachments among a message's leaves, numbered as `save_attachment` takes them."""
    found: list[AttachmentInfo] = []
    for leaf in (leaf for leaf in parts if leaf.is_attachment):
        index = len(found)
        found.append(
            AttachmentInfo(
                index=index,
                filename=_attachment_name(leaf, index),
                content_type=clean(leaf.content_type),
                size=len(payload_bytes(leaf)),
            )
        )
    return tuple(found)


def _attachment(raw: bytes, index: int) -> tuple[str, bytes]:
    try:
        found = [leaf for leaf in leaves(parse_bytes(raw)) if leaf.is_attachment]
    except Exception as error:
        raise SaveError("The message could not be decoded, so it has no attachments.") from error
    if not 0 <= index < len(found):
        raise SaveError(f"The message has no attachment number {index + 1}.")
    leaf = found[index]
    return _attachment_name(leaf, index), payload_bytes(leaf)


def _explain(error: OSError, path: Path, directory: Path, size: int) -> SaveError:
    code = error.errno
    if code == errno.ENOSPC:
        text = (
            f"The disk is full: {path.name} ({size:,} bytes) could not be saved in {directory}. "
            "Free some space or choose another folder; nothing was left behind."
        )
    elif code == errno.EDQUOT:
        text = (
            f"Your disk quota is used up: {path.name} could not be saved in {directory}. "
            "Free some space or choose another folder."
        )
    elif code in (errno.EACCES, errno.EPERM):
        text = f"No permission to write in {directory}. Choose another folder."
    elif code == errno.EROFS:
        text = f"{directory} is on a read-only file system. Choose another folder."
    elif code in (errno.ENOENT, errno.ENOTDIR):
        text = f"The folder {directory} does not exist."
    elif code == errno.ENAMETOOLONG:
        text = f"The file name {path.name!r} is too long for this file system."
    elif code == errno.EFBIG:
        text = f"{path.name} is too large for the file system of {directory}."
    else:
        text = f"Could not save {path.name} in {directory}: {error.strerror or error}."
    return SaveError(clean(text), code)


def _numbered(name: str, number: int) -> str:
    if number == 0:
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and len(suffix) <= 16:
        return f"{stem} ({number}).{suffix}"
    return f"{name} ({number})"


def _create_exclusive(directory: Path, name: str, size: int) -> tuple[Path, int]:
    """Open a new file in `directory` named `name`, or "name (1)", "name (2)" … if taken."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for number in range(MAX_SAVE_ATTEMPTS):
        candidate = directory / _numbered(name, number)
        # The name is bare (safe_filename), so the file is always directly in `directory`.
        if candidate.parent != directory or candidate.name in ("", ".", ".."):
            raise SaveError(clean(f"Refusing to save outside {directory}."))
        try:
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno == errno.ELOOP:  # a symlink sits on the name: never follow it
                continue
            raise _explain(error, candidate, directory, size) from error
        os.fchmod(fd, 0o600)  # exactly private whatever the umask (0o600 & ~umask may be less)
        return candidate, fd
    raise SaveError(clean(f"Too many files named like {name} in {directory}; choose another name."))


def save_attachment(raw: bytes, index: int, target: str | os.PathLike[str]) -> Path:
    """Write attachment `index` of `raw` into a folder (or to a file path) and return the path.

    `target` is a folder (the attachment's sanitized name is used) or a file path in an
    existing folder. An existing file is never replaced: " (1)", " (2)" … are added. A failed
    write (full disk, no permission) removes the partial file and raises `SaveError` with a
    sentence for the user.
    """
    name, data = _attachment(raw, index)
    chosen = Path(os.path.expanduser(os.fspath(target)))
    if chosen.is_dir():
        directory = chosen
    else:
        directory = chosen.parent
        name = safe_filename(chosen.name, name)
        if not directory.is_dir():
            raise SaveError(f"The folder {clean(str(directory))} does not exist.")
    directory = directory.resolve()
    path, fd = _create_exclusive(directory, name, len(data))
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view[:WRITE_CHUNK])
            view = view[written:]
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise _explain(error, path, directory, len(data)) from error
    os.close(fd)
    return path
