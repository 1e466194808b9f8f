"""The fetch's cheap per-message work gives the same answers as the full parsers, and the search
index that left the hot path (migration 8) still finds every message and stays in step."""

from __future__ import annotations

import uuid
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.mail.headers import addresses, fields, summarize_fast, utc_date
from tui.core.mail.parse import _date, header_block, summarize
from tui.core.storage import db as dbmod
from tui.core.storage import queries as mq
from tui.core.storage.dialect import SQLITE
from tui.core.storage.insert import NewMessage, insert_messages
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.migrations import all_migrations
from tui.core.storage.models import Account, database_proxy, utcnow

# ------------------------------------------------------------------------- header summaries

ODD_BLOCKS = [
    b"From: a@b.example\r\nSubject: plain\r\n\r\nbody",
    b"From a@b Sat Jan  3 01:05:34 1996\r\nFrom: a@b.example\r\n\r\nbody",  # unix-from
    b"Subject: one\r\nnot a header line\r\nFrom: x@evil.example\r\n\r\nbody",
    b" continued first\r\nFrom: a@b.example\r\n\r\nbody",
    b"From: a@b.example\rTo: c@d.example\r\n\r\nbody",  # bare CR
    b"Subject : spaced name\r\nFrom: a@b.example\r\n\r\n",
    b":no name\r\nFrom: a@b.example\r\n\r\n",
    b'From: "Doe, Jane" <jane@corp.example>, bob@x.example\r\n\r\n',
    b"From: =?utf-8?q?J=C3=B6rg?= <j@x.de>\r\nTo: undisclosed-recipients:;\r\n\r\n",
    b'From: Jane <jane@sub.rival.example>\r\nCc: "Q" <q@a.example>\r\n (comment)\r\n\r\n',
    b"From: \xc3\xa9mile <e@x.fr>\r\nSubject: caf\xe9\r\n\r\n",  # raw UTF-8, raw Latin-1
    b"From: a@b.example\r\nSubject: folded\r\n\tover two\r\n  lines\r\n\r\nbody",
    b"From: x@[127.0.0.1]\r\nTo: y@xn--bcher-kva.example\r\n\r\n",
    b"From: Ann <ann@a.example>\r\nFrom: Bob <bob@b.example>\r\n\r\n",
    b"From: a@b.example\n\nLF only",
    b"From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\n"
    b"--x\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n",
    b"Subject: no blank line at all",
    b"\r\n\r\nbody first",
    b"From: bad@-host-.example\r\n\r\n",
    b"From: name with @ sign <a@b.example>\r\n\r\n",
    b"X-" + b"A" * 300_000 + b": huge\r\n\r\n",
    b"Subject:\r\n folded from empty\r\nfrom: a@b.example\r\n\r\n",  # empty first line
    b"X-To: x@evil.example\r\nResent-To: r@c.example\r\nTO: t@d.example\n\r\n",  # mixed ends
    b"Subject: a\r\n\tb\r\nSubject: second\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\n\n",
    b"To: =?utf-8?q?A?= <a@x.example>,\r\n =?koi8-r?B?8NLJ18XU?= <b@y.example>\r\n\r\n",
]


@pytest.mark.parametrize("raw", ODD_BLOCKS)
def test_the_fast_summary_is_the_full_parsers(raw: bytes) -> None:
    assert summarize_fast(raw) == summarize(raw)


def test_odd_blocks_are_left_to_the_full_parser() -> None:
    for raw in (ODD_BLOCKS[1], ODD_BLOCKS[2], ODD_BLOCKS[3], ODD_BLOCKS[4], ODD_BLOCKS[16]):
        assert fields(header_block(raw)) is None


def test_plain_blocks_are_read_by_the_fast_path() -> None:
    assert fields(header_block(ODD_BLOCKS[-3])) == [
        ("resent-to", "r@c.example"), ("to", "t@d.example")
    ]  # fmt: skip
    assert fields(header_block(ODD_BLOCKS[-4])) == [
        ("subject", " folded from empty"), ("from", "a@b.example")
    ]  # fmt: skip


