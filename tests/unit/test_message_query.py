"""The message browser's queries on SQLite and on a real PostgreSQL: keyset paging in list order
(ties on the date included), positions, search over subject/sender/body, the body indexer,
delete-here, raw sources, and the migration that adds it all to an existing database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tui.core.storage import db as dbmod
from tui.core.storage import queries as mq
from tui.core.storage.dialect import POSTGRES, SQLITE
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.migrations import all_migrations
from tui.core.storage.models import Account, Message, MessageSource, database_proxy

BASE = datetime(2025, 3, 14, 9, 30)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        db = dbmod.open_database(f"sqlite:///{tmp_path}/mq.db")
        yield db
        db.close()
        return
    server = request.getfixturevalue("postgres_server")
    name = "mq_" + uuid.uuid4().hex[:12]
    server.create_database(name)
    db = dbmod.open_database(server.url(name))
    try:
        yield db
    finally:
        db.close()
        server.drop_database(name)


def make_account(name: str = "Work") -> Account:
    return Account.create(
        owner="alice",
        name=name,
        email=f"{name.lower()}@example.com",
        incoming_host="pop.example.com",
        incoming_port=995,
        incoming_security="ssl",
        username="alice",
        delete_policy="when_deleted_here",
        secret_key=uuid.uuid4().hex,
    )


def add(
    account: Account,
    number: int,
    *,
    date: datetime | None,
    subject: str = "",
    sender: str = "",
    body: str = "",
    raw: bytes | None = None,
    fetched_at: datetime | None = None,
) -> int:
    subject = subject or f"Message {number}"
    sender = sender or f"Sender {number} <s{number}@example.com>"
    message = Message.create(
        account=account,
        uidl=f"uid-{number}",
        size=1000 + number,
        from_addr=sender,
        to_addrs="alice@example.com",
        subject=subject,
        date=date,
        fetched_at=fetched_at or BASE,
        first_seen_at=fetched_at or BASE,
    )
    if raw is None:
        raw = (
            f"From: {sender}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8"
            f"\r\n\r\n{body or 'nothing special'}\r\n"
        ).encode()
    MessageSource.create(message=message, raw=raw)
    return int(message.id)


def own(account: Account) -> MailboxView:
    """The owner's view: the whole mailbox."""
    return MailboxView(account.id)


def expected_order(account: Account) -> list[int]:
    rows = Message.select().where((Message.account == account) & ~Message.deleted_here)
    keyed = sorted(rows, key=lambda m: (m.date or m.fetched_at, m.id), reverse=True)
    return [m.id for m in keyed]


def walk_forward(mailbox: Account | MailboxView, size: int) -> list[int]:
    view = mailbox if isinstance(mailbox, MailboxView) else own(mailbox)
    seen: list[int] = []
    cursor = None
    while True:
        page = mq.page_after(view, cursor, size)
        assert len(page) <= size
        seen += [row.id for row in page]
        if len(page) < size:
            return seen
        cursor = page[-1].cursor


def walk_backward(account: Account, size: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        page = mq.page_before(own(account), cursor, size)
        seen[:0] = [row.id for row in page]
        if len(page) < size:
            return seen
        cursor = page[0].cursor


# ------------------------------------------------------------------------------ paging


def test_pages_are_newest_first_and_complete(database: Any) -> None:
    account = make_account()
    for number in range(25):
        add(account, number, date=BASE - timedelta(hours=(number * 7) % 25))
    order = expected_order(account)
    assert mq.count(own(account)) == 25
    assert [row.id for row in mq.first_page(own(account), 10)] == order[:10]
    assert walk_forward(account, 10) == order
    assert [row.id for row in mq.last_page(own(account), 10)] == order[-10:]
    middle = mq.first_page(own(account), 15)[-1].cursor
    assert [row.id for row in mq.page_before(own(account), middle, 4)] == order[10:14]
    assert [row.id for row in mq.page_after(own(account), middle, 4)] == order[15:19]
    dates = [row.when for row in mq.first_page(own(account), 25)]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]


def test_keyset_paging_is_exact_across_equal_dates(database: Any) -> None:
    account = make_account()
    # 40 messages on 3 distinct dates, plus 5 without a Date header (ordered by fetch time)
    for number in range(40):
        add(account, number, date=BASE - timedelta(days=number % 3))
    for number in range(40, 45):
        add(account, number, date=None, fetched_at=BASE - timedelta(days=1))
    order = expected_order(account)
    assert len(set(order)) == 45
    for size in (1, 4, 7, 45, 100):
        assert walk_forward(account, size) == order, size
        assert walk_backward(account, size) == order, size
    # ties are broken by id, newest id first
    same_day = [m for m in mq.first_page(own(account), 45) if m.when == BASE]
    assert [m.id for m in same_day] == sorted((m.id for m in same_day), reverse=True)


