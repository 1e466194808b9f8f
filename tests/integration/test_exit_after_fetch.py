"""The end of `poptui fetch`: after a full fetch into SQLite the process ends without the
interpreter's tear-down or closing the database (whose close may checkpoint the WAL: the next
"nothing new" check does that), and nothing is lost by that.

Run for real against Dovecot, each command in a fresh interpreter as cron runs it; then the
exit itself, with what a normal exit would wait for or run: a non-daemon thread, an `atexit`
handler, buffered output into a pipe, the exit code.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import PopUser
from tests.integration.fetch_helpers import cli_environment, make_message
from tests.servers.dovecot import DovecotServer
from tui.core.sync.quick_check import _WAL_CHECKPOINT_BYTES

ROOT = Path(__file__).resolve().parents[2]


def _poptui(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def _stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM message").fetchone()[0])


def test_full_fetch_ends_without_a_checkpoint_and_loses_nothing(
    tmp_path: Path, dovecot: DovecotServer, pop_user: PopUser
) -> None:
    env = cli_environment(tmp_path)
    db = tmp_path / "poptui.db"
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(500)])
    add = ["account", "add", "Cron", "--email", f"{pop_user.name}@example.com", "--no-preset"]
    add += ["--incoming-host", dovecot.host, "--incoming-port", str(dovecot.plain_port)]
    add += ["--incoming-security", "none", "--username", pop_user.name]
    add += ["--delete-policy", "leave"]
    for args in (
        add,
        ["secrets", "use", "command", "Cron", "--incoming", f"printf %s {pop_user.password}"],
    ):
        done = _poptui(args, env)
        assert done.returncode == 0, done.stderr

    done = _poptui(["fetch", "--account", "Cron"], env)
    assert done.returncode == 0, done.stderr
    assert "500 new messages" in done.stdout  # written through a pipe: flushed before the exit
    wal = Path(f"{db}-wal")
    assert wal.stat().st_size > _WAL_CHECKPOINT_BYTES  # closed, SQLite would have checkpointed it
    assert _stored(db) == 500  # another process reads it all from the WAL

    # A reader inside the WAL (the app, a backup) keeps the check from truncating it; the
    # check waits a moment for it, not its connection's 15 s, and leaves it to the next run.
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM message").fetchone()[0] == 500
        done = _poptui(["fetch", "--account", "Cron"], env, timeout=10)
        assert done.returncode == 0 and "0 new messages" in done.stdout, done.stderr
        assert wal.stat().st_size > _WAL_CHECKPOINT_BYTES
    finally:
        reader.close()

    done = _poptui(["fetch", "--account", "Cron"], env)
    assert done.returncode == 0 and "0 new messages" in done.stdout, done.stderr
    assert wal.stat().st_size == 0  # the "nothing new" check checkpointed it
    done = _poptui(["fetch", "--account", "Cron"], env)
    assert done.returncode == 0 and "0 new messages" in done.stdout, done.stderr
    assert wal.stat().st_size < _WAL_CHECKPOINT_BYTES  # a check's own few pages stay
    assert _stored(db) == 500
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _exit_with(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = "from tui import cli\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )


def test_the_quick_end_waits_for_a_non_daemon_thread(tmp_path: Path) -> None:
    done = _exit_with(
        """
        import threading, time
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        cli.end_after_fetch()
        cli.exit_with(0)
        """,
        tmp_path,
    )
    assert done.returncode == 0 and "thread finished" in done.stdout, done.stderr


def test_the_quick_end_runs_exit_handlers_and_flushes_output(tmp_path: Path) -> None:
    done = _exit_with(
        """
        import atexit, sys
        from pathlib import Path
        atexit.register(lambda: Path(sys.argv[1], "handler").write_text("ran"))
        print("buffered summary")  # a pipe: block-buffered until flushed
        cli.end_after_fetch()
        cli.exit_with(1)
        """,
        tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == "buffered summary\n"
    assert (tmp_path / "handler").read_text() == "ran"
