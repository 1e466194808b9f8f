"""Storage on SQLite and on a real PostgreSQL: schema, the one-active rule, re-enabling and
removing accounts, UIDL uniqueness, migrations and the database URL switch."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import IntegrityError

from tui.core.errors import PoptuiError
from tui.core.secrets import MemoryStore, SecretKind
from tui.core.settings import AccountSettings
from tui.core.storage import db as dbmod
from tui.core.storage.accounts import AccountError, AccountStore, PasswordKind
from tui.core.storage.dialect import dialect_of
from tui.core.storage.migrations import all_migrations
from tui.core.storage.models import Account, Message, MessageSource, Setting, database_proxy


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/poptui.db"
        return
    server = request.getfixturevalue("postgres_server")
    name = "t_" + uuid.uuid4().hex[:12]
    server.create_database(name)
    yield server.url(name)


@pytest.fixture
def database(database_url: str) -> Iterator[Any]:
    db = dbmod.open_database(database_url)
    yield db
    db.close()


def sample(name: str, **changes: Any) -> AccountSettings:
    values: dict[str, Any] = {
        "name": name,
        "email": f"{name.lower()}@example.com",
        "incoming_host": "pop.example.com",
        "username": f"{name.lower()}@example.com",
        "outgoing_host": "smtp.example.com",
    }
    values.update(changes)
    return AccountSettings(**values)


def active_names(owner: str) -> list[str]:
    return [a.name for a in Account.select().where((Account.owner == owner) & Account.is_active)]


def test_new_database_is_at_latest_schema(database: Any) -> None:
    assert dbmod.schema_version(database) == all_migrations()[-1].version
    for table in ("account", "message", "message_source", "fetch_log", "setting"):
        assert database.table_exists(table), table


def test_sqlite_is_durable_and_concurrent(tmp_path: Path) -> None:
    db = dbmod.open_database(f"sqlite:///{tmp_path}/d.db")
    try:
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    finally:
        db.close()


def test_first_account_becomes_active_and_switching_keeps_one(database: Any) -> None:
    store = AccountStore("alice")
    store.create(sample("Home"))
    store.create(sample("Work"))
    assert active_names("alice") == ["Home"]
    store.activate("Work")
    assert active_names("alice") == ["Work"]
    # Another owner's accounts are independent.
    other = AccountStore("bob")
    other.create(sample("Home"))
    assert active_names("bob") == ["Home"]
    assert active_names("alice") == ["Work"]


def test_database_itself_refuses_a_second_active_mailbox(database: Any) -> None:
    store = AccountStore("alice")
    store.create(sample("Home"))
    work = store.create(sample("Work"))
    with pytest.raises(IntegrityError), database_proxy.atomic():
        Account.update(is_active=True).where(Account.id == work.id).execute()
    assert active_names("alice") == ["Home"]


def test_removing_the_active_mailbox_activates_another(database: Any) -> None:
    store = AccountStore("alice")
    store.create(sample("Home"))
    store.create(sample("Work"))
    store.remove("Home", keep_mail=False)
    assert active_names("alice") == ["Work"]


def test_remove_keeping_mail_archives_and_frees_the_name(database: Any) -> None:
    store = AccountStore("alice")
    account = store.create(sample("Home"))
    message = Message.create(account=account, uidl="u1", size=3)
    MessageSource.create(message=message, raw=b"abc")
    store.remove("Home", keep_mail=True)
    assert store.names() == []
    assert Message.select().count() == 1
    store.create(sample("Home"))  # the name is free again
    store.remove("Home", keep_mail=False)
    assert Message.select().count() == 1  # the archived account's mail is untouched


def test_remove_dropping_mail_deletes_messages_and_sources(database: Any) -> None:
    store = AccountStore("alice")
    account = store.create(sample("Home"))
    message = Message.create(account=account, uidl="u1", size=3)
    MessageSource.create(message=message, raw=b"abc")
    store.remove("Home", keep_mail=False)
    assert Message.select().count() == 0
    assert MessageSource.select().count() == 0


def test_remove_forgets_both_passwords(database: Any) -> None:
    store = AccountStore("alice")
    home = store.create(sample("Home", same_credentials_for_outgoing=False))
    work = store.create(sample("Work"))
    secrets = MemoryStore(
        {
            (home.secret_key, SecretKind.INCOMING): "pop-secret",
            (home.secret_key, SecretKind.OUTGOING): "smtp-secret",
            (work.secret_key, SecretKind.INCOMING): "work-secret",
        }
    )
    store.remove("Home", keep_mail=True, secrets=secrets)
    assert secrets.get(home.secret_key, SecretKind.INCOMING) is None
    assert secrets.get(home.secret_key, SecretKind.OUTGOING) is None
    assert secrets.get(work.secret_key, SecretKind.INCOMING) == "work-secret"  # others stay
    store.remove("Work", keep_mail=False, secrets=secrets)
    assert repr(secrets) == "MemoryStore(0 passwords)"


def test_password_kinds_are_the_secret_stores_kinds() -> None:
    # Storage cannot import secrets, so it names the two passwords itself: they must agree.
    assert [kind.value for kind in PasswordKind] == [kind.value for kind in SecretKind]
    assert all(SecretKind(kind) is SecretKind(kind.value) for kind in PasswordKind)


@pytest.mark.parametrize(
    ("tested", "new_incoming_password", "enabled"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_one_rule_re_enables_a_disabled_account(
    database: Any, tested: bool, new_incoming_password: bool, enabled: bool
) -> None:
    store = AccountStore("alice")
    store.create(sample("Home"))
    Account.update(
        disabled=True, disabled_reason="10 failed logins", consecutive_auth_failures=10
    ).execute()
    changed = store.enable_if_fixed(
        "Home", tested=tested, new_incoming_password=new_incoming_password
    )
    account = store.get("Home")
    assert changed is enabled
    assert account.disabled is not enabled
    assert (account.consecutive_auth_failures == 0) is enabled
    assert (account.disabled_reason == "") is enabled
    assert store.enable_if_fixed("Home", tested=True) is (not enabled)  # only when disabled


def test_storage_errors_are_poptui_errors() -> None:
    from tui.core.sharing.postgres_rls import TeamSetupError
    from tui.core.sharing.rules import SharingError
    from tui.core.storage.queries import MessageNotFound

    for error in (AccountError, dbmod.DatabaseError, MessageNotFound, SharingError):
        assert issubclass(error, PoptuiError), error
    assert issubclass(TeamSetupError, PoptuiError)
    assert issubclass(MessageNotFound, LookupError)  # still a lookup failure
    assert str(AccountError("No account named 'x'")) == "No account named 'x'"


def test_the_storage_face_names_everything_and_loads_it_lazily() -> None:
    import subprocess
    import sys

    import tui.core.storage as storage
    from tui.core.lazy import homes_of

    assert sorted(storage.__all__) == sorted(homes_of(storage._HOMES))
    for name in storage.__all__:
        assert getattr(storage, name) is not None, name
    # Settings are used without a database (validation, the POP3 client): no peewee, no psycopg2.
    code = "import sys, tui.core.settings; raise SystemExit('peewee' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_duplicate_names_are_refused_with_a_clear_error(database: Any) -> None:
    store = AccountStore("alice")
    store.create(sample("Home"))
    with pytest.raises(AccountError, match="already exists"):
        store.create(sample("Home"))


def test_account_and_uidl_are_unique(database: Any) -> None:
    store = AccountStore("alice")
    account = store.create(sample("Home"))
    Message.create(account=account, uidl="000001", size=10)
    with pytest.raises(IntegrityError), database_proxy.atomic():
        Message.create(account=account, uidl="000001", size=10)
    other = store.create(sample("Work"))
    Message.create(account=other, uidl="000001", size=10)  # same UIDL, other account: fine
    assert Message.select().count() == 2


def test_settings_round_trip_every_field(database: Any) -> None:
    from tui.core.settings import DeletePolicy, Security
    from tui.core.storage.accounts import settings_of

    original = sample(
        "Full",
        incoming_port=1995,
        incoming_security=Security.STARTTLS,
        delete_policy=DeletePolicy.AFTER_DAYS,
        delete_after_days=30,
        same_credentials_for_outgoing=False,
        outgoing_port=587,
        outgoing_security=Security.STARTTLS,
        outgoing_username="sender",
        poll_minutes=15,
        max_messages_per_fetch=200,
        max_message_bytes=10_000_000,
        pinned_fingerprint="AB:CD",
    )
    store = AccountStore("alice")
    store.create(original)
    assert settings_of(store.get("Full")) == original


def test_concurrent_writers_never_leave_two_active(database: Any, database_url: str) -> None:
    """Several threads, each with its own connection, switch the active mailbox at once."""
    store = AccountStore("alice")
    names = [f"Box{i}" for i in range(4)]
    for name in names:
        store.create(sample(name))
    errors: list[BaseException] = []
    seen_counts: list[int] = []
    stop = threading.Event()

    def writer(name: str) -> None:
        try:
            for _ in range(15):
                AccountStore("alice").activate(name)
        except BaseException as error:
            errors.append(error)
        finally:
            database.close()

    def watcher() -> None:
        try:
            while not stop.is_set():
                seen_counts.append(len(active_names("alice")))
        finally:
            database.close()

    watch = threading.Thread(target=watcher)
    watch.start()
    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    watch.join(timeout=30)
    assert not errors, errors
    assert seen_counts and max(seen_counts) <= 1
    assert len(active_names("alice")) == 1


def _build_version_1(url: str) -> None:
    """A database as poptui's first schema left it, with data in it."""
    db = dbmod.make_database(url)
    db.connect()
    database_proxy.initialize(db)
    dialect = dialect_of(db)
    with db.atomic():
        db.execute_sql("CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER)")
        db.execute_sql("INSERT INTO schema_version (id, version) VALUES (1, 1)")
        all_migrations()[0].apply(db, dialect)
        db.execute_sql(
            "INSERT INTO account (owner, name, email, incoming_host, incoming_port, "
            "incoming_security, username, delete_policy, secret_key, created_at, updated_at) "
            "VALUES ('alice', 'Old', 'old@example.com', 'pop.example.com', 995, 'ssl', "
            "'old@example.com', 'leave', 'k1', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
    db.close()


def test_migrates_an_older_schema_keeping_its_data(database_url: str) -> None:
    _build_version_1(database_url)
    db = dbmod.open_database(database_url)
    try:
        assert dbmod.schema_version(db) == all_migrations()[-1].version
        store = AccountStore("alice")
        assert store.get("Old").email == "old@example.com"
        Setting.create(owner="alice", key="secret_store", value="{}")  # table from migration 2
    finally:
        db.close()


def test_newer_schema_is_refused_without_damage(database_url: str) -> None:
    db = dbmod.open_database(database_url)
    AccountStore("alice").create(sample("Keep"))
    db.execute_sql("UPDATE schema_version SET version = 99")
    db.close()
    with pytest.raises(dbmod.SchemaTooNew, match="newer poptui"):
        dbmod.open_database(database_url)
    raw = dbmod.make_database(database_url)
    raw.connect()
    try:
        assert raw.execute_sql("SELECT version FROM schema_version").fetchone()[0] == 99
        assert raw.execute_sql("SELECT name FROM account").fetchone()[0] == "Keep"
    finally:
        raw.close()


def test_environment_variable_chooses_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    monkeypatch.setenv(dbmod.DATABASE_ENV, url)
    assert dbmod.resolve_database_url(None) == url
    assert dbmod.resolve_database_url("sqlite:///other.db") == "sqlite:///other.db"
    monkeypatch.delenv(dbmod.DATABASE_ENV)
    assert dbmod.resolve_database_url(None).endswith("poptui.db")


def test_bad_urls_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(dbmod.DatabaseError, match="Unsupported database URL 'mysql://"):
        dbmod.open_database("mysql://x/y")
    with pytest.raises(dbmod.DatabaseError, match="No database name"):
        dbmod.open_database("postgresql://user@127.0.0.1:1/")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(dbmod.DatabaseError, match="Cannot create the folder"):
        dbmod.open_database(f"sqlite:///{blocker}/sub/db.sqlite")


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(dbmod.DatabaseError, match="Cannot open the database"):
        dbmod.open_database("postgresql://nobody:pw@127.0.0.1:1/none?connect_timeout=2")


def test_described_urls_hide_passwords() -> None:
    assert dbmod.describe_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert "s3cret" not in dbmod.describe_url("postgresql://u:s3cret@h:5432/db")


def test_cli_database_option_switches_between_sqlite_and_postgres(
    postgres_server: Any, tmp_path: Path
) -> None:
    import json
    import os
    import subprocess
    import sys

    name = "t_" + uuid.uuid4().hex[:12]
    postgres_server.create_database(name)
    urls = {"postgres": postgres_server.url(name), "sqlite": f"sqlite:///{tmp_path}/cli.db"}
    env = dict(os.environ)
    env.pop(dbmod.DATABASE_ENV, None)
    for label, url in urls.items():
        added = subprocess.run(
            [
                sys.executable,
                "-m",
                "tui",
                "--database",
                url,
                "account",
                "add",
                f"On-{label}",
                "--email",
                f"{label}@example.com",
                "--incoming-host",
                "pop.example.com",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
    for label, url in urls.items():
        listed = subprocess.run(
            [sys.executable, "-m", "tui", "--database", url, "account", "list", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert [a["name"] for a in json.loads(listed.stdout)] == [f"On-{label}"]
    rows = postgres_server.psql("SELECT name FROM account", name)
    assert rows.strip() == "On-postgres"