def test_positions_and_jumps_agree_with_the_order(database: Any) -> None:
    account = make_account()
    for number in range(30):
        add(account, number, date=BASE - timedelta(minutes=(number * 11) % 7))
    order = expected_order(account)
    for offset in (0, 1, 9, 17, 29):
        assert [row.id for row in mq.page_at(own(account), offset, 5)] == order[offset : offset + 5]
    assert [row.id for row in mq.page_at(own(account), 99, 5)] == order[-5:]
    for index, row in enumerate(mq.first_page(own(account), 30)):
        assert mq.position(own(account), row.cursor) == index


def test_accounts_do_not_mix(database: Any) -> None:
    work, home = make_account("Work"), make_account("Home")
    for number in range(5):
        add(work, number, date=BASE)
        add(home, 100 + number, date=BASE, subject="Holiday plans")
    assert mq.count(own(work)) == mq.count(own(home)) == 5
    assert {row.id for row in mq.first_page(own(work), 50)}.isdisjoint(
        row.id for row in mq.first_page(own(home), 50)
    )
    assert mq.search(own(work), "holiday") == []
    assert len(mq.search(own(home), "holiday")) == 5


def test_a_view_leaves_out_its_hidden_domains_everywhere(database: Any) -> None:
    account = make_account()
    kept = [
        add(account, number, date=BASE - timedelta(hours=number), subject=f"Offer {number}")
        for number in range(4)
    ]
    rival = add(account, 9, date=BASE - timedelta(minutes=90), subject="Offer from the rival")
    almost = add(account, 10, date=BASE - timedelta(minutes=30), subject="Offer from subrival")
    Message.update(party_domains=" example.com rival.com ").where(Message.id == rival).execute()
    Message.update(party_domains=" subrival.com ").where(Message.id == almost).execute()
    whole = own(account)
    shared = MailboxView(account.id, ("rival.com",), read_only=True)
    visible = [row_id for row_id in expected_order(account) if row_id != rival]
    assert mq.count(whole) == 6 and mq.count(shared) == 5
    assert [row.id for row in mq.first_page(shared, 10)] == visible
    assert [row.id for row in mq.last_page(shared, 2)] == visible[-2:]
    assert [row.id for row in mq.page_at(shared, 2, 2)] == visible[2:4]
    assert walk_forward(shared, 2) == visible
    assert mq.position(shared, mq.first_page(shared, 10)[-1].cursor) == 4
    assert sorted(row.id for row in mq.search(shared, "offer")) == sorted(visible)
    assert rival in {row.id for row in mq.search(whole, "rival")}
    assert almost in {row.id for row in mq.search(shared, "subrival")}  # a whole domain only
    assert set(kept) < set(visible)


@pytest.mark.parametrize("domain", ["%", "a_b.com", "x' OR 1=1 --", "Rival.com", ""])
def test_a_view_refuses_what_is_not_a_domain(domain: str) -> None:
    with pytest.raises(ValueError, match="not a domain"):
        MailboxView(1, (domain,))


# ------------------------------------------------------------------------------ deleted here


def test_deleted_here_hides_everywhere_and_is_recorded(database: Any) -> None:
    account = make_account()
    ids = [add(account, number, date=BASE - timedelta(hours=number)) for number in range(6)]
    assert mq.mark_deleted_here([ids[0], ids[3], ids[3]]) == 2
    assert mq.mark_deleted_here([ids[0]]) == 0  # already deleted: nothing changes
    assert mq.mark_deleted_here([]) == 0
    assert mq.count(own(account)) == 4
    assert [row.id for row in mq.first_page(own(account), 10)] == [ids[1], ids[2], ids[4], ids[5]]
    assert walk_backward(account, 3) == [ids[1], ids[2], ids[4], ids[5]]
    assert mq.search(own(account), "message") and ids[3] not in {
        row.id for row in mq.search(own(account), "message")
    }
    gone = Message.get_by_id(ids[3])
    assert gone.deleted_here and gone.deleted_here_at is not None
    assert not gone.deleted_on_server  # the fetch engine sends DELE, not the browser
    assert mq.load_source(ids[3])  # the raw message is kept


# ------------------------------------------------------------------------------ search