NAMES = st.sampled_from(
    ["From", "To", "Cc", "Bcc", "Sender", "Reply-To", "Subject", "Date", "Message-ID",
     "Resent-To", "X-Mailer", "from", "SUBJECT", "Content-Type"]
)  # fmt: skip
ATOMS = st.sampled_from(
    ["ana@example.org", "Ana Lima <ana@example.org>", '"Lima, Ana" <ana@x.example>', "b@c",
     "=?utf-8?b?w6lsw6lh?= <e@fr.example>", "<bare@x.example>", "a@b.example (comment)",
     "group: x@y.example;", "", " ", "\udcff", "Mon, 3 Mar 2025 10:00:00 +0100", "<id@host>",
     "caf\u00e9", "x@\u00fc.example", "\t", "@", "a@", "=?x?q?broken", "\"quoted\"", ","]
)  # fmt: skip
FIELD = st.tuples(NAMES, st.lists(ATOMS, max_size=3), st.sampled_from(["", "\r\n ", "\r\n\t"]))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(FIELD, max_size=8), st.sampled_from([b"\r\n", b"\n"]))
def test_random_header_blocks_summarize_alike(fields_: Any, eol: bytes) -> None:
    lines = []
    for name, atoms, fold in fields_:
        value = ", ".join(atoms).replace(", ", "," + fold, 1) if fold else ", ".join(atoms)
        lines.append(f"{name}: {value}".encode("utf-8", "surrogateescape").replace(b"\r\n", eol))
    raw = eol.join(lines) + eol + eol + b"body"
    assert summarize_fast(raw) == summarize(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ATOMS, max_size=4).map(", ".join), max_size=3))
def test_everyday_addresses_parse_as_getaddresses_does(values: list[str]) -> None:
    assert addresses(values) == getaddresses(values)


# ------------------------------------------------------------------------- search index


def _fts_rows(db: Any, word: str) -> set[int]:
    query = "SELECT rowid FROM message_fts WHERE message_fts MATCH ?"
    return {row[0] for row in db.execute_sql(query, (word,)).fetchall()}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Any:
    db = dbmod.open_database(f"sqlite:///{tmp_path}/hot.db")
    yield db
    db.close()


def _account() -> Account:
    return Account.create(
        owner="alice", name="Work", email="w@example.com", incoming_host="pop.example.com",
        incoming_port=995, incoming_security="ssl", username="alice", delete_policy="leave",
        secret_key=uuid.uuid4().hex,
    )  # fmt: skip


def _store(account: Account, key: str, subject: str, body: str) -> int:
    raw = f"From: a@b.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()
    s = summarize_fast(raw)
    new = NewMessage(key, raw, s.from_addr, s.to_addrs, s.subject, s.date, s.message_id,
                     s.has_attachments, s.party_domains)  # fmt: skip
    db = database_proxy.obj
    with db.atomic():
        return insert_messages(db, account.id, [new], utcnow())[key]


def test_a_fetched_message_is_found_before_and_after_it_is_indexed(sqlite_db: Any) -> None:
    account = _account()
    view = MailboxView(account.id)
    first = _store(account, "u1", "Wombat census", "numbats too")
    assert _fts_rows(sqlite_db, "wombat") == set()  # the INSERT wrote no index pages
    assert [row.id for row in mq.search(view, "wombat")] == [first]  # found by its headers
    assert mq.search(view, "numbats") == []  # bodies: once extracted
    assert mq.index_all_bodies() == 1
    assert _fts_rows(sqlite_db, "wombat") == {first}
    assert [row.id for row in mq.search(view, "numbats")] == [first]
    second = _store(account, "u2", "Wombat sequel", "")
    assert sorted(row.id for row in mq.search(view, "wombat")) == [first, second]  # both kinds
    sqlite_db.execute_sql("UPDATE message SET subject = 'Quokka' WHERE id = ?", (first,))
    assert _fts_rows(sqlite_db, "wombat") == set()
    assert _fts_rows(sqlite_db, "quokka") == {first}
    sqlite_db.execute_sql("DELETE FROM message WHERE id = ?", (first,))
    assert _fts_rows(sqlite_db, "quokka") == set()
    assert [row.id for row in mq.search(view, "wombat")] == [second]


