"""`poptui fetch` against a slow-drip server, as a user runs it: the deadline ends it with a
clear line and exit 1, what arrived is stored, the lock is released, nothing is deleted; and a
fetch killed with SIGKILL while the server crawls has already committed the mail that
arrived whole (commit on time, not only on count and bytes)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.paced_pop3 import PacedPop3Server

POPTUI = [sys.executable, "-m", "tui"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def subjects_stored(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return sorted(row[0] for row in conn.execute("SELECT subject FROM message"))


@pytest.fixture
def server() -> Iterator[PacedPop3Server]:
    messages = [make_message(i) for i in range(4)]
    with PacedPop3Server(messages, pace={3: (0.5, 1)}) as paced:
        yield paced


def prepared(server: PacedPop3Server, tmp_path: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path / 'slow.db'}",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    added = run(
        env,
        "account",
        "add",
        "Slow",
        "--email",
        "alice@example.com",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(server.port),
        "--incoming-security",
        "none",
        "--username",
        "alice",
        "--delete-policy",
        "after_fetch",
    )
    assert added.returncode == 0, added.stderr
    chosen = run(env, "secrets", "use", "command", "Slow", "--incoming", "printf %s secret")
    assert chosen.returncode == 0, chosen.stderr
    return env


def test_the_message_deadline_ends_a_drip_fed_fetch(
    server: PacedPop3Server, tmp_path: Path
) -> None:
    env = prepared(server, tmp_path)
    began = time.monotonic()
    first = run(env, "fetch", "--account", "Slow", "--message-deadline", "1.5", "--timeout", "10")
    assert time.monotonic() - began < 9, "the per-read timeout is not what ended it"
    assert first.returncode == 1
    said = first.stdout + first.stderr
    assert "message 3 took longer than its deadline" in said, said
    assert "nothing was deleted on the server" in said
    assert "Traceback" not in said
    assert subjects_stored(tmp_path / "slow.db") == ["Message number 0", "Message number 1"]
    assert server.committed_deletions == []

    # The lock was released: a second fetch runs (and meets the same drip).
    second = run(env, "fetch", "--account", "Slow", "--message-deadline", "1.5")
    assert second.returncode == 1
    assert "took longer than its deadline" in second.stdout + second.stderr
    assert server.committed_deletions == []


def test_a_bad_deadline_is_refused(server: PacedPop3Server, tmp_path: Path) -> None:
    env = prepared(server, tmp_path)
    refused = run(env, "fetch", "--account", "Slow", "--session-deadline", "0")
    assert refused.returncode == 2
    assert "positive number of seconds" in refused.stderr


def test_sigkill_while_the_server_crawls_keeps_what_arrived_whole(
    server: PacedPop3Server, tmp_path: Path
) -> None:
    env = prepared(server, tmp_path)
    child = subprocess.Popen(
        [*POPTUI, "fetch", "--account", "Slow", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Messages 1 and 2 arrive at once; message 3 crawls for minutes.
        for _ in range(60):
            time.sleep(0.1)
            if any("RETR" in s.verbs for s in server.sessions):
                break
        time.sleep(3.0)  # more than the 2 s a batch may wait, well before any deadline
        assert child.poll() is None, "the fetch ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert subjects_stored(tmp_path / "slow.db") == ["Message number 0", "Message number 1"]
    assert server.committed_deletions == []
