"""Issue #14 item 4: on a shared PostgreSQL database each user's service fetches only that
user's mailboxes (row-level security, not only the service's own filter), both services run at
once, and a user cannot forge the other's heartbeat or service records."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg2
import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tui.core.sharing.postgres_rls import set_role_password, setup_team_database

POPTUI = [sys.executable, "-m", "tui"]
PEOPLE = ("alice", "bob")


class Person(NamedTuple):
    role: str
    url: str
    mailbox: str
    """The person's Dovecot user (password: the same as the role's)."""
    password: str


@pytest.fixture
def team(
    postgres_server: PostgresServer, dovecot: DovecotServer
) -> Iterator[tuple[str, dict[str, Person]]]:
    database = "svc_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(database)
    superuser = postgres_server.url(database)
    suffix = uuid.uuid4().hex[:6]
    people: dict[str, Person] = {}
    for name in PEOPLE:
        role, password = f"{name}_{suffix}", secrets.token_urlsafe(12)
        mailbox = f"{name}{suffix}"
        people[name] = Person(
            role, postgres_server.url(database, role, password), mailbox, password
        )
    setup_team_database(superuser, [p.role for p in people.values()])
    for person in people.values():
        set_role_password(superuser, person.role, person.password)
        dovecot.add_user(person.mailbox, person.password)
    try:
        yield superuser, people
    finally:
        for person in people.values():
            dovecot.clear(person.mailbox)
            dovecot.remove_user(person.mailbox)
        postgres_server.drop_database(database)
        for person in people.values():
            postgres_server.drop_role(person.role)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def env_of(person: Person, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / person.role
    return dict(
        os.environ,
        POPTUI_DATABASE=person.url,
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
    )


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def test_each_users_service_fetches_only_that_users_mailboxes(
    team: tuple[str, dict[str, Person]], dovecot: DovecotServer, tmp_path: Path
) -> None:
    superuser, people = team
    processes = {}
    for index, (name, person) in enumerate(people.items()):
        env = env_of(person, tmp_path)
        dovecot.deliver_many(person.mailbox, [make_message(index * 100 + i) for i in range(3)])
        added = run(
            env, "account", "add", "Mine", "--email", f"{name}@example.com",
            "--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port),
            "--incoming-security", "none", "--username", person.mailbox, "--no-preset",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        # Everyone may READ it; only its owner may fetch it.
        assert run(env, "sharing", "set", "Mine", "public").returncode == 0
        chosen = run(
            env, "secrets", "use", "command", "Mine", "--incoming", f"printf %s {person.password}"
        )
        assert chosen.returncode == 0, chosen.stderr
    # Each sees both mailboxes (both are public): the service must still fetch only its own.
    assert query(people["bob"].url, "SELECT count(*) FROM account") == [(2,)]
    for name, person in people.items():
        processes[name] = subprocess.Popen(
            [*POPTUI, "service", "run", "--check-seconds", "0.3"],
            env=env_of(person, tmp_path),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while len(query(superuser, "SELECT 1 FROM service_fetch")) < 2:
            assert time.monotonic() < deadline, "both services fetched"
            time.sleep(0.1)
    finally:
        logs = {}
        for name, process in processes.items():
            process.send_signal(signal.SIGTERM)
            logs[name] = process.communicate(timeout=60)[1]
            assert process.returncode == 0, logs[name]
    for name in people:
        # One fetch per service, of its owner's mailbox only: the other's public one is
        # visible to it, but not its to fetch.
        assert logs[name].count("fetched Mine: 3 new messages") == 1, logs[name]
        assert "1 mailboxes to fetch" in logs[name]
    rows = query(
        superuser,
        "SELECT a.owner, count(m.id) FROM account a JOIN message m ON m.account_id = a.id "
        "GROUP BY a.owner ORDER BY a.owner",
    )
    assert rows == [(people["alice"].role, 3), (people["bob"].role, 3)]
    fetch_logs = query(
        superuser,
        "SELECT a.owner, count(*) FROM fetch_log f JOIN account a ON a.id = f.account_id"
        " GROUP BY a.owner ORDER BY a.owner",
    )  # fmt: skip
    assert fetch_logs == [(people["alice"].role, 1), (people["bob"].role, 1)]
    beats = query(superuser, "SELECT owner FROM service_heartbeat ORDER BY owner")
    assert beats == [(people["alice"].role,), (people["bob"].role,)]


def test_a_user_cannot_read_or_forge_another_users_service_records(
    team: tuple[str, dict[str, Person]], tmp_path: Path
) -> None:
    superuser, people = team
    alice, bob = people["alice"], people["bob"]
    for person in (alice, bob):
        env = env_of(person, tmp_path)
        added = run(
            env, "account", "add", "Mine", "--email", "x@example.com", "--incoming-host",
            "127.0.0.1", "--incoming-port", "9", "--username", "x", "--no-preset",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert run(env, "sharing", "set", "Mine", "public").returncode == 0
    alices_account = query(superuser, "SELECT id FROM account WHERE owner = %s", (alice.role,))[0][
        0
    ]
    query(
        alice.url,
        "INSERT INTO service_heartbeat (owner, host, pid, started_at, last_seen, mailboxes)"
        " VALUES (current_user, 'h', 1, now(), now(), 1)",
    )
    query(
        alice.url,
        "INSERT INTO service_fetch (account_id, fetched_at, status) VALUES (%s, now(), 'ok')",
        (alices_account,),
    )
    assert query(bob.url, "SELECT * FROM service_heartbeat") == []
    assert query(bob.url, "SELECT * FROM service_fetch") == []
    assert query(bob.url, "UPDATE service_heartbeat SET last_seen = now() RETURNING id") == []
    assert query(bob.url, "DELETE FROM service_fetch RETURNING account_id") == []
    forged = [
        (
            "INSERT INTO service_heartbeat (owner, host, pid, started_at, last_seen, mailboxes)"
            " VALUES (%s, 'h', 2, now(), now(), 1)",
            (alice.role,),
        ),
        (
            "INSERT INTO service_fetch (account_id, fetched_at, status) VALUES (%s, now(), 'ok')"
            " ON CONFLICT DO NOTHING",
            (alices_account,),
        ),
    ]
    for sql, params in forged:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            query(bob.url, sql, params)
    assert len(query(superuser, "SELECT * FROM service_heartbeat")) == 1
    assert query(superuser, "SELECT status FROM service_fetch") == [("ok",)]
