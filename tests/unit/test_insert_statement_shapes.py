"""The id look-up after each batch's INSERT comes in a few statement shapes, not one per batch
size: each shape is a statement SQLite keeps prepared in the driver's cache, and a fetch of
50,000 messages in batches of every size from 1 to 60 held 1.3 MB more than one of 5,000 in
those statements alone (issue #11: peak RSS flat in mailbox size)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tui.core.storage import db as dbmod
from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.models import Account, Message, database_proxy, utcnow


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Any:
    db = dbmod.open_database(f"sqlite:///{tmp_path}/shapes.db")
    yield db
    db.close()


def _message(key: str) -> NewMessage:
    raw = f"From: a@b.example\r\nSubject: {key}\r\n\r\nbody\r\n".encode()
    return NewMessage(key, raw, "a@b.example", "", key, None, "", False, "b.example")


def _account(owner: str) -> Account:
    return Account.create(
        owner=owner, name="Work", email=f"{owner}@example.com", incoming_host="pop.example.com",
        incoming_port=995, incoming_security="ssl", username=owner, delete_policy="leave",
        secret_key=uuid.uuid4().hex,
    )  # fmt: skip


def _stored() -> dict[str, int]:
    rows: Any = Message.select(Message.uidl, Message.id).tuples()
    return dict(rows)


def test_batches_of_every_size_share_a_few_lookup_statements(sqlite_db: Any) -> None:
    account = _account("alice")
    lookups: list[str] = []
    connection = sqlite_db.connection()
    connection.set_trace_callback(lambda sql: lookups.append(sql) if " IN (" in sql else None)
    returned: dict[str, int] = {}
    for size in range(1, 70):
        batch = [_message(f"uid-{size}-{i}") for i in range(size)]
        with sqlite_db.atomic():
            ids = insert_messages(sqlite_db, account.id, batch, utcnow())
        assert sorted(ids) == sorted(m.key for m in batch)  # every key, padding or not
        returned.update(ids)
    connection.set_trace_callback(None)
    shapes = {sql.count("'") for sql in lookups}  # expanded SQL: two quotes per bound key
    assert len(lookups) == 69 and len(shapes) <= 8, sorted(shapes)
    stored = _stored()
    assert returned == stored and len(set(returned.values())) == 69 * 70 // 2


def test_a_batch_past_the_lookup_chunk_still_finds_every_id(sqlite_db: Any) -> None:
    account = _account("bob")
    batch = [_message(f"k{i}") for i in range(1_203)]
    with database_proxy.atomic():
        ids = insert_messages(sqlite_db, account.id, batch, utcnow())
    stored = _stored()
    assert ids == stored and len(ids) == 1_203


def test_postgres_rows_are_numbered_row_by_row_and_their_texts_kept_few() -> None:
    """The PostgreSQL hot path binds `$n` parameters (no client-side parse of each statement):
    a parameter numbered out of place would put one message's bytes in another's row."""
    from tui.core.storage.postgres_insert import placeholders

    assert placeholders(1, 2) == "($1, $2)"
    assert placeholders(2, 3) == "($1, $2, $3), ($4, $5, $6)"
    last = placeholders(1000, 13).rsplit("(", 1)[1]
    assert last == ", ".join(f"${n}" for n in range(12_988, 13_001)) + ")"
    assert placeholders.cache_info().maxsize is not None  # a statement text per batch size