def test_migration_8_takes_pending_messages_out_of_the_index(tmp_path: Path) -> None:
    db = dbmod.make_database(f"sqlite:///{tmp_path}/seven.db")
    db.connect()
    database_proxy.initialize(db)
    try:
        db.execute_sql("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
        db.execute_sql("INSERT INTO schema_version (id, version) VALUES (1, 7)")
        for migration in all_migrations()[:7]:
            migration.apply(db, SQLITE)
        account_id = db.execute_sql(  # raw SQL: the model has columns of later migrations
            "INSERT INTO account (owner, name, email, incoming_host, incoming_port,"
            " incoming_security, username, delete_policy, secret_key, created_at, updated_at)"
            " VALUES ('a', 'W', 'w@x', 'h', 995, 'ssl', 'u', 'leave', 'k', '2025-01-01',"
            " '2025-01-01')"
        ).lastrowid
        for number, indexed in ((1, 1), (2, 0)):
            db.execute_sql(
                "INSERT INTO message (account_id, uidl, size, subject, body_text, body_indexed,"
                " first_seen_at, fetched_at) VALUES (?, ?, 10, ?, ?, ?, '2025-01-01',"
                " '2025-01-01')",
                (account_id, f"u{number}", f"Platypus {number}", "echidna", indexed),
            )
        assert _fts_rows(db, "platypus") == {1, 2}  # the old INSERT trigger indexed both
        assert dbmod.migrate(db) == all_migrations()[-1].version
        assert _fts_rows(db, "platypus") == {1}
        assert sorted(r.id for r in mq.search(MailboxView(account_id), "platypus")) == [1, 2]
        assert mq.index_all_bodies() == 1
        assert _fts_rows(db, "platypus") == {1, 2}
        assert _fts_rows(db, "echidna") == {1}  # 2's body was re-extracted (it has no source)
    finally:
        db.close()


DAYS = st.sampled_from(["", "Fri, ", "Mon, ", "Fri,", "fri, ", "Xyz, ", "Sun ,"])
MONTHS = st.sampled_from(["Jan", "Feb", "Mar", "Dec", "mar", "May", "Foo"])
ZONES = st.sampled_from(
    ["+0000", "-0000", "+0100", "-0530", "+2359", "+2400", "-9999", "+0199", "+00", "GMT", ""]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(
    DAYS,
    st.integers(0, 40),
    MONTHS,
    st.sampled_from([1, 50, 99, 100, 999, 1000, 1969, 2024, 9999]),
    st.tuples(st.integers(0, 61), st.integers(0, 61), st.integers(0, 61)),
    ZONES,
    st.sampled_from(["", " ", " (UTC)"]),
)
def test_dates_read_as_the_email_package_reads_them(
    day: str, number: int, month: str, year: int, clock: Any, zone: str, tail: str
) -> None:
    value = f"{day}{number:02d} {month} {year:04d} {clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}"
    value = f"{value} {zone}{tail}"
    assert _outcome(utc_date, value) == _outcome(_date, value)


@pytest.mark.parametrize(
    "value",
    [None, "", "Fri, 01 Mar 2024 08:02:30 +0000", "1 Jan 2024 00:00:00 +0100",
     "31 Dec 9999 23:59:59 -0100", "01 Jan 1000 00:00:00 +0100", "29 Feb 2023 10:00:00 +0000",
     "Fri, 01 Mar 0050 08:02:30 +0000", "Fri, 01 Mar 2024 08:02:30 -0000"],
)  # fmt: skip
def test_everyday_dates_read_alike(value: str | None) -> None:
    assert _outcome(utc_date, value) == _outcome(_date, value)


def _outcome(function: Any, value: str | None) -> tuple[str, Any]:
    """The result, or the kind of error (near year 9999 `parse._date` itself raises, and the
    summary is then left empty: the fast path must do the same)."""
    try:
        return "ok", function(value)
    except Exception as error:  # the error itself is what is compared
        return "raised", type(error)