def test_search_finds_by_subject_sender_and_body(database: Any) -> None:
    account = make_account()
    invoice = add(account, 1, date=BASE, subject="Invoice 2025-03 for March")
    ana = add(account, 2, date=BASE, sender="Ana Lima <ana.lima@example.org>")
    body = add(account, 3, date=BASE, body="The zeppelin lands at noon.")
    html = add(
        account,
        4,
        date=BASE,
        raw=b"Subject: html\r\nContent-Type: text/html\r\n\r\n<p>Quarterly <b>figures</b></p>",
    )
    add(account, 5, date=BASE, subject="Unrelated")

    def found(text: str) -> list[int]:
        return sorted(row.id for row in mq.search(own(account), text))

    assert found("invoice") == [invoice]
    assert found("INVOI") == [invoice]  # prefix, any case
    assert found("invoice march") == [invoice]  # every term
    assert found("invoice zeppelin") == []
    assert found("2025-03") == [invoice]
    assert found("lima") == [ana]
    assert found("ana.lima@example.org") == [ana]
    assert found("ana.lima@exam") == [ana]
    assert found("zeppelin") == []  # bodies are searchable once indexed
    assert mq.pending_bodies(account.id) == 5
    assert mq.index_all_bodies() == 5
    assert mq.pending_bodies() == 0
    assert found("zeppelin") == [body]
    assert found("quarterly figures") == [html]


@pytest.mark.parametrize(
    "text",
    ['"', '"unbalanced', "NEAR(a b", "a OR", "AND", "*", "-x", "col:foo", "a & b | !c", "'", "::*",
     "(((", "\\", "%_", "x" * 300, "\x00", "日本語"],
)  # fmt: skip
def test_search_never_chokes_on_user_text(database: Any, text: str) -> None:
    account = make_account()
    add(account, 1, date=BASE, subject="Ordinary")
    assert isinstance(mq.search(own(account), text), list)


def test_search_without_words_finds_nothing(database: Any) -> None:
    account = make_account()
    add(account, 1, date=BASE)
    assert mq.search(own(account), "   ") == []
    assert mq.search(own(account), "@@ --") == []


def test_search_follows_edits_and_deletions(database: Any) -> None:
    account = make_account()
    first = add(account, 1, date=BASE, subject="Alpha")
    second = add(account, 2, date=BASE, subject="Bravo")
    Message.update(subject="Charlie").where(Message.id == first).execute()
    assert mq.search(own(account), "alpha") == []
    assert [row.id for row in mq.search(own(account), "charlie")] == [first]
    Message.delete().where(Message.id == second).execute()
    assert mq.search(own(account), "bravo") == []


def test_search_limit_keeps_the_newest(database: Any) -> None:
    account = make_account()
    for number in range(12):
        add(account, number, date=BASE + timedelta(minutes=number), subject="Weekly report")
    rows = mq.search(own(account), "weekly", limit=5)
    assert [row.id for row in rows] == expected_order(account)[:5]


# ------------------------------------------------------------------------------ body index


def test_index_bodies_works_in_batches_and_marks_empty_bodies(database: Any) -> None:
    account = make_account()
    for number in range(7):
        add(account, number, date=BASE, body=f"body text {number}")
    empty = add(
        account,
        7,
        date=BASE,
        raw=b"Subject: only a picture\r\nContent-Type: image/png\r\n\r\n\x89PNG",
    )
    hostile = add(account, 8, date=BASE, body="evil \x1b]52;c;ZXZpbA==\x07 text\x00")
    assert mq.index_bodies(batch=4) == 4
    assert mq.pending_bodies(account.id) == 5
    assert mq.index_all_bodies(batch=4) == 5
    assert mq.index_bodies() == 0  # nothing left, not even the message without a text body
    assert Message.get_by_id(empty).body_text == ""
    stored = Message.get_by_id(hostile).body_text
    assert "\x1b" not in stored and "\x00" not in stored and "evil" in stored
    assert mq.index_all_bodies(should_stop=lambda: True) == 0


def test_index_bodies_caps_the_text(database: Any) -> None:
    account = make_account()
    message = add(account, 1, date=BASE, body="word " * 60_000)
    mq.index_all_bodies()
    assert len(Message.get_by_id(message).body_text) == mq.MAX_INDEXED_BODY_CHARS


# ------------------------------------------------------------------------------ sources


def test_load_source(database: Any) -> None:
    account = make_account()
    raw = b"Subject: bytes\r\n\r\n\x00\xff binary body"
    message = add(account, 1, date=BASE, raw=raw)
    assert mq.load_source(message) == raw
    with pytest.raises(mq.MessageNotFound):
        mq.load_source(message + 1000)


