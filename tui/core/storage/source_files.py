"""Raw messages of a SQLite store in append-only files beside the database: mail written once.

SQLite writes every byte of a blob twice, into the write-ahead log at the commit and into the
database file at the checkpoint, each time followed by an fsync. For a fetch, whose bytes are
almost all raw mail, that doubled the disk's work: 246 MB of mail cost 492 MB of writes, and the
fsyncs waited for them (issue #11: with the sources appended to a file instead, the bench's plain
fetch took 1.45 s instead of 1.84 s). So on a SQLite database file each fetched message's bytes
are appended to a *segment* file in `<database>.sources/a<account id>/` (folders 0700, files
0600, never through a symlink), its row in `message_source` keeps where (`file_segment`,
`file_offset`, `file_length`) and an empty `raw`.

Durability is the database's: a batch's segments are fdatasync'ed (and a new file's folder
fsync'ed) before the COMMIT that records them (`BatchWriter`), so a committed row never points
at bytes a crash can take back. Bytes written by a fetch that is killed before its commit are
referenced by nothing; the next writer appends after them. Each account has one writer at a
time (the mailbox lock, and a `flock` on the segment here besides). Deleting the account removes
its folder. PostgreSQL (a team's database) and in-memory databases keep the bytes in the row,
as do rows stored before migration 16: `read_source` reads both.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

from tui.core.errors import PoptuiError
from tui.core.storage.dialect import dialect_of
from tui.core.storage.files import PRIVATE_DIR, PRIVATE_FILE, SHARED_BITS

SEGMENT_LIMIT = 1 << 30
"""A segment takes no more appends once this large: the next message opens a new file."""
WRITEBACK_BYTES = 1 << 20
"""Appended bytes whose write to disk is started at once (`_start_writeback`), not all left to
the fdatasync before the COMMIT, which wrote up to 16 MB while the storing thread waited (the
longest wait of a 5,000-message fetch 14-20 ms, now 8-9 ms; strace, two runs each)."""
_start_writeback = getattr(os, "posix_fadvise", None)
"""Linux's fadvise(POSIX_FADV_DONTNEED) starts the writeback of a range's dirty pages and does
not wait for it (nor drop them: only clean pages go); elsewhere it is not there, and the
fdatasync does it all as before. Only a hint: durability is the fdatasync's."""
_SEGMENT_NAME = re.compile(r"(\d{6})\.seg")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW
_ROWS = " FROM message_source s JOIN message m ON m.id = s.message_id"
"""Where a message's bytes are: its `message_source` row and (for the folder) its account."""


class SourceFileError(PoptuiError):
    """A message's stored bytes cannot be read or written in its segment file."""

    hint = (
        "Check the folder beside the database (`<database>.sources`): it must be a private "
        "folder of yours, not a link; mail not yet stored is still on the server."
    )


