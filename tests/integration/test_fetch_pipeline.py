"""The fetch pipeline killed at its own seams, and the batch INSERTs on both databases.

Each kill is deterministic: a small launcher wraps one pipeline step so that the process sends
itself SIGKILL exactly there (after the reader parsed a message but before it handed it over,
after a message was received but before it was stored, after a batch's rows were written but
before their commit, after the last commit but before DELE; while the mail read early waits for
the engine, and while the engine parses it), then runs the real `poptui fetch`.
Afterwards every message is still on the server or stored exactly once, and the next fetch
finishes the job.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.integration.test_fetch_kill import message_ids_on_server, message_ids_stored
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer

POPTUI = [sys.executable, "-m", "tui"]
KILLER = """
import os, signal, sys
module, name, after, when = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import importlib
target = importlib.import_module(module)
owner, attr = target, name
if "." in name:
    owner, attr = getattr(target, name.split(".")[0]), name.split(".")[1]
original = getattr(owner, attr)
calls = [0]
def wrapped(*args, **kwargs):
    calls[0] += 1
    if when == "before" and calls[0] > after:
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if when == "after" and calls[0] > after:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, attr, wrapped)
from tui.cli import main
sys.exit(main(sys.argv[5:]))
"""
"""argv: module, attribute (or Class.method), calls let through, before|after, poptui's argv."""

KILL_POINTS = {
    # The quick check's early reader has asked for the first messages and written answers to
    # its unnamed file; the engine, loaded, is about to stop it: nothing stored yet.
    "read early, not yet the engine's": (
        "tui.core.sync.early_retrieval",
        "EarlyRetrieval.stop",
        0,
        "before",
    ),
    # The engine is reading those answers from the file (its fifth read of it).
    "read early, being parsed": ("tui.core.net.pop3.wire", "Pop3Wire._from_spool", 4, "after"),
    # The 151st header block was just sent to the summary process (the reader's side): its
    # message is not handed over to the storer, nor anything after it.
    "with the summary process, not handed over": (
        "tui.core.mail.summary_process",
        "SummaryProcess.send",
        150,
        "after",
    ),
    # The 151st summary just came back (the storer's side): its message is not stored.
    "summary back, not stored": (
        "tui.core.mail.summary_process",
        "SummaryProcess.summary",
        150,
        "after",
    ),
    # The 120th message was received whole (it is in the storer's hands) but is not stored.
    "received, not stored": ("tui.core.sync.batch", "BatchWriter.add", 119, "before"),
    # A batch's rows are written inside its transaction; the commit never happens.
    "written, not committed": ("tui.core.sync.batch", "insert_messages", 0, "after"),
    # A 2 MB batch is written into the receive loop's held transaction, the next one is
    # about to be: nothing of the open transaction may survive, nor anything be deleted.
    "written and held, not committed": ("tui.core.sync.batch", "insert_messages", 1, "before"),
    # Every batch is committed; the check before DELE (and so DELE) never runs.
    "committed, before DELE": ("tui.core.sync.engine", "confirm_stored", 0, "before"),
}


def no_summary_process_of(db_path: Path, wait: float = 5.0) -> bool:
    """True once no summary process started for this database's fetches is alive (it ends at
    the end of its input, which a killed fetch's death closes)."""
    marker = f"POPTUI_DATABASE=sqlite:///{db_path}".encode()
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes()
                environment = (entry / "environ").read_bytes()
            except OSError:
                continue
            if b"tui.core.mail.summary_child" in command and marker in environment.split(b"\0"):
                alive.append(entry.name)
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_inside_the_pipeline_loses_and_duplicates_nothing(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, point: str
) -> None:
    db_path = tmp_path / "kill.db"
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{db_path}",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    body = b"".join(b"filler line %05d for a medium sized message\r\n" % i for i in range(600))
    dovecot.deliver_many(pop_user.name, [make_message(i, body=body) for i in range(300)])
    expected = set(message_ids_on_server(dovecot, pop_user.name))
    assert len(expected) == 300
    added = run(
        env, "account", "add", "Kill", "--email", f"{pop_user.name}@example.com",
        "--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port),
        "--incoming-security", "none", "--username", pop_user.name,
        "--delete-policy", "after_fetch",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    chosen = run(
        env, "secrets", "use", "command", "Kill", "--incoming", f"printf %s {pop_user.password}"
    )
    assert chosen.returncode == 0, chosen.stderr

    module, name, after, when = KILL_POINTS[point]
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, module, name, str(after), when, "fetch", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, (killed.stdout, killed.stderr)
    assert no_summary_process_of(db_path), "the summary process outlived the killed fetch"
    on_server = set(message_ids_on_server(dovecot, pop_user.name))
    stored = message_ids_stored(db_path)
    assert on_server == expected, "a message was deleted on the server before it was committed"
    assert len(stored) == len(set(stored)), "a message was stored twice"
    if point == "committed, before DELE":
        assert set(stored) == expected
    else:
        assert len(stored) < len(expected)

    finished = run(env, "fetch", "--account", "Kill")
    assert finished.returncode == 0, finished.stderr
    assert sorted(message_ids_stored(db_path)) == sorted(expected)
    assert message_ids_on_server(dovecot, pop_user.name) == []
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        running = db.execute("SELECT count(*) FROM fetch_log WHERE status = 'running'").fetchone()
        assert running == (0,)


def test_a_team_member_fetches_into_postgres_byte_for_byte_and_privately(
    dovecot: DovecotServer, pop_user: PopUser, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Small messages and a large one, as binary parameters: the same bytes arrive, as a member
    under row-level security, and another member sees none of them."""
    import uuid

    from tui.core.sharing.postgres_rls import set_role_password, setup_team_database
    from tui.core.storage.db import make_database

    name = "pipe_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(name)
    superuser = postgres_server.url(name)
    members = {who: f"{who}_{uuid.uuid4().hex[:6]}" for who in ("ann", "eve")}
    setup_team_database(superuser, members.values())
    for role in members.values():
        set_role_password(superuser, role, "pw-" + role)
    large = make_message(0, body=b"".join(b"%07d large body line\r\n" % i for i in range(120_000)))
    assert len(large) > 2 * 1024 * 1024
    messages = [large] + [make_message(i, body=b"small\r\n.dot\r\n" * i) for i in range(1, 60)]
    dovecot.deliver_many(pop_user.name, messages)
    env = dict(
        os.environ,
        POPTUI_DATABASE=postgres_server.url(name, members["ann"], "pw-" + members["ann"]),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    added = run(
        env, "account", "add", "Team", "--email", f"{pop_user.name}@example.com",
        "--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port),
        "--incoming-security", "none", "--username", pop_user.name, "--delete-policy", "leave",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert (
        run(
            env, "secrets", "use", "command", "Team", "--incoming", f"printf %s {pop_user.password}"
        ).returncode
        == 0
    )
    fetched = run(env, "fetch", "--account", "Team")
    assert fetched.returncode == 0, fetched.stderr

    def sources(url: str) -> list[Any]:
        db = make_database(url)
        db.connect()
        try:
            query = "SELECT raw FROM message_source ORDER BY message_id"
            return [bytes(raw) for (raw,) in db.execute_sql(query).fetchall()]
        finally:
            db.close()

    stored = sources(superuser)
    assert sorted(stored) == sorted(
        raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in messages
    )
    assert sources(postgres_server.url(name, members["eve"], "pw-" + members["eve"])) == []
    db = make_database(superuser)
    db.connect()
    try:
        left = db.execute_sql("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    finally:
        db.close()
    assert left == (0,), "a transient large object was left behind"