# ------------------------------------------------------------------------------ plans and migration


def test_sqlite_pages_use_the_list_index(tmp_path: Path) -> None:
    db = dbmod.open_database(f"sqlite:///{tmp_path}/plan.db")
    try:
        key = "COALESCE(date, fetched_at)"
        plan = db.execute_sql(
            f"EXPLAIN QUERY PLAN SELECT id FROM message WHERE account_id = 1 AND deleted_here = 0"
            f" AND {key} <= '2025' AND ({key} < '2025' OR id < 5)"
            f" ORDER BY {key} DESC, id DESC LIMIT 10"
        ).fetchall()
        details = " ".join(str(row[-1]) for row in plan)
        assert "message_list_order" in details
        assert "TEMP B-TREE" not in details
    finally:
        db.close()


def test_migration_indexes_messages_fetched_before_it(tmp_path: Path) -> None:
    db = dbmod.make_database(f"sqlite:///{tmp_path}/old.db")
    db.connect()
    database_proxy.initialize(db)
    try:
        db.execute_sql("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
        db.execute_sql("INSERT INTO schema_version (id, version) VALUES (1, 3)")
        for migration in all_migrations()[:3]:
            migration.apply(db, SQLITE)
        account_id = db.execute_sql(
            "INSERT INTO account (owner, name, email, incoming_host, incoming_port,"
            " incoming_security, username, delete_policy, secret_key, created_at, updated_at)"
            " VALUES ('a', 'W', 'w@x', 'h', 995, 'ssl', 'u', 'leave', 'k', '2025-01-01',"
            " '2025-01-01')"
        ).lastrowid
        db.execute_sql(
            "INSERT INTO message (account_id, uidl, size, subject, first_seen_at, fetched_at)"
            " VALUES (?, 'u1', 10, 'Old mail about kangaroos', '2025-01-01', '2025-01-01')",
            (account_id,),
        )
        assert dbmod.migrate(db) == all_migrations()[-1].version  # numbers may have gaps
        assert [row.subject for row in mq.search(MailboxView(account_id), "kangaroo")] == [
            "Old mail about kangaroos"
        ]
        assert mq.pending_bodies(account_id) == 1
        assert mq.count(MailboxView(account_id)) == 1
    finally:
        db.close()


def test_postgres_computes_search_words_when_a_body_is_indexed(postgres_server: Any) -> None:
    """Migration 17: a database at 16 keeps its indexed messages searchable by body; after it,
    a fetched message gets its words (and GIN entries) once, when its body is extracted, not
    also on INSERT, and is found by its headers meanwhile."""
    name = "words_" + uuid.uuid4().hex[:12]
    postgres_server.create_database(name)
    db = dbmod.make_database(postgres_server.url(name))
    db.connect()
    database_proxy.initialize(db)

    def with_words() -> int:
        return int(
            db.execute_sql(
                "SELECT count(*) FROM message WHERE search_vector IS NOT NULL"
            ).fetchone()[0]
        )

    try:
        db.execute_sql("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
        db.execute_sql("INSERT INTO schema_version (id, version) VALUES (1, 16)")
        for migration in [m for m in all_migrations() if m.version <= 16]:
            migration.apply(db, POSTGRES)
        account = make_account()
        old = add(account, 1, date=BASE, subject="Before", body="the old walrus")
        assert mq.index_all_bodies() == 1
        assert with_words() == 1  # at 16: computed on INSERT and again on indexing

        assert dbmod.migrate(db) == all_migrations()[-1].version
        assert [row.id for row in mq.search(own(account), "walrus")] == [old]
        fresh = add(account, 2, date=BASE, subject="Fresh kiwi news", body="about a tapir")
        assert with_words() == 1  # the fetched message: no words yet
        assert [row.id for row in mq.search(own(account), "kiwi")] == [fresh]  # by headers
        assert mq.search(own(account), "tapir") == []
        assert mq.index_all_bodies() == 1
        assert with_words() == 2
        assert [row.id for row in mq.search(own(account), "tapir")] == [fresh]
        assert [row.id for row in mq.search(own(account), "kiwi")] == [fresh]  # once
        db.execute_sql("SET enable_seqscan = off")  # a table this small is scanned otherwise
        plan = db.execute_sql(
            "EXPLAIN SELECT id FROM message WHERE search_vector @@ to_tsquery('simple', 'kiwi')"
        ).fetchall()
        assert "message_search" in " ".join(str(row[0]) for row in plan)
    finally:
        db.close()
        postgres_server.drop_database(name)
