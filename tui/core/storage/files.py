"""Private by default: poptui's files hold mail and passwords, so they are created 0600 in 0700
directories whatever the umask, and looser existing ones are found and fixed in one step.

SQLite creates the -wal and -shm files with the mode of the database file, so creating the
database file 0600 before SQLite opens it keeps all three private. Directories poptui creates
are made 0700; directories that already existed (a user's own folder) are left alone.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SHARED_BITS = 0o077
"""Any permission for the group or others is too loose."""
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0)


def make_private_dirs(path: Path) -> None:
    """`mkdir -p path`, each directory created here made 0700; raises OSError."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by another process: theirs to decide
        os.chmod(directory, PRIVATE_DIR)


def create_private_file(path: Path) -> bool:
    """Create `path` empty with mode 0600 unless it exists (never through a symlink); True when
    created. An empty file is a valid empty SQLite database."""
    try:
        fd = os.open(path, _CREATE, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def sqlite_files(path: Path) -> list[Path]:
    """The database file and the write-ahead log and shared-memory files SQLite keeps beside it."""
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm")]


def database_files(db: Any) -> list[Path]:
    """The files of an open peewee database: SQLite's three; none for PostgreSQL or :memory:."""
    name = getattr(db, "database", None)
    if type(db).__name__ != "SqliteDatabase" or not name or name == ":memory:":
        return []
    return sqlite_files(Path(name))


def data_directory() -> Path:
    """poptui's own data directory (~/.local/share/poptui on Linux)."""
    from platformdirs import user_data_path

    return user_data_path("poptui", appauthor=False)


@dataclass(frozen=True)
class LoosePermission:
    """A file or directory others may read (or enter): what it is, and what it should be."""

    path: Path
    mode: int
    wanted: int

    def describe(self) -> str:
        kind = "folder" if self.wanted == PRIVATE_DIR else "file"
        return f"{kind} {self.path} is {stat.filemode(self.mode)}, should be private"


def loose_permissions(
    files: Iterable[Path], directories: Iterable[Path] = ()
) -> list[LoosePermission]:
    """The existing ones among `files` and `directories` that the group or others may use."""
    found: list[LoosePermission] = []
    for paths, wanted in ((files, PRIVATE_FILE), (directories, PRIVATE_DIR)):
        for path in paths:
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            if mode & SHARED_BITS:
                found.append(LoosePermission(path, mode, wanted))
    return found


def fix_command(found: Iterable[LoosePermission]) -> str:
    """The one shell command that fixes them all: `chmod 600 … && chmod 700 …`."""
    parts = []
    for wanted in (PRIVATE_FILE, PRIVATE_DIR):
        paths = [shlex.quote(str(item.path)) for item in found if item.wanted == wanted]
        if paths:
            parts.append(f"chmod {wanted:o} {' '.join(paths)}")
    return " && ".join(parts)


def make_private(found: Iterable[LoosePermission]) -> list[str]:
    """Make each private; returns what could not be fixed, in words (empty when all were)."""
    failures = []
    for item in found:
        try:
            os.chmod(item.path, item.wanted, follow_symlinks=False)
        except (OSError, NotImplementedError) as error:
            failures.append(f"{item.path}: {getattr(error, 'strerror', None) or error}")
    return failures