class SourceFiles:
    """The segment files of one SQLite database (`for_database`): appends and reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writing: dict[int, _Segment] = {}
        """The segment each account is appending to in the open transaction."""
        self._new_dirs: list[int] = []
        """Folders (as open descriptors) whose new entries `sync` must make durable."""

    @classmethod
    def for_database(cls, db: Any) -> SourceFiles | None:
        """The files of a SQLite database file; None for PostgreSQL and in-memory databases,
        whose bytes stay in `message_source.raw`."""
        if dialect_of(db).name != "sqlite":
            return None
        name = str(getattr(db, "database", "") or "")
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        return cls(Path(f"{name}.sources"))

    # Writing (one fetch's transaction at a time).

    def append(self, account_id: int, raw: bytes) -> tuple[int, int]:
        """Append `raw` to the account's segment; (segment number, offset) of its bytes."""
        segment = self._writing.get(account_id)
        if segment is not None and segment.end >= SEGMENT_LIMIT:
            segment.close()
            segment = None
        if segment is None:
            segment = self._writing[account_id] = self._open_for_append(account_id)
        offset = segment.end
        view = memoryview(raw)
        try:
            while view:
                view = view[os.write(segment.fd, view) :]
        except OSError as error:
            raise _worded(error, segment.path) from error
        segment.end += len(raw)
        if segment.end - segment.unstarted >= WRITEBACK_BYTES:
            segment.start_writeback()
        return segment.number, offset

    def sync(self) -> None:
        """Make what was appended durable (before the COMMIT that refers to it), then let the
        files go: the next transaction opens them again."""
        try:
            for segment in self._writing.values():
                try:
                    os.fdatasync(segment.fd)
                except OSError as error:
                    raise _worded(error, segment.path) from error
            for fd in self._new_dirs:
                os.fsync(fd)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the files without syncing (the transaction was rolled back)."""
        for segment in self._writing.values():
            segment.close()
        self._writing.clear()
        for fd in self._new_dirs:
            os.close(fd)
        self._new_dirs.clear()

    def _open_for_append(self, account_id: int) -> _Segment:
        folder = self._folder(account_id, create=True)
        try:
            names = (_SEGMENT_NAME.fullmatch(name) for name in os.listdir(folder))
            numbers = sorted(int(m.group(1)) for m in names if m)
            number = numbers[-1] if numbers else 1
            while True:
                name = f"{number:06d}.seg"
                created = False
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_APPEND | _NOFOLLOW, dir_fd=folder)
                except FileNotFoundError:
                    fd = os.open(
                        name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                        PRIVATE_FILE, dir_fd=folder,
                    )  # fmt: skip
                    created = True
                segment = _Segment(fd, number, self.root / f"a{account_id}" / name)
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                    segment.close()
                    raise SourceFileError(f"{segment.path} is not a file of yours")
                fcntl.flock(fd, fcntl.LOCK_EX)  # one writer per account (the mailbox lock too)
                segment.end = os.fstat(fd).st_size  # after any bytes of a killed writer
                segment.unstarted = segment.end
                if segment.end < SEGMENT_LIMIT:
                    break
                segment.close()
                number += 1
            if created:
                self._new_dirs.append(os.dup(folder))
            return segment
        except OSError as error:
            raise _worded(error, self.root / f"a{account_id}") from error
        finally:
            os.close(folder)

    def _folder(self, account_id: int, *, create: bool) -> int:
        """An open descriptor of the account's folder (made private when created here)."""
        if create and not self.root.exists():
            try:
                os.mkdir(self.root, PRIVATE_DIR)
                os.chmod(self.root, PRIVATE_DIR)
                # The parent may be reached through a link of the user's own: followed.
                self._new_dirs.append(os.open(self.root.parent, os.O_RDONLY | os.O_DIRECTORY))
            except FileExistsError:
                pass
            except OSError as error:
                raise _worded(error, self.root) from error
        try:
            root = os.open(self.root, _DIRECTORY)
        except OSError as error:
            raise _worded(error, self.root) from error
        try:
            _check_private(root, self.root, writing=create)
            name = f"a{account_id}"
            if create:
                try:
                    os.mkdir(name, PRIVATE_DIR, dir_fd=root)
                    os.chmod(name, PRIVATE_DIR, dir_fd=root)
                    self._new_dirs.append(os.dup(root))
                except FileExistsError:
                    pass
            try:
                folder = os.open(name, _DIRECTORY, dir_fd=root)
            except OSError as error:
                raise _worded(error, self.root / name) from error
            try:
                _check_private(folder, self.root / name, writing=create)
            except BaseException:
                os.close(folder)
                raise
            return folder
        finally:
            os.close(root)

    # Reading and removing.

    def read(self, account_id: int, number: int, offset: int, length: int) -> bytes:
        """The `length` bytes at `offset` of the account's segment `number`."""
        path = self.root / f"a{account_id}" / f"{number:06d}.seg"
        if number < 1 or offset < 0 or length < 0:
            raise SourceFileError(f"The stored copy in {path} is recorded at an impossible place")
        folder = self._folder(account_id, create=False)
        try:
            fd = os.open(f"{number:06d}.seg", os.O_RDONLY | _NOFOLLOW, dir_fd=folder)
        except OSError as error:
            raise _worded(error, path) from error
        finally:
            os.close(folder)
        try:
            parts = []
            got = 0
            while got < length:
                part = os.pread(fd, length - got, offset + got)
                if not part:
                    raise SourceFileError(
                        f"The stored copy in {path} is damaged: the file ends {length - got} "
                        "bytes before the message does",
                        hint="Restore the folder from a backup; the other messages are intact.",
                    )
                parts.append(part)
                got += len(part)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except OSError as error:
            raise _worded(error, path) from error
        finally:
            os.close(fd)

    def size_of(self, account_id: int, number: int) -> int:
        """The length of a segment file; 0 when it cannot be read (missing, not poptui's)."""
        try:
            folder = self._folder(account_id, create=False)
        except SourceFileError:
            return 0
        try:
            info = os.stat(f"{number:06d}.seg", dir_fd=folder, follow_symlinks=False)
        except OSError:
            return 0
        finally:
            os.close(folder)
        return info.st_size if stat.S_ISREG(info.st_mode) else 0

    def private_paths(self) -> tuple[list[Path], list[Path]]:
        """(folders, files) that hold mail and must stay private, as they are now on disk;
        links are left out (never followed, never made private through)."""
        if not self.root.is_dir() or self.root.is_symlink():
            return [], []
        folders, files = [self.root], []
        for folder in sorted(self.root.glob("a*")):
            if folder.is_dir() and not folder.is_symlink():
                folders.append(folder)
                files.extend(sorted(folder.glob("*.seg")))
        return folders, files

    def remove_account(self, account_id: int) -> None:
        """Delete the account's folder (its rows are gone: nothing refers to these bytes)."""
        folder = self.root / f"a{account_id}"
        if self.root.is_symlink():
            return  # never followed: not poptui's folder
        if folder.is_symlink():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)  # the fd-based rmtree: no link is followed


