"""Raw sources go into PostgreSQL in multi-row INSERTs (`storage.postgres_insert`): every byte of
every message comes back through the app's readers (the reader's `load_source`, export, the
search indexer) whatever group it travelled in, and a member cannot slip a row for a mailbox he
may not see into a group of his own rows: the whole statement is refused."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.test_postgres_fetch_bytes import Team, binaryish, team  # noqa: F401
from tui.core.delivery.mbox import escape
from tui.core.settings import AccountSettings
from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.postgres_insert import (
    LARGE_BYTES,
    SOURCE_BYTES_PER_INSERT,
    SOURCES_PER_INSERT,
    _source_groups,
)

NOW = datetime(2026, 11, 30, 10, 0, 0)


def _message(index: int, body_size: int) -> bytes:
    """A message whose body starts with a word of its own (for the indexer) and goes on with
    every byte value but CR and LF, NUL included, to `body_size` bytes."""
    head = (
        f"From: ann@example.com\r\nTo: team@example.com\r\nSubject: piece {index}\r\n"
        f"Message-ID: <{index}@groups.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\nmarker{index} Grüße\r\n"
    ).encode()
    filler = binaryish(index, max(0, body_size - 80))
    nul = b"\x00" if index % 3 == 0 else b""
    return head + nul + filler


def _sizes() -> list[int]:
    """Enough small messages to fill more than one group by count, several hundred-KB ones to
    cut groups by bytes, and each boundary: one just over a group's bytes (alone), one at
    `LARGE_BYTES` (still in a group), one just over it (the large-object path), an empty body."""
    small = [1_000 + 37 * n for n in range(2 * SOURCES_PER_INSERT + 30)]
    medium = [300_000, 700_000, 450_000, 90_000, 600_000]
    edges = [SOURCE_BYTES_PER_INSERT + 1, LARGE_BYTES - 200, LARGE_BYTES + 1, 0]
    return small[:40] + medium + small[40:] + edges + [5_000, 6_000]


def _new(index: int, raw: bytes) -> NewMessage:
    return NewMessage(
        key=f"uidl-{index}", raw=raw, from_addr="ann@example.com", to_addrs="team@example.com",
        subject=f"piece {index}", date=None, message_id=f"<{index}@groups.example>",
        has_attachments=False, party_domains=" example.com ",
    )  # fmt: skip


def _role(url: str) -> str:
    return url.split("://", 1)[1].split(":", 1)[0]


@pytest.fixture
def ann(team: Team) -> Iterator[Any]:  # noqa: F811
    """Ann's connection to the team database, the models bound to it, with an account."""
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database

    db = open_database(team.ann)
    try:
        yield (
            db,
            AccountStore(_role(team.ann)).create(
                AccountSettings(name="Ann", email="ann@example.com", incoming_host="h")
            ),
        )
    finally:
        db.close()


def _store(db: Any, account_id: int, raws: list[bytes]) -> dict[str, int]:
    from tui.core.storage.dialect import write_transaction

    with write_transaction(db):
        return insert_messages(db, account_id, [_new(i, raw) for i, raw in enumerate(raws)], NOW)


def test_groups_keep_every_source_once_in_order_within_their_bounds() -> None:
    rows = [(n, b"x" * size) for n, size in enumerate(_sizes())]
    groups = list(_source_groups(iter(rows)))
    flat = [row for group in groups for row in group]
    assert flat == [row for row in rows if len(row[1]) <= LARGE_BYTES]
    for group in groups:
        assert len(group) <= SOURCES_PER_INSERT
        assert len(group) == 1 or sum(len(raw) for _, raw in group) <= SOURCE_BYTES_PER_INSERT
    assert max(len(group) for group in groups) == SOURCES_PER_INSERT
    assert any(len(group) == 1 and len(group[0][1]) > SOURCE_BYTES_PER_INSERT for group in groups)


def test_every_byte_comes_back_through_reader_export_and_indexer(ann: Any, tmp_path: Path) -> None:
    from tui.core.delivery.export import ExportFormat, export_mail
    from tui.core.storage import queries
    from tui.core.storage.mailbox_view import MailboxView

    db, account = ann
    raws = [_message(i, size) for i, size in enumerate(_sizes())]
    ids = _store(db, account.id, raws)
    by_id = {ids[f"uidl-{i}"]: raw for i, raw in enumerate(raws)}

    for message_id, raw in by_id.items():
        assert queries.load_source(message_id) == raw, f"message {message_id} differs"

    view = MailboxView(account.id)
    export_mail(view, ExportFormat.MAILDIR, str(tmp_path / "Maildir"))
    exported = [p.read_bytes() for p in (tmp_path / "Maildir" / "new").iterdir()]
    assert sorted(exported) == sorted(raws)
    export_mail(view, ExportFormat.MBOX, str(tmp_path / "mbox"))
    whole = (tmp_path / "mbox").read_bytes()
    assert all(escape(raw) in whole for raw in raws)
    assert len(mailbox.mbox(tmp_path / "mbox")) == len(raws)

    assert queries.index_all_bodies() == len(raws)
    bodies = dict(db.execute_sql("SELECT id, body_text FROM message").fetchall())
    for index, message_id in enumerate(ids[f"uidl-{i}"] for i in range(len(raws))):
        assert bodies[message_id].startswith(f"marker{index} Grüße"), bodies[message_id][:40]


