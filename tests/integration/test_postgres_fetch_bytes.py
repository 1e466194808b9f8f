"""The PostgreSQL hot path (binary parameters, `storage.postgres_insert`): what a team member's
fetch stores is, byte for byte, what the POP3 server served, for 8-bit text, binary-ish
attachments, dot-stuffed lines and messages of several megabytes up to the size ceiling, with
row-level security in force (another member sees none of it) and within the memory bound."""

from __future__ import annotations

import os
import poplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PgDatabase, PopUser
from tests.integration.fetch_helpers import make_message
from tests.integration.test_hostile_memory import RSS_LIMIT_KB
from tests.integration.test_hostile_memory import run as run_measured
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES
from tui.core.storage.insert import NewMessage, insert_messages


@dataclass(frozen=True)
class Team:
    superuser: str
    ann: str
    eve: str


@pytest.fixture
def team(postgres_server: PostgresServer) -> Iterator[Team]:
    """A fresh team database (`admin setup-postgres`'s work) with two members."""
    from tui.core.sharing.postgres_rls import set_role_password, setup_team_database

    name = "bytes_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(name)
    superuser = postgres_server.url(name)
    roles = {who: f"{who}_{uuid.uuid4().hex[:6]}" for who in ("ann", "eve")}
    setup_team_database(superuser, roles.values())
    for role in roles.values():
        set_role_password(superuser, role, "pw-" + role)
    urls = {who: postgres_server.url(name, role, "pw-" + role) for who, role in roles.items()}
    try:
        yield Team(superuser, urls["ann"], urls["eve"])
    finally:
        postgres_server.drop_database(name)
        for role in roles.values():
            postgres_server.drop_role(role)


def binaryish(seed: int, size: int) -> bytes:
    """Every byte value but NUL, CR and LF, in lines of 76 bytes ending in CRLF: an 8-bit
    attachment as a careless sender writes it (no base64), some lines starting with a dot."""
    values = bytes(b for b in range(1, 256) if b not in (10, 13))
    stream = bytes(values[(i * 7 + seed) % len(values)] for i in range(size))
    lines = [stream[i : i + 76] for i in range(0, len(stream), 76)]
    return b"".join((b"." if n % 9 == 0 else b"") + line + b"\r\n" for n, line in enumerate(lines))


def messages() -> list[bytes]:
    eight_bit = "Grüße aus Köln, ½ € — ünïcödé\r\n".encode() * 40 + "Ça va\r\n".encode("latin-1")
    attachment = (
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n"
        b'Content-Disposition: attachment; filename="x.bin"\r\n\r\n'
    )
    return [
        make_message(1, body=eight_bit),
        make_message(2, body=b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                     + attachment + binaryish(2, 20_000) + b"--b--\r\n"),
        make_message(3, body=b".\r\n..\r\n.leading dot\r\n" * 50),
        make_message(4, body=attachment + binaryish(4, 3 * 1024 * 1024)),  # several MB
        make_message(5, body=b""),
    ]  # fmt: skip


def served(dovecot: DovecotServer, user: PopUser) -> list[bytes]:
    """The messages as the server serves them (RETR, dot-unstuffed, CRLF), independently of
    poptui's own client."""
    poplib._MAXLINE = 1 << 20  # type: ignore[attr-defined]
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=60)
    try:
        client.user(user.name)
        client.pass_(user.password)
        count, _size = client.stat()
        return [b"".join(line + b"\r\n" for line in client.retr(n)[1]) for n in range(1, count + 1)]
    finally:
        client.quit()


def stored(url: str) -> list[bytes]:
    """Raw sources as the connecting role sees them, through poptui's own database layer."""
    from tui.core.storage.db import make_database

    db = make_database(url)
    db.connect()
    try:
        rows = db.execute_sql("SELECT raw FROM message_source ORDER BY message_id").fetchall()
        return [bytes(raw) for (raw,) in rows]
    finally:
        db.close()


