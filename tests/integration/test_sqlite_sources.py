"""Raw messages into SQLite (`storage.sqlite_sources`): byte for byte what was given, small and
large alike, in the caller's transaction, and a large one without SQLite holding copies of it
(peak RSS flat in message size, issue #11)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.sqlite_sources import CACHED_SOURCE, LARGE_SOURCE

STORE_ONE = """
import sys, uuid
from tui.core.storage.db import open_database
from tui.core.storage.dialect import write_transaction
from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.models import Account, utcnow

def status(path, field):
    with open(path) as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field))

db = open_database("sqlite:///" + sys.argv[1])
account = Account.create(
    owner="tester", name="Box", email="x@example.com", incoming_host="h", incoming_port=110,
    incoming_security="none", username="x", delete_policy="leave", secret_key=uuid.uuid4().hex,
)
raw = b"Subject: big\\r\\n\\r\\n" + b"x" * 76 * (int(sys.argv[2]) // 78) + b"\\r\\n"
message = NewMessage("big", raw, "", "", "big", None, "", True, "")
{before}
before = {measure}
with write_transaction(db):
    insert_messages(db, account.id, [message], utcnow())
print({measure} - before)
"""
"""One message of argv[2] bytes stored in a fresh database at argv[1]; prints how much `measure`
grew meanwhile."""


def store_one(tmp_path: Path, size: int, measure: str, before: str = "") -> int:
    script = STORE_ONE.format(measure=measure, before=before)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "poptui.db"), str(size)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(done.stdout.split()[-1])


def _new(key: str, raw: bytes) -> NewMessage:
    return NewMessage(key, raw, "a@example.com", "", key, None, "", False, "")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account

    db = open_database(f"sqlite:///{tmp_path / 'poptui.db'}")
    account = Account.create(
        owner="tester", name="Box", email="x@example.com", incoming_host="h", incoming_port=110,
        incoming_security="none", username="x", delete_policy="leave",
        secret_key=uuid.uuid4().hex,
    )  # fmt: skip
    try:
        yield db, int(account.id)
    finally:
        db.close()


def _stored(db: Any) -> dict[str, bytes]:
    rows = db.execute_sql(
        "SELECT m.uidl, s.raw FROM message m JOIN message_source s ON s.message_id = m.id"
    ).fetchall()
    return {uidl: bytes(raw) for uidl, raw in rows}


def test_small_and_large_messages_are_stored_byte_for_byte(database: tuple[Any, int]) -> None:
    from tui.core.storage.dialect import write_transaction
    from tui.core.storage.models import utcnow

    db, account_id = database
    values = bytes(range(256))
    sizes = [
        10, LARGE_SOURCE - 1, LARGE_SOURCE, LARGE_SOURCE + 1, 3 * 1024 * 1024 + 7, 0,
        CACHED_SOURCE, CACHED_SOURCE + 1,
    ]  # fmt: skip
    batch = [_new(f"k{size}", (values * (size // 256 + 1))[:size]) for size in sizes]
    with write_transaction(db):
        ids = insert_messages(db, account_id, batch, utcnow())
    assert sorted(ids) == sorted(m.key for m in batch)
    assert _stored(db) == {m.key: m.raw for m in batch}


def test_the_page_cache_is_given_back_after_a_large_message(database: tuple[Any, int]) -> None:
    from tui.core.storage.dialect import write_transaction
    from tui.core.storage.models import utcnow

    db, account_id = database
    db.execute_sql("PRAGMA cache_size = 77")  # pages, as a user's setting might be
    with write_transaction(db):
        insert_messages(db, account_id, [_new("big", b"w" * (2 * 1024 * 1024))], utcnow())
    assert db.execute_sql("PRAGMA cache_size").fetchone() == (77,)
    assert _stored(db) == {"big": b"w" * (2 * 1024 * 1024)}


def test_a_failing_batch_leaves_no_source_large_or_small(database: tuple[Any, int]) -> None:
    from tui.core.storage.dialect import write_transaction
    from tui.core.storage.models import utcnow

    db, account_id = database
    with write_transaction(db):
        insert_messages(db, account_id, [_new("dup", b"first\r\n")], utcnow())
    batch = [_new("big", b"y" * (2 * LARGE_SOURCE)), _new("small", b"z"), _new("dup", b"again")]
    with pytest.raises(Exception, match="UNIQUE"), write_transaction(db):
        insert_messages(db, account_id, batch, utcnow())
    assert _stored(db) == {"dup": b"first\r\n"}
    assert db.execute_sql("SELECT count(*) FROM message_source").fetchone() == (1,)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux peak-RSS reset")
def test_a_large_message_costs_sqlite_no_copy_of_it(tmp_path: Path) -> None:
    size = 12 * 1024 * 1024
    reset_peak = 'with open("/proc/self/clear_refs", "w") as refs: refs.write("5")'
    grew_kb = store_one(tmp_path, size, 'status("/proc/self/status", "VmHWM")', reset_peak)
    # Bound to SQLite's own copies (bound as a parameter, then a record): 2.5 times the
    # message, 30 MB here. Through blob I/O the pages go out a cache-full at a time.
    assert grew_kb * 1024 < size // 2, f"storing a {size:,}-byte message took {grew_kb:,} KB more"


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="Linux write accounting")
def test_a_large_message_goes_to_the_wal_once(tmp_path: Path) -> None:
    size = 3 * 1024 * 1024  # above the default 2 MB page cache, within CACHED_SOURCE
    written = store_one(tmp_path, size, 'status("/proc/self/io", "wchar")')
    # Its zero-filled pages spilled to the WAL, read back and written again: twice the message.
    assert written < 1.4 * size, f"a {size:,}-byte message wrote {written:,} bytes"
