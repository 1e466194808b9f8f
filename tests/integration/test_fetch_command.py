"""`poptui fetch` as cron and people use it: real program, real Dovecot."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer

POPTUI = [sys.executable, "-m", "tui"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/cmd.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POPTUI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def add_account(
    env: dict[str, str], dovecot: DovecotServer, user: PopUser, *extra: str, pin: bool = True
) -> None:
    args = [
        "account",
        "add",
        "Box",
        "--email",
        f"{user.name}@example.com",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot.tls_port),
        "--username",
        user.name,
        *extra,
    ]
    if pin:
        args += ["--pin-fingerprint", dovecot.cert_fingerprint]
    assert run(env, *args).returncode == 0
    chosen = run(
        env, "secrets", "use", "command", "Box", "--incoming", f"printf %s {user.password}"
    )
    assert chosen.returncode == 0, chosen.stderr


def test_fetch_prints_one_summary_line_and_is_quiet_when_asked(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    add_account(env, dovecot, pop_user)
    first = run(env, "fetch")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Box: 3 new messages")
    assert first.stdout.count("\n") == 1
    quiet = run(env, "fetch", "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_fetch_failure_exits_1_with_the_reason(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    add_account(env, dovecot, pop_user, pin=False)
    result = run(env, "fetch", "--all")
    assert result.returncode == 1
    assert "certificate" in result.stderr.lower()
    assert f"--pin-fingerprint {dovecot.cert_fingerprint}" in result.stderr
    assert pop_user.password not in result.stderr + result.stdout


def test_connection_test_shows_capabilities_and_fingerprint(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(1), make_message(2)])
    add_account(env, dovecot, pop_user)
    result = run(env, "fetch", "--test", "Box")
    assert result.returncode == 0, result.stderr
    assert dovecot.cert_fingerprint in result.stdout
    assert "UIDL" in result.stdout and "PIPELINING" in result.stdout
    assert f"Logged in as {pop_user.name} with PLAIN.\n2 messages (" in result.stdout
    assert len(dovecot.maildir_messages(pop_user.name)) == 2  # nothing fetched or deleted
    listed = run(env, "account", "show", "Box", "--json")
    assert '"messages": 0' in listed.stdout


def test_connection_test_of_an_untrusted_server_explains_pinning(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    add_account(env, dovecot, pop_user, pin=False)
    result = run(env, "fetch", "--test", "Box")
    assert result.returncode == 1
    assert "subject:" in result.stderr and "valid:" in result.stderr
    assert f"SHA-256 {dovecot.cert_fingerprint}" in result.stderr


def test_progress_bar_on_a_terminal(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    body = b"x" * 20_000 + b"\r\n"
    dovecot.deliver_many(pop_user.name, [make_message(i, body=body) for i in range(200)])
    add_account(env, dovecot, pop_user)
    pid, fd = pty.fork()
    if pid == 0:  # the child: poptui on a terminal
        os.execve(sys.executable, [*POPTUI, "fetch"], env)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Box [" in text and "/200" in text  # the bar with its count
    assert "Box: 200 new messages" in text


def test_two_concurrent_fetches_store_each_message_once(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    body = b"y" * 50_000 + b"\r\n"
    dovecot.deliver_many(pop_user.name, [make_message(i, body=body) for i in range(300)])
    add_account(env, dovecot, pop_user)
    first = subprocess.Popen(
        [*POPTUI, "fetch"], env=env, stdout=subprocess.PIPE, text=True, stderr=subprocess.PIPE
    )
    second = subprocess.Popen(
        [*POPTUI, "fetch"], env=env, stdout=subprocess.PIPE, text=True, stderr=subprocess.PIPE
    )
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    combined = "".join(out + err for out, err in outputs)
    # Either the second waited its turn (both ok) or it was told another fetch is running.
    assert codes == [0, 0] or (codes == [0, 1] and "already being fetched" in combined), combined
    import sqlite3

    with sqlite3.connect(tmp_path / "cmd.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM message").fetchone()
        (distinct,) = conn.execute("SELECT count(DISTINCT message_id) FROM message").fetchone()
    assert count == distinct == 300
    waited = run(env, "fetch", "--wait", "5")
    assert waited.returncode == 0 and "0 new messages" in waited.stdout
