"""Fetched mail written once, into segment files beside the SQLite database
(`storage.source_files`): byte for byte from a real Dovecot, private, durable before the rows that
point at it, and refused (with nothing deleted on the server) when the folder is not poptui's."""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import (
    crlf,
    dovecot_account,
    fetch,
    make_message,
    open_test_db,
    stored_sources,
)
from tests.servers.dovecot import DovecotServer
from tui.core.settings import DeletePolicy, Security
from tui.core.storage import source_files
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, Message, database_proxy
from tui.core.storage.queries import load_source
from tui.core.storage.source_files import SourceFileError, SourceFiles, read_source


def _sources_root(tmp_path: Path) -> Path:
    return tmp_path / "fetch.db.sources"


def _database_bytes(tmp_path: Path) -> int:
    """The SQLite files' sizes: the database, its write-ahead log and shared memory."""
    return sum(p.stat().st_size for p in tmp_path.glob("fetch.db*") if p.is_file())


def _deliver(dovecot: DovecotServer, pop_user: PopUser, count: int, size: int = 0) -> list[bytes]:
    messages = [
        make_message(i, body=(f"line {i} ".encode() * (size // 8 + 1))[:size] + b"\r\n")
        if size
        else make_message(i)
        for i in range(count)
    ]
    dovecot.deliver_many(pop_user.name, messages)
    return messages


def test_fetched_mail_is_written_once_into_private_segment_files(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    messages = _deliver(dovecot, pop_user, 20, size=300_000)  # 6 MB of mail
    open_test_db(tmp_path)
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    before = _database_bytes(tmp_path)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok and result.new_messages == 20, result.error

    assert sorted(stored_sources(account)) == sorted(crlf(m) for m in messages)
    rows = database_proxy.obj.execute_sql(
        "SELECT message_id, raw, file_segment, file_offset, file_length FROM message_source"
    ).fetchall()
    assert all(bytes(raw) == b"" for _, raw, *_ in rows)  # not in SQLite: not written twice
    assert {segment for _, _, segment, _, _ in rows} == {1}
    root = _sources_root(tmp_path)
    folder = root / f"a{account.id}"
    (segment,) = folder.iterdir()
    assert segment.name == "000001.seg"
    assert segment.stat().st_size == sum(length for *_, length in rows)
    for path, mode in ((root, 0o700), (folder, 0o700), (segment, 0o600)):
        assert stat.S_IMODE(path.lstat().st_mode) == mode, path
    # The database grew by its rows, their indexes and their log frames, not by the mail (in
    # the rows, the mail alone would have grown it by its size, and the log by as much again).
    assert _database_bytes(tmp_path) - before < segment.stat().st_size / 4

    # The next fetch appends to the same file; what is there stays where its rows say.
    more = _deliver(dovecot, pop_user, 3, size=1000)
    again = fetch(Account.get_by_id(account.id), pop_user.password, tmp_path)
    assert again.ok and again.new_messages == 3
    assert sorted(stored_sources(account)) == sorted(crlf(m) for m in messages + more)
    assert [p.name for p in folder.iterdir()] == ["000001.seg"]


def test_a_damaged_segment_is_a_clear_error_and_the_other_messages_still_read(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    _deliver(dovecot, pop_user, 3)
    open_test_db(tmp_path)
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    assert fetch(account, pop_user.password, tmp_path).ok
    ids = [m.id for m in Message.select().order_by(Message.id)]
    (segment,) = (_sources_root(tmp_path) / f"a{account.id}").iterdir()
    os.truncate(segment, segment.stat().st_size - 10)  # the last message loses its end

    with pytest.raises(SourceFileError) as damaged:
        load_source(ids[-1])
    assert "damaged" in damaged.value.message and "10 bytes" in damaged.value.message
    assert damaged.value.hint  # what to do, not only what happened
    assert load_source(ids[0]).startswith(b"From: Sender 0")
    segment.unlink()
    with pytest.raises(SourceFileError, match="missing"):
        load_source(ids[0])


@pytest.mark.parametrize("kind", ["link", "loose"])
def test_a_sources_folder_that_is_not_poptuis_is_refused_and_nothing_is_deleted(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, kind: str
) -> None:
    _deliver(dovecot, pop_user, 4)
    open_test_db(tmp_path)
    account = dovecot_account(
        dovecot, pop_user.name, security=Security.NONE, delete_policy=DeletePolicy.AFTER_FETCH
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    if kind == "link":  # someone points poptui's folder at a place of theirs
        _sources_root(tmp_path).symlink_to(elsewhere)
    else:
        _sources_root(tmp_path).mkdir()
        os.chmod(_sources_root(tmp_path), 0o755)

    with pytest.raises(SourceFileError, match="is a link" if kind == "link" else "not a private"):
        fetch(account, pop_user.password, tmp_path)  # worded by the command line, like a
        # database failure: the fetch stops, nothing of it is kept
    assert Message.select().count() == 0  # rolled back: no row points at bytes not written
    assert len(dovecot.maildir_files(pop_user.name)) == 4  # nothing deleted on the server
    assert list(elsewhere.iterdir()) == []


def test_bytes_of_a_killed_writer_are_skipped_and_segments_roll_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = SourceFiles(tmp_path / "db.sources")
    assert files.append(7, b"lost: the fetch was killed before its commit") == (1, 0)
    files.abandon()  # no sync, no commit: nothing refers to those bytes
    kept = SourceFiles(tmp_path / "db.sources")
    number, offset = kept.append(7, b"first kept")
    assert (number, offset) == (1, len(b"lost: the fetch was killed before its commit"))
    monkeypatch.setattr(source_files, "SEGMENT_LIMIT", offset + 5)
    places = [(number, offset, 10)]
    for text in (b"second kept", b"third kept!"):
        places.append((*kept.append(7, text), len(text)))
    kept.sync()
    assert [p[0] for p in places] == [1, 2, 2]  # past the limit, the next message opens 2
    reader = SourceFiles(tmp_path / "db.sources")
    assert [reader.read(7, *p) for p in places] == [b"first kept", b"second kept", b"third kept!"]
    with pytest.raises(SourceFileError, match="impossible"):
        reader.read(7, 0, 0, 1)


def test_removing_an_account_removes_its_files_unless_its_mail_is_kept(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    _deliver(dovecot, pop_user, 2)
    open_test_db(tmp_path)
    kept = dovecot_account(dovecot, pop_user.name, security=Security.NONE, name="Kept")
    gone = dovecot_account(dovecot, pop_user.name, security=Security.NONE, name="Gone")
    for account in (kept, gone):
        assert fetch(account, pop_user.password, tmp_path).ok
    store = AccountStore("tester")
    store.remove("Kept", keep_mail=True)
    store.remove("Gone", keep_mail=False)
    root = _sources_root(tmp_path)
    assert (root / f"a{kept.id}").is_dir() and not (root / f"a{gone.id}").exists()
    (message_id,) = [m.id for m in Message.select().where(Message.account == kept.id)][:1]
    assert (read_source(database_proxy.obj, message_id) or b"").startswith(b"From: Sender")


def test_a_postgres_row_can_never_point_at_a_local_file(pg_database: Any) -> None:
    """A member of a team database could otherwise make another member's poptui read a file of
    its choosing: the schema refuses such a row, and `read_source` would refuse it too."""
    from tui.core.storage.db import open_database

    db = open_database(pg_database.url)
    try:
        with pytest.raises(Exception, match="message_source_bytes_in_row"), db.atomic():
            db.execute_sql(
                "INSERT INTO message_source (message_id, raw, file_segment, file_offset,"
                " file_length) VALUES (1, '', 1, 0, 10)"
            )
    finally:
        db.close()


def test_doctor_finds_and_fixes_loose_mail_files(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    from tui.core.setup.doctor import loose_private_files, permission_checks

    _deliver(dovecot, pop_user, 2)
    db = open_test_db(tmp_path)
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    assert fetch(account, pop_user.password, tmp_path).ok
    folder = _sources_root(tmp_path) / f"a{account.id}"
    (segment,) = folder.iterdir()
    os.chmod(folder, 0o755)
    os.chmod(segment, 0o644)  # a careless `chmod -R`: others could read the mail
    assert {item.path for item in loose_private_files(db)} >= {folder, segment}
    (check,) = permission_checks(db, fix=True)
    assert check.status == "ok", check
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600


def test_a_message_whose_bytes_are_gone_is_not_deleted_on_the_server(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    """The last check before DELE looks at the bytes, not only the rows: a segment cut short
    since the fetch (a restore gone wrong, a damaged disk) keeps the server's copy."""
    _deliver(dovecot, pop_user, 3)
    open_test_db(tmp_path)
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    assert fetch(account, pop_user.password, tmp_path).ok
    (segment,) = (_sources_root(tmp_path) / f"a{account.id}").iterdir()
    os.truncate(segment, segment.stat().st_size - 1)  # the last message stored loses a byte
    Account.update(delete_policy=DeletePolicy.AFTER_FETCH).where(Account.id == account.id).execute()

    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok, result.error
    (left,) = dovecot.maildir_files(pop_user.name)  # the other two were deleted as asked
    assert b"Message number 2" in Path(left).read_bytes()


class _CacheStat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


def _dirty_pages(fd: int) -> int:
    """Pages of the file still dirty: not yet handed to the disk (Linux's cachestat, 6.5+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    whole = (ctypes.c_uint64 * 2)(0, 0)  # offset 0, length 0: the whole file
    found = _CacheStat()
    if libc.syscall(_CACHESTAT, fd, ctypes.byref(whole), ctypes.byref(found), 0) != 0:
        pytest.skip(f"no cachestat here ({os.strerror(ctypes.get_errno())}): cannot observe")
    return int(found.dirty)


_CACHESTAT = 451  # the same number on every Linux architecture (asm-generic since 6.5)


@pytest.mark.skipif(sys.platform != "linux", reason="the early writeback is Linux's fadvise")
def test_appended_bytes_go_to_disk_while_the_fetch_goes_on_not_all_at_the_commit(
    tmp_path: Path,
) -> None:
    """A fetch's commit came every 16 MB with an fdatasync that wrote them all (27 ms while the
    storer waited); the writeback of every appended MiB is started at once instead."""
    files = SourceFiles(tmp_path / "db.sources")
    chunk = os.urandom(256 * 1024)
    for _ in range(32):  # 8 MiB, as a fetch appends them: message by message
        files.append(3, chunk)
    segment = files._writing[3]
    written = segment.end // os.sysconf("SC_PAGE_SIZE")
    dirty = _dirty_pages(segment.fd)
    # At most the last MiB is still only in memory (before the change: all 2,048 pages).
    assert dirty <= source_files.WRITEBACK_BYTES // os.sysconf("SC_PAGE_SIZE") + 1, (dirty, written)
    files.sync()
    reader = SourceFiles(tmp_path / "db.sources")
    assert reader.read(3, 1, 0, len(chunk)) == chunk
    assert reader.read(3, 1, 31 * len(chunk), len(chunk)) == chunk
