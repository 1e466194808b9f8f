"""A hostile POP3 server cannot make `poptui fetch` use much memory, delete or damage anything.

Each scenario runs the real `python -m tui fetch` in a child process against a server that
misbehaves in exactly one reply, then checks the child's peak RSS (ru_maxrss), its words on
stderr and exit code, what the server was told to delete, that a second fetch is not locked
out, and that the database passes `PRAGMA quick_check`.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.certs import CertMaterial, make_self_signed
from tests.servers.hostile_pop3 import HostilePop3Server, Mode, Scenario, Trick
from tui.core.net.pop3.limits import MAX_LISTING_ENTRIES, MAX_MESSAGE_BYTES

POPTUI = [sys.executable, "-m", "tui"]
RSS_LIMIT_KB = 100 * 1024
TOO_MUCH = "more than poptui reads"


@dataclass(frozen=True)
class Expect:
    code: int
    words: str = TOO_MUCH
    """What stderr must say (empty for a fetch that succeeds)."""
    never: tuple[str, ...] = ()
    """Commands (a verb, or a verb and its argument) the client must never have sent."""


S = Scenario
T = Trick
CASES: dict[Scenario, Expect] = {
    S("GREETING", T.ENDLESS_LINE): Expect(1),
    S("GREETING", T.ENDLESS_MULTILINE): Expect(1, never=("USER", "AUTH", "PASS")),
    S("GREETING", T.FLOOD): Expect(1, never=("USER", "AUTH", "PASS")),
    S("CAPA", T.ENDLESS_LINE): Expect(1),
    S("CAPA", T.ENDLESS_MULTILINE): Expect(1, never=("USER", "AUTH", "PASS")),
    S("CAPA", T.FLOOD): Expect(1, never=("USER", "AUTH", "PASS")),
    S("USER", T.ENDLESS_LINE): Expect(1, never=("PASS",)),
    S("USER", T.ENDLESS_MULTILINE): Expect(1, never=("RETR",)),
    S("PASS", T.ENDLESS_LINE): Expect(1),
    S("PASS", T.FLOOD): Expect(1, never=("RETR",)),
    S("AUTH", T.ENDLESS_LINE): Expect(1),
    S("AUTH", T.ENDLESS_MULTILINE): Expect(1, never=("RETR",)),
    S("STAT", T.ENDLESS_LINE): Expect(1, never=("LIST",)),
    S("STAT", T.ENDLESS_MULTILINE): Expect(1, never=("RETR",)),
    S("STAT", T.MILLION_ENTRIES): Expect(1, "1,000,000 messages", never=("LIST", "RETR")),
    S("STAT", T.HUGE_SIZE): Expect(0, ""),
    S("LIST", T.ENDLESS_LINE): Expect(1, never=("RETR",)),
    S("LIST", T.ENDLESS_MULTILINE): Expect(1, never=("RETR",)),
    S("LIST", T.MILLION_ENTRIES): Expect(1, never=("UIDL", "RETR")),
    S("LIST", T.HUGE_SIZE): Expect(0, ""),
    # A number LIST leaves out (1) or UIDL adds (3) is skipped as malformed, never asked for.
    S("LIST", T.UNLISTED): Expect(0, "", never=("RETR 1", "DELE 1", "RETR 3", "DELE 3")),
    S("UIDL", T.ENDLESS_LINE): Expect(1, never=("RETR",)),
    S("UIDL", T.ENDLESS_MULTILINE): Expect(1, never=("RETR",)),
    S("UIDL", T.MILLION_ENTRIES): Expect(1, never=("RETR",)),
    S("UIDL", T.UNLISTED): Expect(0, "", never=("RETR 1", "DELE 1", "RETR 3", "DELE 3")),
    S("RETR", T.ENDLESS_LINE): Expect(1, never=("DELE",)),
    S("RETR", T.ENDLESS_MULTILINE): Expect(1, never=("DELE",)),
    S("RETR", T.HUGE_SIZE): Expect(1, never=("DELE",)),
    S("RETR", T.ABSURD_SIZE): Expect(1, never=("DELE",)),
}
BEFORE_STLS = [
    S("GREETING", T.ENDLESS_LINE),
    S("GREETING", T.FLOOD),
    S("CAPA", T.ENDLESS_MULTILINE),
    S("CAPA", T.FLOOD),
    S("STLS", T.ENDLESS_LINE),
    S("STLS", T.FLOOD),
]
BEHIND_TLS = [
    S("CAPA", T.ENDLESS_LINE),
    S("AUTH", T.ENDLESS_LINE),
    S("STAT", T.MILLION_ENTRIES),
    S("UIDL", T.MILLION_ENTRIES),
    S("RETR", T.ENDLESS_MULTILINE),
]


@dataclass
class Child:
    code: int
    out: str
    err: str
    max_rss_kb: int


LAUNCHER = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[2:]); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); sys.exit(done.returncode)"
)
"""A small fresh interpreter starts poptui and reports its peak RSS: a child forked straight
from pytest would count pytest's own (large) RSS at the fork as its peak."""