class _Segment:
    __slots__ = ("end", "fd", "number", "path", "unstarted")

    def __init__(self, fd: int, number: int, path: Path) -> None:
        self.fd = fd
        self.number = number
        self.path = path
        self.end = 0
        self.unstarted = 0
        """Where the bytes begin whose writeback has not been started (`WRITEBACK_BYTES`)."""

    def start_writeback(self) -> None:
        if _start_writeback is not None:
            length = self.end - self.unstarted
            with contextlib.suppress(OSError):  # a hint refused: the fdatasync writes it all
                _start_writeback(self.fd, self.unstarted, length, os.POSIX_FADV_DONTNEED)
        self.unstarted = self.end

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _check_private(fd: int, path: Path, *, writing: bool) -> None:
    """Mail is only written into a private folder of the user's own, and only read from one of
    theirs (a folder someone else made could hold bytes they chose)."""
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or (writing and info.st_mode & SHARED_BITS):
        raise SourceFileError(
            f"{path} is not a private folder of yours ({stat.filemode(info.st_mode)})",
            hint=f"Make it private (chmod 700 {path}), or move it away if it is not yours.",
        )


def _worded(error: OSError, path: Path) -> PoptuiError:
    from tui.core.storage.failures import DiskFull

    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"The disk holding {path} is full")
    if error.errno in (errno.ENOTDIR, errno.ELOOP):  # not the folder or file poptui made
        if path.is_symlink():
            return SourceFileError(f"{path} is a link; poptui does not follow it")
        return SourceFileError(f"{path} is not a folder or file poptui made")
    if error.errno == errno.ENOENT:
        return SourceFileError(
            f"The stored copy in {path} is missing",
            hint="Restore the folder from a backup; the other messages are intact.",
        )
    return SourceFileError(f"Cannot use {path}: {error.strerror or error}")


def read_source(db: Any, message_id: int) -> bytes | None:
    """The raw bytes of a stored message, from its row or its segment; None when the message is
    not stored (deleted meanwhile). Raises `SourceFileError` when its segment cannot give them,
    and refuses a row of a PostgreSQL database that claims a local file (never followed)."""
    row = db.execute_sql(
        dialect_of(db).bind(
            "SELECT s.raw, s.file_segment, s.file_offset, s.file_length, m.account_id"
            f"{_ROWS} WHERE s.message_id = ?"
        ),
        (message_id,),
    ).fetchone()
    if row is None:
        return None
    raw, number, offset, length, account_id = row
    if number is None:
        return bytes(raw)
    files = SourceFiles.for_database(db)
    if files is None or offset is None or length is None:
        raise SourceFileError(f"Message {message_id} refers to a file this database cannot have")
    return files.read(int(account_id), int(number), int(offset), int(length))


def held_sources(db: Any, message_ids: list[int]) -> set[int]:
    """Those of `message_ids` whose bytes are all there: in the row, or within a segment file
    still long enough. The check before a DELE (`sync.guard`): a segment lost or cut short
    since the fetch must not let the server's copy, then the only one, be deleted."""
    held: set[int] = set()
    files = SourceFiles.for_database(db)
    sizes: dict[tuple[int, int], int] = {}
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute_sql(
            dialect_of(db).bind(
                "SELECT s.message_id, s.file_segment, s.file_offset, s.file_length, m.account_id"
                f"{_ROWS} WHERE s.message_id IN ({marks})"
            ),
            chunk,
        ).fetchall()
        for message_id, number, offset, length, account_id in rows:
            if number is None:
                held.add(int(message_id))
                continue
            if files is None or offset is None or length is None:
                continue
            key = (int(account_id), int(number))
            if key not in sizes:
                sizes[key] = files.size_of(*key)
            if int(offset) >= 0 and int(offset) + int(length) <= sizes[key]:
                held.add(int(message_id))
    return held