def member_env(url: str, tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=url,
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


def add_account(env: dict[str, str], dovecot: DovecotServer, user: PopUser, policy: str) -> None:
    added = run_measured(
        env, "account", "add", "Team", "--email", f"{user.name}@example.com",
        "--incoming-host", dovecot.host, "--incoming-port", str(dovecot.plain_port),
        "--incoming-security", "none", "--username", user.name, "--delete-policy", policy,
    )  # fmt: skip
    assert added.code == 0, added.err
    chosen = run_measured(
        env, "secrets", "use", "command", "Team", "--incoming", f"printf %s {user.password}"
    )
    assert chosen.code == 0, chosen.err


def test_a_member_stores_exactly_the_bytes_served(
    dovecot: DovecotServer, pop_user: PopUser, team: Team, tmp_path: Path
) -> None:
    dovecot.deliver_many(pop_user.name, messages())
    on_server = served(dovecot, pop_user)
    assert len(on_server) == 5
    assert max(len(raw) for raw in on_server) > 3 * 1024 * 1024
    assert any(b >= 0x80 for raw in on_server for b in raw)
    env = member_env(team.ann, tmp_path)
    add_account(env, dovecot, pop_user, "leave")

    fetched = run_measured(env, "fetch", "--account", "Team")
    assert fetched.code == 0, fetched.err

    assert stored(team.ann) == on_server  # in server order: the ids follow the fetch
    assert stored(team.superuser) == on_server
    assert stored(team.eve) == [], "another member sees mail that is not shared with him"
    again = run_measured(env, "fetch", "--account", "Team")
    assert again.code == 0, again.err
    assert stored(team.superuser) == on_server, "a second fetch stored something again"


def test_a_message_at_the_ceiling_goes_into_postgres_within_the_memory_bound(
    dovecot: DovecotServer, pop_user: PopUser, team: Team, tmp_path: Path
) -> None:
    line = b"\xe4" * 40 + b"x" * 36 + b"\r\n"  # 8-bit: no hex, no escaping may inflate it
    head = make_message(1, body=b"")
    big = make_message(1, body=line * ((MAX_MESSAGE_BYTES - len(head) - 1024) // len(line)))
    dovecot.deliver_many(pop_user.name, [big, make_message(2)])
    on_server = served(dovecot, pop_user)
    assert MAX_MESSAGE_BYTES - 4096 < len(on_server[0]) <= MAX_MESSAGE_BYTES
    env = member_env(team.ann, tmp_path)
    add_account(env, dovecot, pop_user, "after_fetch")

    fetched = run_measured(env, "fetch", "--account", "Team", timeout=300)
    assert fetched.code == 0, fetched.err
    assert fetched.max_rss_kb < RSS_LIMIT_KB, f"peak RSS {fetched.max_rss_kb} KiB"

    assert stored(team.superuser) == on_server
    assert dovecot.maildir_files(pop_user.name) == [], "stored, so deleted on the server"
    assert stored(team.eve) == []


def test_raw_mail_is_stored_uncompressed_on_postgres(team: Team) -> None:
    """Migration 15: STORAGE EXTERNAL (out of line, no compression), as SQLite stores it."""
    from tui.core.storage.db import make_database

    db = make_database(team.superuser)
    db.connect()
    try:
        row = db.execute_sql(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'message_source'::regclass AND attname = 'raw'"
        ).fetchone()
    finally:
        db.close()
    assert row == ("e",)


def test_nothing_new_on_postgres_loads_psycopg_3_alone(
    dovecot: DovecotServer, pop_user: PopUser, pg_database: PgDatabase, tmp_path: Path
) -> None:
    """peewee probes every driver on import: on PostgreSQL psycopg2 stays out (psycopg 3 is the
    one driver), and a fetch with nothing new loads no keyring, no setup, no hot path. (The
    email package is loaded, but by psycopg-binary, whose version check reads its package
    metadata through importlib.metadata; poptui parses nothing.)"""
    from tests.integration.test_start_imports import ANYWHERE_HEADLESS, NOT_WHEN_NOTHING_NEW
    from tests.integration.test_start_imports import _poptui as poptui_listing

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "POPTUI_DATABASE": pg_database.url,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    add_account(env, dovecot, pop_user, "leave")
    code, out, modules = poptui_listing(["fetch", "--account", "Team"], env)
    assert code == 0 and "3 new messages" in out, out
    assert "tui.core.storage.postgres_insert" in modules  # the guard can see the hot path

    code, out, modules = poptui_listing(["fetch", "--account", "Team"], env)
    assert code == 0 and "0 new messages" in out, out
    assert "psycopg" in modules
    assert [m for m in modules if m == "psycopg2" or m.startswith("psycopg2.")] == []
    assert "tui.core.mail.headers" not in modules
    driver = ("psycopg", "email")
    not_wanted = [*ANYWHERE_HEADLESS, *(n for n in NOT_WHEN_NOTHING_NEW if n not in driver)]
    hits = [m for m in modules if any(m == p or m.startswith(p + ".") for p in not_wanted)]
    assert hits == []


def _new(key: str, raw: bytes) -> NewMessage:
    return NewMessage(key, raw, "a@example.org", "b@example.com", "s", None, "", False, "")


def _role(url: str) -> str:
    from urllib.parse import urlparse

    return str(urlparse(url).username)


def _account_of(url: str) -> int:
    """A mailbox owned by the role of `url`, made through the models as poptui makes it."""
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account

    db = open_database(url, run_migrations=False)
    try:
        account = Account.create(
            owner=_role(url), name="Box", email="x@example.com", incoming_host="h",
            incoming_port=110, incoming_security="none", username="x", delete_policy="leave",
            secret_key=uuid.uuid4().hex,
        )  # fmt: skip
        return int(account.id)
    finally:
        db.close()


def _insert(url: str, account_id: int, batch: list[NewMessage]) -> dict[str, int]:
    from tui.core.storage.db import open_database
    from tui.core.storage.dialect import write_transaction
    from tui.core.storage.models import utcnow

    db = open_database(url, run_migrations=False)
    try:
        with write_transaction(db):
            return insert_messages(db, account_id, batch, utcnow())
    finally:
        db.close()


def test_the_hot_path_cannot_write_into_another_members_mailbox(team: Team) -> None:
    """Row-level security holds for the batch INSERTs: eve's rows for ann's mailbox are refused
    (WITH CHECK), the whole batch is rolled back, and ann's own batch still goes in."""
    from psycopg.errors import InsufficientPrivilege

    anns = _account_of(team.ann)
    with pytest.raises(InsufficientPrivilege, match="row-level security"):
        _insert(team.eve, anns, [_new("k1", b"Subject: forged\r\n\r\nhi\r\n")])
    assert stored(team.superuser) == []
    ids = _insert(team.ann, anns, [_new("k1", b"Subject: mine\r\n\r\n\xff\xfe\r\n")])
    assert list(ids) == ["k1"]
    assert stored(team.superuser) == [b"Subject: mine\r\n\r\n\xff\xfe\r\n"]


def test_a_failing_batch_leaves_nothing_and_the_connection_usable(team: Team) -> None:
    """A key stored already fails the batch (the unique index) inside the pipeline: nothing
    of it stays, and the same connection stores the next batch."""
    from psycopg.errors import UniqueViolation

    from tui.core.storage.db import open_database
    from tui.core.storage.dialect import write_transaction
    from tui.core.storage.models import utcnow

    anns = _account_of(team.ann)
    _insert(team.ann, anns, [_new("dup", b"first\r\n")])
    db = open_database(team.ann, run_migrations=False)
    try:
        batch = [_new(f"k{i}", b"x" * 5000) for i in range(20)] + [_new("dup", b"second\r\n")]
        with pytest.raises(UniqueViolation, match="duplicate key"), write_transaction(db):
            insert_messages(db, anns, batch, utcnow())
        with write_transaction(db):
            insert_messages(db, anns, [_new("after", b"after\r\n")], utcnow())
    finally:
        db.close()
    assert stored(team.superuser) == [b"first\r\n", b"after\r\n"]


def test_sources_around_the_large_object_boundary_round_trip(team: Team) -> None:
    """Either side of `LARGE_BYTES` and of a chunk boundary, every byte value (NUL included)
    comes back as it went in, and no transient large object is left behind."""
    from tui.core.storage.postgres_insert import LARGE_BYTES, LARGE_CHUNK

    assert LARGE_BYTES % LARGE_CHUNK == 0
    edge = LARGE_BYTES + LARGE_CHUNK  # a large source of whole chunks, and one byte more
    sizes = [LARGE_BYTES - 1, LARGE_BYTES, LARGE_BYTES + 1, edge, edge + 1]
    raws = [os.urandom(size) for size in sizes]
    anns = _account_of(team.ann)
    ids = _insert(team.ann, anns, [_new(f"k{n}", raw) for n, raw in enumerate(raws)])
    assert sorted(ids) == [f"k{n}" for n in range(len(raws))]
    assert stored(team.ann) == [raws[int(key[1:])] for key in sorted(ids, key=ids.__getitem__)]
    from tui.core.storage.db import make_database

    db = make_database(team.superuser)
    db.connect()
    try:
        left = db.execute_sql("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    finally:
        db.close()
    assert left == (0,), "a transient large object was left behind"


def _writer(url: str, account_id: int, *, dedupe: bool = False) -> Any:
    """A fetch's `BatchWriter` for `account_id`, on poptui's database layer opened as `url`."""
    from tui.core.storage.db import open_database
    from tui.core.storage.models import Account
    from tui.core.sync.batch import BatchWriter

    open_database(url, run_migrations=False)
    return BatchWriter(Account.get_by_id(account_id), dedupe_message_id=dedupe)


def _rows(url: str) -> dict[str, tuple[int, bytes]]:
    """uidl → (message id, raw source), as `url`'s role sees them."""
    from tui.core.storage.db import make_database

    db = make_database(url)
    db.connect()
    try:
        rows = db.execute_sql(
            "SELECT m.uidl, m.id, s.raw FROM message m JOIN message_source s ON s.message_id = m.id"
        ).fetchall()
        return {uidl: (pk, bytes(raw)) for uidl, pk, raw in rows}
    finally:
        db.close()


def test_a_fetchs_batches_are_stored_under_the_ids_it_was_given(team: Team) -> None:
    """The batches of a fetch go to the server without waiting, under ids taken ahead from the
    sequence: each message's row and its source's row get the same id (the source joined to
    its message has that message's bytes), over several transactions, and ids left over from
    one transaction serve the next rather than a block being taken for each."""
    from tui.core.storage.models import database_proxy

    anns = _account_of(team.ann)
    writer = _writer(team.ann, anns)
    raws = {f"u{i}": os.urandom(300_000 + i) for i in range(40)}  # 12 MB: several batches
    try:
        for key, raw in raws.items():
            writer.add(key, raw)  # committed on its own every `BATCH_BYTES`
        writer.flush()
    finally:
        database_proxy.close()
    assert writer.commits > 2 and writer.stored == len(raws)
    rows = _rows(team.superuser)
    assert {key: raw for key, (_, raw) in rows.items()} == raws
    ids = sorted(pk for pk, _ in rows.values())
    assert len(set(ids)) == len(raws)
    assert ids == list(range(ids[0], ids[0] + len(raws)))  # one block served every transaction


def test_a_statement_failing_in_the_pipeline_rolls_back_its_whole_transaction(team: Team) -> None:
    """The statements of a held transaction are only waited for before its COMMIT: a batch
    that fails there (a key stored already) takes the transaction's earlier batches with it,
    nothing of them stays, the error reaches the fetch, and the writer stores again after."""
    from psycopg.errors import UniqueViolation

    from tui.core.storage.models import database_proxy

    anns = _account_of(team.ann)
    _insert(team.ann, anns, [_new("dup", b"stored before\r\n")])
    writer = _writer(team.ann, anns)
    try:
        with pytest.raises(UniqueViolation, match="duplicate key"), writer.holding():
            for i in range(8):  # 4.8 MB: two batches written into the open transaction
                writer.add(f"k{i}", os.urandom(600_000))
            writer.add("dup", b"the second copy\r\n")
        assert writer.stored == 0
        writer.add("after", b"after\r\n")
        assert list(writer.flush()) == ["after"]
    finally:
        database_proxy.close()
    assert sorted(_rows(team.superuser)) == ["after", "dup"]


def test_copies_by_message_id_become_aliases_inside_the_pipeline(team: Team) -> None:
    """Gmail's `recent:` mode serves mail again under new UIDLs: with `dedupe_message_id` a
    copy becomes an alias of the stored message, found by a query that runs while earlier
    batches of the same transaction are still in the pipeline (and must see them)."""
    from tui.core.storage.models import database_proxy

    def message(uidl: str, message_id: str) -> tuple[str, bytes]:
        head = f"Message-ID: <{message_id}@example.com>\r\nSubject: {uidl}\r\n\r\n".encode()
        return uidl, head + os.urandom(600_000).hex().encode()[:600_000] + b"\r\n"

    anns = _account_of(team.ann)
    writer = _writer(team.ann, anns, dedupe=True)
    try:
        with writer.holding():
            for i in range(8):  # 4.8 MB: two batches written into the open transaction
                writer.add(*message(f"u{i}", f"m{i}"))
            writer.add(*message("again1", "m1"))
            writer.add(*message("again2", "m2"))
            writer.add(*message("u8", "m8"))
        aliases = database_proxy.obj.execute_sql(
            "SELECT a.uidl, m.uidl FROM uidl_alias a JOIN message m ON m.id = a.message_id"
            " ORDER BY a.uidl"
        ).fetchall()
    finally:
        database_proxy.close()
    assert writer.stored == 9 and writer.duplicates == 2
    assert [tuple(row) for row in aliases] == [("again1", "u1"), ("again2", "u2")]
    assert sorted(_rows(team.superuser)) == [f"u{i}" for i in range(9)]