def test_another_member_cannot_read_or_slip_rows_into_a_group(ann: Any, team: Team) -> None:  # noqa: F811
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import make_database, open_database

    db, account = ann
    anns = _store(db, account.id, [_message(1, 3_000), _message(2, 4_000)])
    victim = anns["uidl-1"]
    db.close()

    eve_db = open_database(team.eve)
    try:
        eve = AccountStore(_role(team.eve)).create(
            AccountSettings(name="Eve", email="eve@example.com", incoming_host="h")
        )
        own = _store(eve_db, eve.id, [_message(9, 1_000)])["uidl-0"]
        assert (
            eve_db.execute_sql(
                "SELECT raw FROM message_source WHERE message_id = %s", (victim,)
            ).fetchall()
            == []
        ), "Eve reads Ann's mail"
        forged = [
            [(own, b"eve's own"), (victim, b"forged into Ann's mailbox")],  # a foreign id
            [(own, b"eve's own"), (max(anns.values()) + 10_000, b"no such message")],
        ]
        for rows in forged:
            with pytest.raises(psycopg.Error), eve_db.atomic():
                cursor = psycopg.Cursor(eve_db.connection())
                cursor.execute(
                    "INSERT INTO message_source (message_id, raw) VALUES (%s, %b), (%s, %b)",
                    [value for row in rows for value in row],
                )
        for statement in (
            "UPDATE message_source SET raw = 'x' WHERE message_id = %s",
            "DELETE FROM message_source WHERE message_id = %s",
        ):
            with eve_db.atomic():
                assert eve_db.execute_sql(statement, (victim,)).rowcount == 0
    finally:
        eve_db.close()

    superuser = make_database(team.superuser)
    superuser.connect()
    try:
        stored = superuser.execute_sql(
            "SELECT message_id, raw FROM message_source ORDER BY message_id"
        ).fetchall()
    finally:
        superuser.close()
    assert [(mid, bytes(raw)) for mid, raw in stored] == [
        (anns["uidl-0"], _message(1, 3_000)),
        (anns["uidl-1"], _message(2, 4_000)),
        (own, _message(9, 1_000)),
    ], "a refused group left a row behind, or Ann's source changed"


def test_the_policies_check_a_stored_batch_per_statement_not_per_message(team: Team) -> None:  # noqa: F811
    """Every row of a fetch passes the policies of `message` and `message_source`. They ask
    which mailboxes are the caller's once per statement (an InitPlan); a SECURITY DEFINER call
    per row (as `poptui_owns_account(account_id)` was, three per message) cost the server an
    eighth of its CPU on the benchmark's fetch (bench/RESULTS_POSTGRES.md)."""
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import make_database, open_database

    count = 3 * SOURCES_PER_INSERT
    superuser = make_database(team.superuser)
    superuser.connect()
    name = team.superuser.rsplit("/", 1)[1]
    superuser.execute_sql(f"ALTER DATABASE \"{name}\" SET track_functions = 'all'")
    db = open_database(team.ann)  # a session that counts its function calls
    try:
        account = AccountStore(_role(team.ann)).create(
            AccountSettings(name="Ann", email="ann@example.com", incoming_host="h")
        )
        ids = _store(db, account.id, [_message(i, 2_000) for i in range(count)])
        db.execute_sql("SELECT pg_stat_force_next_flush()")
    finally:
        db.close()
    try:
        calls: dict[str, int] = {}
        for _ in range(50):  # the session's counts reach the shared statistics as it ends
            calls = dict(
                superuser.execute_sql(
                    "SELECT funcname, calls FROM pg_stat_user_functions"
                ).fetchall()
            )
            if "poptui_my_accounts" in calls:
                break
            time.sleep(0.1)
        stored = superuser.execute_sql("SELECT count(*) FROM message_source").fetchone()[0]
    finally:
        superuser.close()
    assert len(ids) == stored == count
    per_message = {function: n for function, n in calls.items() if n >= count // 4}
    assert per_message == {}, f"called for every few of {count} messages: {calls}"
    assert calls.get("poptui_my_accounts", 0) > 0, calls  # the policies in force


def test_a_member_meeting_an_older_team_schema_is_told_who_upgrades_it(team: Team) -> None:  # noqa: F811
    """A newer poptui on a member's machine finds the team database a migration behind: the
    member may not alter the tables, so the error names the administrator's command, and the
    database is left as it was; once the administrator ran it, the member's poptui opens it."""
    from tui.core.sharing.postgres_rls import setup_team_database
    from tui.core.storage.db import SchemaNeedsOwner, make_database, open_database
    from tui.core.storage.migrations import all_migrations

    newest = all_migrations()[-1].version
    superuser = make_database(team.superuser)
    superuser.connect()
    try:
        superuser.execute_sql(f"UPDATE schema_version SET version = {newest - 1}")
        with pytest.raises(SchemaNeedsOwner) as raised:
            open_database(team.ann)
        assert f"at schema version {newest - 1}" in str(raised.value)
        assert f"needs {newest}" in str(raised.value)
        assert "poptui admin setup-postgres" in (raised.value.hint or "")
        version = superuser.execute_sql("SELECT version FROM schema_version").fetchone()[0]
        assert version == newest - 1, "the member's failed upgrade changed the version"
    finally:
        superuser.close()
    setup_team_database(team.superuser)
    open_database(team.ann).close()
