"""The headless paths load only what they use: a guard on the modules, not on the clock.

`poptui --version` and a "nothing new" `poptui fetch` (run from cron every few minutes) are
run for real, each in a fresh interpreter, and the modules loaded by the time it exits are
checked: no Textual or Rich, no email package, no keyring when passwords come from a command,
no psycopg2 on SQLite, no `ssl` (nor its certificate store) and no `idna` codec on a plain
connection, and for `--version` not even the database layer. bench/fetch_speed.py and
bench/nothing_new.py measure the time itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import cli_environment, make_message
from tests.servers.dovecot import DovecotServer

ROOT = Path(__file__).resolve().parents[2]

_RUN_AND_LIST_MODULES = """
import sys
sys.argv = ["poptui", *sys.argv[1:]]
code = 0
sys.modules["os"]._exit = sys.exit  # a quick fetch may end with os._exit: list modules first
try:
    from tui.__main__ import main
    main()
except SystemExit as exit_:
    code = exit_.code
modules = sorted(sys.modules)
import json  # after: json loads re, and re enum
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"code": code, "modules": modules}))
"""
"""Runs `poptui ARGS` as the console script does, then prints every module it had loaded."""

ANYWHERE_HEADLESS = ("textual", "rich", "tui.app", "tui.screens", "tui.widgets")
NOT_WHEN_NOTHING_NEW = (
    "email",
    "keyring",
    "keyrings",
    "cryptography",
    "psycopg2",
    "psycopg",
    "tui.core.storage.postgres_insert",
    "authlib",
    "requests",
    "dns",
    "tui.core.mail",
    "tui.core.setup",
    "tui.core.sharing.postgres_rls",
)
NOT_FOR_A_PASSWORD_FETCH = (
    "keyring",
    "tui.core.secrets.keyring",
    "tui.core.oauth.signin",
    "tui.core.oauth.tokens",
    "tui.core.oauth.providers",
    "tui.core.sharing.rules",
    "tui.cli.service",
)
"""Not for a full fetch either (the engine runs) of a password mailbox whose user is known and
whose password comes from a command: OAuth2, the keyring and the sharing rules are other
mailboxes' and other commands' work."""
NOT_ON_PLAIN = ("ssl", "_ssl", "tui.core.net.smtp", "smtplib", "encodings.idna", "stringprep")
NOT_WHEN_NOTHING_NEW_ON_PLAIN = ("socket", "signal", "enum", "selectors", "re", "typing")
"""The quick check's plain session is made with `_socket` and its password command spawned
with `_signal`'s numbers: `socket` and `signal` build enums, ~13 ms of a ~58 ms run."""
NOT_WHEN_NOTHING_NEW_ON_TLS = ("ssl", *NOT_WHEN_NOTHING_NEW_ON_PLAIN, "encodings.idna")
"""...and over TLS `_ssl` does the TLS (`net.light_tls`): `ssl` loads `socket`, `enum` and
more, ~25 ms of a ~100 ms run."""
NOT_FOR_VERSION = (
    "peewee",
    "sqlite3",
    "platformdirs",
    "tui.core.storage",
    "tui.core.sync",
    "socket",
)


def _loaded(prefixes: Iterable[str], modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def _poptui(args: list[str], env: dict[str, str]) -> tuple[int, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    out, marker, listed = done.stdout.rpartition("\nMODULES ")
    assert marker, f"no module list (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    report = json.loads(listed)
    return int(report["code"] or 0), out + done.stderr, report["modules"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_environment(tmp_path)


def test_version_loads_neither_the_database_nor_the_network(env: dict[str, str]) -> None:
    code, out, modules = _poptui(["--version"], env)
    assert code == 0 and out.startswith("poptui "), out
    assert _loaded((*ANYWHERE_HEADLESS, *NOT_WHEN_NOTHING_NEW, *NOT_ON_PLAIN), modules) == []
    assert _loaded(NOT_FOR_VERSION, modules) == []


def _add_account(env: dict[str, str], dovecot: DovecotServer, user: PopUser, tls: bool) -> None:
    add = ["account", "add", "Cron", "--email", f"{user.name}@example.com", "--no-preset"]
    add += ["--incoming-host", dovecot.host, "--username", user.name, "--delete-policy", "leave"]
    if tls:
        add += ["--incoming-port", str(dovecot.tls_port), "--incoming-security", "ssl"]
        add += ["--pin-fingerprint", dovecot.cert_fingerprint]
    else:
        add += ["--incoming-port", str(dovecot.plain_port), "--incoming-security", "none"]
    for args in (
        add,
        ["secrets", "use", "command", "Cron", "--incoming", f"printf %s {user.password}"],
    ):
        code, out, _modules = _poptui(args, env)
        assert code == 0, out


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_nothing_new_loads_no_parser_keyring_or_unused_driver(
    tls: bool, env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(3)])
    _add_account(env, dovecot, pop_user, tls)
    code, out, modules = _poptui(["fetch", "--account", "Cron"], env)
    assert code == 0 and "3 new messages" in out, out
    assert _loaded((*ANYWHERE_HEADLESS, *NOT_FOR_A_PASSWORD_FETCH), modules) == []

    code, out, modules = _poptui(["fetch", "--account", "Cron"], env)
    assert code == 0 and "0 new messages" in out, out
    assert _loaded((*ANYWHERE_HEADLESS, *NOT_WHEN_NOTHING_NEW), modules) == []
    if tls:
        assert "_ssl" in modules  # the guard can see what a connection loads
        assert _loaded(NOT_WHEN_NOTHING_NEW_ON_TLS, modules) == []
    else:
        assert _loaded((*NOT_ON_PLAIN, *NOT_WHEN_NOTHING_NEW_ON_PLAIN), modules) == []


def test_a_large_fetch_reads_headers_without_the_email_package(
    env: dict[str, str], dovecot: DovecotServer, pop_user: PopUser
) -> None:
    """From `SUMMARY_PROCESS_MESSAGES` new messages on, the summary process reads the header
    blocks: the fetch's own process finds where each block ends and builds the summaries the
    child sends back, and needs the email package (~15 ms to import) for none of it."""
    from tui.core.mail.summary_process import SUMMARY_PROCESS_MESSAGES, usable_cores

    count = SUMMARY_PROCESS_MESSAGES
    dovecot.deliver_many(pop_user.name, [make_message(i) for i in range(count)])
    _add_account(env, dovecot, pop_user, tls=False)
    code, out, modules = _poptui(["fetch", "--account", "Cron"], env)
    assert code == 0 and f"{count} new messages" in out, out
    if usable_cores() > 1:
        assert _loaded(("email", "tui.core.mail.parse", "tui.core.mail.headers"), modules) == []
    else:  # one core: no summary process, the headers are read in-process
        assert "tui.core.mail.headers" in modules