def run(env: dict[str, str], *args: str, timeout: float = 120) -> Child:
    """Run poptui through LAUNCHER; its RUSAGE_CHILDREN gives poptui's own peak RSS."""
    state = Path(env["XDG_STATE_HOME"])
    state.mkdir(parents=True, exist_ok=True)
    out_path, err_path, rss_path = state / "child.out", state / "child.err", state / "child.rss"
    rss_path.unlink(missing_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            done = subprocess.run(
                [sys.executable, "-c", LAUNCHER, str(rss_path), *POPTUI, *args],
                env=env,
                stdout=out,
                stderr=err,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"poptui {' '.join(args)} did not finish within {timeout} s")
    return Child(
        done.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        int(rss_path.read_text()),
    )


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_self_signed(tmp_path_factory.mktemp("hostile-certs"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/hostile.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


def add_account(env: dict[str, str], server: HostilePop3Server, cert: CertMaterial) -> None:
    added = run(
        env,
        "account",
        "add",
        "Box",
        "--email",
        "alice@example.com",
        "--incoming-host",
        server.host,
        "--incoming-port",
        str(server.port),
        "--incoming-security",
        server.mode.value,
        "--username",
        "alice",
        "--delete-policy",
        "after_fetch",
        *(["--pin-fingerprint", cert.fingerprint] if server.mode is not Mode.PLAIN else []),
    )
    assert added.code == 0, added.err
    chosen = run(env, "secrets", "use", "command", "Box", "--incoming", "printf %s secret")
    assert chosen.code == 0, chosen.err


def stored_uids(env: dict[str, str]) -> set[str]:
    path = env["POPTUI_DATABASE"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        return {uid for (uid,) in db.execute("SELECT uidl FROM message")}


@pytest.fixture
def hostile(
    request: pytest.FixtureRequest, cert: CertMaterial
) -> Iterator[tuple[HostilePop3Server, Scenario]]:
    scenario, mode = request.param
    messages = [make_message(1), make_message(2)]
    server = HostilePop3Server(
        scenario,
        messages,
        mode=mode,
        tls=None if mode is Mode.PLAIN else cert.server_context(),
        sasl=scenario.reply not in ("USER", "PASS"),
    )
    with server:
        yield server, scenario


def check_attack(
    env: dict[str, str], server: HostilePop3Server, cert: CertMaterial, expect: Expect
) -> None:
    add_account(env, server, cert)
    fetched = run(env, "fetch")
    assert fetched.max_rss_kb < RSS_LIMIT_KB, f"peak RSS {fetched.max_rss_kb} KiB"
    assert "Traceback" not in fetched.err, fetched.err
    assert fetched.code == expect.code, (fetched.out, fetched.err)
    if expect.words:
        assert expect.words in fetched.err, fetched.err
    sent = {verb for session in server.sessions for verb in session.verbs}
    sent |= {command.upper() for session in server.sessions for command in session.commands}
    for verb in expect.never:
        assert verb not in sent, f"{verb} was sent: {sent}"
    # Nothing deleted on the server that is not stored here, and the database is intact.
    stored = stored_uids(env)
    assert {f"uid{n:07d}" for n in server.committed_deletions} <= stored
    # The per-account lock was released: a second fetch gets as far as the server again.
    again = run(env, "fetch")
    assert "already being fetched" not in again.err, again.err
    assert again.code == expect.code, again.err
    assert "Traceback" not in again.err, again.err
    stored_uids(env)


@pytest.mark.parametrize(
    "hostile",
    [(s, Mode.PLAIN) for s in CASES],
    ids=[s.id for s in CASES],
    indirect=True,
)
def test_a_plain_hostile_server_gets_a_clear_error_and_bounded_memory(
    hostile: tuple[HostilePop3Server, Scenario], env: dict[str, str], cert: CertMaterial
) -> None:
    server, scenario = hostile
    check_attack(env, server, cert, CASES[scenario])


@pytest.mark.parametrize(
    "hostile",
    [(s, Mode.STARTTLS) for s in BEFORE_STLS],
    ids=[s.id for s in BEFORE_STLS],
    indirect=True,
)
def test_before_stls_a_flood_is_read_no_further_than_a_short_line(
    hostile: tuple[HostilePop3Server, Scenario], env: dict[str, str], cert: CertMaterial
) -> None:
    server, _scenario = hostile
    check_attack(env, server, cert, Expect(1, "", never=("USER", "AUTH", "PASS")))
    # Before STLS poptui reads at most one short line past what it needs.
    assert all(s.flooded < 8 * 1024 * 1024 for s in server.hostile)


@pytest.mark.parametrize(
    "hostile",
    [(s, Mode.SSL) for s in BEHIND_TLS],
    ids=[s.id for s in BEHIND_TLS],
    indirect=True,
)
def test_behind_tls_the_same_caps_hold(
    hostile: tuple[HostilePop3Server, Scenario], env: dict[str, str], cert: CertMaterial
) -> None:
    server, scenario = hostile
    check_attack(env, server, cert, CASES[scenario])


def test_a_mailbox_at_the_listing_cap_is_listed_within_the_memory_bound(
    env: dict[str, str], cert: CertMaterial
) -> None:
    scenario = S("RETR", T.MANY_ENTRIES)
    messages = [make_message(1), make_message(2)]
    with HostilePop3Server(scenario, messages, entries=MAX_LISTING_ENTRIES) as server:
        check_attack(env, server, cert, Expect(1, never=("DELE",)))
        # The last session is the engine's (the quick "nothing new" check's comes first).
        assert {"STAT", "LIST", "UIDL", "RETR"} <= set(server.sessions[-1].verbs)


def test_one_more_than_the_listing_cap_is_refused_before_listing(
    env: dict[str, str], cert: CertMaterial
) -> None:
    scenario = S("RETR", T.MANY_ENTRIES)
    messages = [make_message(1)]
    with HostilePop3Server(scenario, messages, entries=MAX_LISTING_ENTRIES + 1) as server:
        check_attack(env, server, cert, Expect(1, "100,001 messages", never=("LIST", "RETR")))


def test_an_honest_large_message_is_stored_within_the_memory_bound(
    env: dict[str, str], cert: CertMaterial
) -> None:
    # Two thirds of the ceiling: storing a message costs about three times its size at the
    # peak, and a message at the ceiling measured 97-113 MB (the parse garbage of the email
    # package is freed by the cycle collector, at a moment that varies from run to run).
    line = b"x" * 76 + b"\r\n"
    big = make_message(1, body=line * (MAX_MESSAGE_BYTES * 2 // 3 // len(line)))
    with HostilePop3Server(S("NONE", T.FLOOD), [big, make_message(2)]) as server:
        check_attack(env, server, cert, Expect(0, ""))
        assert sorted(server.committed_deletions) == [1, 2]
