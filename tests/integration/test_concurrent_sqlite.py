"""Issue #9 item 6: many `poptui fetch` processes, each fetching a different mailbox of one SQLite
database at the same time, never fail with "database is locked" and store every message once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server

POPTUI = [sys.executable, "-m", "tui"]
PROCESSES = 4
ACCOUNTS_PER_PROCESS = 4
MESSAGES = 260
"""Three batch commits per mailbox (100 messages each), plus the fetch log and account rows."""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/shared.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


@pytest.fixture
def servers() -> Iterator[list[FakePop3Server]]:
    started = []
    try:
        for box in range(PROCESSES * ACCOUNTS_PER_PROCESS):
            messages = [
                make_message(box * 1000 + i, extra_headers=f"X-Box: {box}\r\n")
                for i in range(MESSAGES)
            ]
            started.append(FakePop3Server(messages).start())
        yield started
    finally:
        for server in started:
            server.stop()


def test_processes_fetching_different_mailboxes_never_see_database_is_locked(
    env: dict[str, str], servers: list[FakePop3Server], tmp_path: Path
) -> None:
    names = [f"Box{n}" for n in range(len(servers))]
    adds = [
        subprocess.Popen(
            [
                *POPTUI,
                "account",
                "add",
                name,
                "--email",
                f"{name.lower()}@example.com",
                "--incoming-host",
                server.host,
                "--incoming-port",
                str(server.port),
                "--incoming-security",
                "none",
                "--username",
                "alice",
                "--no-preset",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, server in zip(names, servers, strict=True)
    ]
    for add in adds:  # account updates from many processes at once: no lock errors either
        _out, err = add.communicate(timeout=120)
        assert add.returncode == 0, err
    for name in names:
        chosen = run(env, "secrets", "use", "command", name, "--incoming", "printf %s secret")
        assert chosen.returncode == 0, chosen.stderr

    # Each process fetches its own mailboxes one after another; all processes run at once.
    workers = []
    for p in range(PROCESSES):
        mine = names[p * ACCOUNTS_PER_PROCESS : (p + 1) * ACCOUNTS_PER_PROCESS]
        script = "; ".join(
            f"{sys.executable} -m tui fetch --account {name} || echo FAILED {name} >&2"
            for name in mine
        )
        workers.append(
            subprocess.Popen(
                ["sh", "-c", script],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=300) for worker in workers]
    errors = "".join(err for _out, err in outputs)
    assert errors == "", errors
    assert "locked" not in "".join(out for out, _err in outputs)
    for out, _err in outputs:
        assert out.count(f"{MESSAGES} new messages") == ACCOUNTS_PER_PROCESS, out

    with sqlite3.connect(tmp_path / "shared.db") as conn:
        rows = conn.execute(
            "SELECT a.name, count(m.id), count(DISTINCT m.message_id), count(DISTINCT m.uidl)"
            " FROM account a LEFT JOIN message m ON m.account_id = a.id GROUP BY a.name"
        ).fetchall()
        per_account = {row[0]: tuple(row[1:]) for row in rows}
        statuses = conn.execute("SELECT status, count(*) FROM fetch_log GROUP BY status").fetchall()
    assert per_account == {name: (MESSAGES, MESSAGES, MESSAGES) for name in names}
    assert statuses == [("ok", len(names))]
    assert all(server.committed_deletions == [] for server in servers)
