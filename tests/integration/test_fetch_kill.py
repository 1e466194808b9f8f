"""`poptui fetch` killed with SIGKILL at many points: every message is still on the server or
stored exactly once, and the next run finishes the job."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peewee import SqliteDatabase

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tui.core.storage.source_files import read_source

POPTUI = [sys.executable, "-m", "tui"]
KILL_POINTS = [0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]
"""When to kill, as fractions of how long one whole fetch took on this machine just before."""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def message_ids_on_server(dovecot: DovecotServer, user: str) -> list[str]:
    """Read the maildir, again if Dovecot moved a file (new/ to cur/) while we listed it."""
    for _ in range(50):
        try:
            return _message_ids(dovecot.maildir_messages(user))
        except FileNotFoundError:
            time.sleep(0.05)
    raise AssertionError("the maildir never stood still long enough to be read")


def _message_ids(contents: list[bytes]) -> list[str]:
    found = []
    for raw in contents:
        for line in raw.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                found.append(line.split(b":", 1)[1].strip().decode())
                break
    return found


def message_ids_stored(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT message_id FROM message")]


def test_sigkill_at_any_point_loses_and_duplicates_nothing(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    db_path = tmp_path / "kill.db"
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{db_path}",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    _kill_repeatedly(dovecot, pop_user, env, lambda: message_ids_stored(db_path), KILL_POINTS)
    # And each stored message's bytes are whole, where its row says (killed writers left bytes
    # in the segment files that no row refers to: they must never be read as a message).
    db = SqliteDatabase(str(db_path))
    try:
        rows = db.execute_sql("SELECT id, message_id FROM message").fetchall()
        for row_id, message_id in rows:
            raw = read_source(db, row_id) or b""
            assert f"Message-ID: {message_id}\r\n".encode() in raw, message_id
            assert raw.endswith(BODY), message_id
    finally:
        db.close()


def test_sigkill_into_postgres_loses_and_duplicates_nothing(
    dovecot: DovecotServer, pop_user: PopUser, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The same kills into a team database, as a member: there a fetch's batches are sent
    without waiting and waited for only before each COMMIT (`PostgresWriter`), so a kill lands
    between statements sent and not yet run as well as between commits."""
    from tui.core.sharing.postgres_rls import set_role_password, setup_team_database
    from tui.core.storage.db import make_database

    name = "kill_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(name)
    superuser = postgres_server.url(name)
    member = "ann_" + uuid.uuid4().hex[:6]
    setup_team_database(superuser, [member])
    set_role_password(superuser, member, "pw-ann")
    env = dict(
        os.environ,
        POPTUI_DATABASE=postgres_server.url(name, member, "pw-ann"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )

    def rows(query: str) -> list[Any]:
        db = make_database(superuser)
        db.connect()
        try:
            return list(db.execute_sql(query).fetchall())
        finally:
            db.close()

    try:
        _kill_repeatedly(
            dovecot,
            pop_user,
            env,
            lambda: [message_id for (message_id,) in rows("SELECT message_id FROM message")],
            KILL_POINTS[::2],
        )
        query = (
            "SELECT m.message_id, s.raw FROM message m JOIN message_source s ON s.message_id = m.id"
        )
        for message_id, raw in rows(query):
            assert f"Message-ID: {message_id}\r\n".encode() in bytes(raw), message_id
            assert bytes(raw).endswith(BODY), message_id
    finally:
        postgres_server.drop_database(name)
        postgres_server.drop_role(member)


BODY = b"".join(b"filler line %05d for a medium sized message\r\n" % i for i in range(6000))


def _kill_repeatedly(
    dovecot: DovecotServer,
    pop_user: PopUser,
    env: dict[str, str],
    stored_ids: Callable[[], list[str]],
    kill_points: list[float],
) -> None:
    """Kill `poptui fetch` (delete after fetch) at each of `kill_points`, checking after each
    kill that every message is on the server or stored, once; then fetch to the end."""
    messages = [make_message(i, body=BODY) for i in range(600)]
    dovecot.deliver_many(pop_user.name, messages)
    expected = set(message_ids_on_server(dovecot, pop_user.name))
    assert len(expected) == 600

    added = run(
        env,
        "account",
        "add",
        "Kill",
        "--email",
        f"{pop_user.name}@example.com",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot.plain_port),
        "--incoming-security",
        "none",
        "--username",
        pop_user.name,
        "--delete-policy",
        "after_fetch",
        "--max-messages",
        "500",
    )
    assert added.returncode == 0, added.stderr
    chosen = run(
        env, "secrets", "use", "command", "Kill", "--incoming", f"printf %s {pop_user.password}"
    )
    assert chosen.returncode == 0, chosen.stderr

    # One whole fetch first: the kill points are fractions of its time, so they land inside a
    # fetch however fast this machine (and poptui) is.
    started = time.monotonic()
    whole = run(env, "fetch", "--account", "Kill", "--quiet")
    assert whole.returncode == 0, whole.stderr
    whole_fetch = time.monotonic() - started
    on_server = message_ids_on_server(dovecot, pop_user.name)

    kills = 0
    refills = 0
    for point in kill_points:
        if len(on_server) < 500:  # refill: every kill meets a mailbox like the timed one
            refills += 1
            extra = [
                make_message(1000 * refills + i, body=BODY) for i in range(600 - len(on_server))
            ]
            dovecot.deliver_many(pop_user.name, extra)
            expected |= set(message_ids_on_server(dovecot, pop_user.name)) - set(on_server)
        delay = point * whole_fetch
        child = subprocess.Popen(
            [*POPTUI, "fetch", "--account", "Kill", "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=30)
        on_server = message_ids_on_server(dovecot, pop_user.name)
        stored = stored_ids()
        assert len(stored) == len(set(stored)), f"duplicates after a kill at {delay:.2f}s"
        missing = expected - set(on_server) - set(stored)
        assert not missing, f"{len(missing)} messages lost after a kill at {delay:.2f}s"
    assert kills >= len(kill_points) // 2, "the fetch finished too fast to be killed mid-way"

    for _ in range(10):
        finished = run(env, "fetch", "--account", "Kill")
        assert finished.returncode == 0, finished.stderr
        if not message_ids_on_server(dovecot, pop_user.name):
            break
    assert sorted(stored_ids()) == sorted(expected)
    assert message_ids_on_server(dovecot, pop_user.name) == []
