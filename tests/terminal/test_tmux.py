"""The real `poptui` in a real terminal (tmux): add an account by keyboard against the real
Dovecot, fetch, read a message; and quit in the middle of a stalled fetch within a second."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import make_message
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import HANG, FakePop3Server, FakeSession, stuff
from tests.terminal.conftest import EXIT_MARKER, TmuxSession, poptui_command, run_poptui

SUBJECT = "Quarterly report from the tmux test"
BODY = "The figures are in; the terminal test reads this line."


def add_account(env: dict[str, str], name: str, port: int) -> None:
    """A plain-POP3 mailbox on 127.0.0.1 (alice/secret), made active and due for a fetch."""
    run_poptui(
        env,
        "account",
        "add",
        name,
        "--email",
        "alice@example.com",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(port),
        "--incoming-security",
        "none",
        "--username",
        "alice",
        "--delete-policy",
        "after_fetch",
        "--no-preset",
        "--password-stdin",
        stdin="secret\n",
    )


def database_path(env: dict[str, str]) -> Path:
    return Path(env["POPTUI_DATABASE"].removeprefix("sqlite:///"))


def count_messages(env: dict[str, str]) -> int:
    with sqlite3.connect(database_path(env)) as db:
        return int(db.execute("SELECT count(*) FROM message").fetchone()[0])


@pytest.mark.dovecot
def test_add_fetch_and_read_a_message_by_keyboard(
    tmux: TmuxSession, dovecot: DovecotServer, pop_user: PopUser, poptui_env: dict[str, str]
) -> None:
    raw = (
        "From: Ana Lima <ana@example.org>\r\nTo: you@example.com\r\n"
        f"Subject: {SUBJECT}\r\nMessage-ID: <tmux-test@example.org>\r\n"
        "Date: Fri, 14 Mar 2025 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{BODY}\r\n"
    ).encode()
    dovecot.deliver(pop_user.name, raw)
    tmux.start(poptui_command())
    tmux.wait_for("No mailboxes yet")

    # Add the account: implicit TLS on Dovecot's port, its self-signed certificate pinned
    # through the dialog that Test & save opens.
    tmux.send("a")
    tmux.fill("Account name", "Work")
    tmux.send("Tab")
    tmux.fill("Email address", f"{pop_user.name}@example.com")
    tmux.send("Tab")
    tmux.fill("Server", "127.0.0.1")
    tmux.send("Tab")
    tmux.fill("Port", str(dovecot.tls_port))
    tmux.send("Tab")
    tmux.wait_focus("Security")  # SSL/TLS, the default
    tmux.send("Tab")
    tmux.fill("Username", pop_user.name)
    tmux.send("Tab")
    tmux.fill("Password", pop_user.password, shown="•" * len(pop_user.password))
    # The outgoing server was filled in from the incoming one; there is no SMTP server here,
    # and with shared credentials it may stay blank (it is set up once incoming works).
    # example.com has no preset, so the form offers "Sign in with OAuth2" after the password.
    tmux.send("Tab")
    tmux.wait_focus("Sign in")
    tmux.send("Tab")  # to the "same credentials" checkbox
    tmux.wait_focus("Sign in", focused=False)
    tmux.send("Tab")
    tmux.wait_focus("Server")
    tmux.send("BSpace")
    tmux.wait_for(lambda screen: screen.count("127.0.0.1") == 1)
    tmux.send("C-t")
    tmux.wait_for("Untrusted certificate")
    tmux.send("p")
    screen = tmux.wait_for("Added Work")
    assert "● active" in screen

    tmux.send("f")
    tmux.wait_for("Work: 1 new message")
    assert count_messages(poptui_env) == 1

    tmux.send("Enter")
    tmux.wait_for(SUBJECT)
    tmux.send("Enter")
    screen = tmux.wait_for(BODY)
    assert "Ana Lima" in screen

    tmux.send("Escape")
    tmux.wait_for(lambda s: BODY not in s)
    tmux.send("Escape")
    tmux.wait_for("● active")
    tmux.send("q")
    tmux.wait_for(f"{EXIT_MARKER} 0]")

    # The password went to the encrypted file, not into the database.
    assert pop_user.password.encode() not in database_path(poptui_env).read_bytes()
    shown = run_poptui(poptui_env, "account", "show", "Work")
    assert dovecot.cert_fingerprint in shown


def test_quitting_during_a_stalled_fetch_exits_within_a_second(
    tmux: TmuxSession, poptui_env: dict[str, str]
) -> None:
    """The server stops answering in the middle of message 4 of 5. The app was started with
    the account due, so the poll timer fetches it at once; q must end the process in under a
    second, keep the 3 messages already received, and send neither DELE nor QUIT."""
    mail = [make_message(i) for i in range(1, 6)]

    def retr(session: FakeSession, args: list[str]) -> object:
        number = int(args[0])
        if number == 4:
            return HANG
        return f"+OK {len(mail[number - 1])} octets\r\n".encode() + stuff(mail[number - 1])

    capa = ("UIDL", "USER", "RESP-CODES")
    with FakePop3Server(mail, capa=capa, handlers={"RETR": retr}) as server:
        add_account(poptui_env, "Slow", server.port)
        tmux.start(poptui_command())
        tmux.wait_for("3/5")
        started = time.monotonic()
        tmux.send("q")
        tmux.wait_for(EXIT_MARKER, interval=0.01)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"quitting took {elapsed:.2f} s"
        print(f"quit during a stalled fetch: process gone after {elapsed:.3f} s")
        assert f"{EXIT_MARKER} 0]" in tmux.screen()
        assert count_messages(poptui_env) == 3
        assert not any("DELE" in s.verbs or "QUIT" in s.verbs for s in server.sessions)
        assert server.committed_deletions == []


def test_quitting_while_a_server_never_answers_exits_within_a_second(
    tmux: TmuxSession, poptui_env: dict[str, str]
) -> None:
    """The server accepts the connection and says nothing, so the fetch is still inside the
    connect (no greeting yet, a 30 s timeout): q must not wait for that timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        add_account(poptui_env, "Silent", silent.getsockname()[1])
        tmux.start(poptui_command())
        silent.settimeout(30)
        connection, _ = silent.accept()  # the fetch has its password and is connecting
        try:
            tmux.wait_for("connecting…")
            started = time.monotonic()
            tmux.send("q")
            tmux.wait_for(EXIT_MARKER, interval=0.01)
            elapsed = time.monotonic() - started
        finally:
            connection.close()
        print(f"quit while connecting: process gone after {elapsed:.3f} s")
        assert elapsed < 1.0, f"quitting took {elapsed:.2f} s"
        assert f"{EXIT_MARKER} 0]" in tmux.screen()
    finally:
        silent.close()
