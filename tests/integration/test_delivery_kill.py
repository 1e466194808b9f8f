"""`poptui fetch` with delivery targets, killed with SIGKILL between the commit and the
delivery and at random points: the next run delivers what was missed, a Maildir never holds a
message twice, and nothing leaves the server before every target has it (issue #13.1)."""

from __future__ import annotations

import collections
import mailbox
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.integration.test_fetch_kill import message_ids_on_server
from tests.servers.dovecot import DovecotServer

POPTUI = [sys.executable, "-m", "tui"]
KILL_DELAYS = [0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.2, 1.4]
MESSAGES = 3000


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POPTUI, *args], env=env, capture_output=True, text=True, timeout=120)


def _setup(dovecot: DovecotServer, user: PopUser, tmp_path: Path, *targets: str) -> dict[str, str]:
    env = dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/kill.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    deliver = [arg for target in targets for arg in ("--deliver-to", target)]
    added = run(
        env,
        *("account", "add", "Kill", "--email", f"{user.name}@example.com"),
        *("--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port)),
        *("--incoming-security", "none", "--username", user.name),
        *("--delete-policy", "after_fetch", *deliver),
    )
    assert added.returncode == 0, added.stderr
    chosen = run(
        env, "secrets", "use", "command", "Kill", "--incoming", f"printf %s {user.password}"
    )
    assert chosen.returncode == 0, chosen.stderr
    return env


def maildir_ids(path: Path) -> list[str]:
    box = mailbox.Maildir(path, create=False)
    return [str(box.get_message(key)["Message-ID"]) for key in box.keys()]  # noqa: SIM118


def test_killed_between_commit_and_delivery_is_repaired_on_the_next_run(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(30)])
    expected = set(message_ids_on_server(dovecot, pop_user.name))
    flag = tmp_path / "killed-once"
    # The first target kills poptui (its parent) the first time it runs: the mail is committed
    # to the database, and no target has it yet.
    killer = f"mda:sh -c 'test -e {flag} || {{ touch {flag}; kill -9 $PPID; }}; cat >/dev/null'"
    env = _setup(dovecot, pop_user, tmp_path, killer, f"maildir:{tmp_path}/Mail")

    first = run(env, "fetch", "--account", "Kill")
    assert first.returncode == -signal.SIGKILL
    assert flag.exists()
    assert sorted(message_ids_on_server(dovecot, pop_user.name)) == sorted(expected)
    assert not (tmp_path / "Mail").exists()  # the Maildir target never even started

    second = run(env, "fetch", "--account", "Kill")
    assert second.returncode == 0, second.stderr
    assert sorted(maildir_ids(tmp_path / "Mail")) == sorted(expected)
    assert message_ids_on_server(dovecot, pop_user.name) == []


def test_sigkill_at_any_point_never_duplicates_in_the_maildir(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    body = b"".join(b"filler line %05d for a medium sized message\r\n" % i for i in range(400))
    # Enough mail that every kill below lands mid-way even on a quiet machine with the pipelined
    # fetch: several seconds of fetching and delivering in all.
    dovecot.deliver_many(pop_user.name, [make_message(i, body=body) for i in range(MESSAGES)])
    expected = set(message_ids_on_server(dovecot, pop_user.name))
    maildir = tmp_path / "Mail"
    env = _setup(dovecot, pop_user, tmp_path, f"maildir:{maildir}")
    kills = 0
    for delay in KILL_DELAYS:
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
        delivered = maildir_ids(maildir) if maildir.exists() else []
        twice = [mid for mid, n in collections.Counter(delivered).items() if n > 1]
        assert not twice, f"delivered twice after a kill at {delay}s: {twice[:3]}"
        on_server = set(message_ids_on_server(dovecot, pop_user.name))
        # Whatever left the server is in the Maildir: deleted only once delivered.
        assert expected - on_server <= set(delivered), f"lost after a kill at {delay}s"
        # A reader takes what is new (Dovecot and mutt move it to cur/): the repair looks there.
        for name in os.listdir(maildir / "new") if maildir.exists() else []:
            os.rename(maildir / "new" / name, maildir / "cur" / f"{name}:2,S")
    assert kills >= len(KILL_DELAYS) // 2, "the fetch finished too fast to be killed mid-way"
    for _ in range(5):
        finished = run(env, "fetch", "--account", "Kill")
        assert finished.returncode == 0, finished.stderr
        if not message_ids_on_server(dovecot, pop_user.name):
            break
    assert sorted(maildir_ids(maildir)) == sorted(expected)
    assert message_ids_on_server(dovecot, pop_user.name) == []
