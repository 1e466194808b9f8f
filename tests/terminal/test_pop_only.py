"""POP-only through the real program in tmux: an account with no outgoing server is added
against the real Dovecot without the form inventing one, stays without one when edited, and
fetches."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import PopUser
from tests.servers.dovecot import DovecotServer
from tests.terminal.conftest import EXIT_MARKER, TmuxSession, poptui_command
from tests.terminal.test_tmux import count_messages, database_path

SUBJECT = "Fetched by a POP-only mailbox"


def outgoing_host(env: dict[str, str], name: str) -> str:
    with sqlite3.connect(database_path(env)) as db:
        row = db.execute("SELECT outgoing_host FROM account WHERE name = ?", (name,)).fetchone()
    return str(row[0])


@pytest.mark.dovecot
def test_pop_only_account_is_added_without_an_outgoing_server_and_fetches(
    tmux: TmuxSession, dovecot: DovecotServer, pop_user: PopUser, poptui_env: dict[str, str]
) -> None:
    raw = (
        "From: Ana Lima <ana@example.org>\r\nTo: you@example.com\r\n"
        f"Subject: {SUBJECT}\r\nMessage-ID: <pop-only@example.org>\r\n"
        "Date: Fri, 14 Mar 2025 09:00:00 +0000\r\n\r\nOnly fetched, never sent.\r\n"
    ).encode()
    dovecot.deliver(pop_user.name, raw)
    tmux.start(poptui_command())
    tmux.wait_for("No mailboxes yet")

    tmux.send("a")
    tmux.fill("Account name", "Work")
    tmux.send("Tab")
    tmux.fill("Email address", f"{pop_user.name}@example.com")
    tmux.send("Tab")
    tmux.fill("Server", "127.0.0.1")
    tmux.send("Tab")
    tmux.fill("Port", str(dovecot.tls_port))
    tmux.send("Tab")
    tmux.wait_focus("Security")
    tmux.send("Tab")
    tmux.fill("Username", pop_user.name)
    tmux.send("Tab")
    tmux.fill("Password", pop_user.password, shown="•" * len(pop_user.password))
    # The outgoing section was never asked for: its server stays empty.
    assert tmux.screen().count("127.0.0.1") == 1

    tmux.send("C-t")
    tmux.wait_for("Untrusted certificate")
    tmux.send("p")
    screen = tmux.wait_for("Added Work")
    assert "Could not connect" not in screen
    assert "without a successful test" not in screen
    assert outgoing_host(poptui_env, "Work") == ""

    # Editing shows no outgoing server either, and saving keeps it that way.
    tmux.send("e")
    tmux.wait_for("Edit mailbox")
    tmux.wait_focus("Account name")
    # One "Server" field holds the host: the incoming one (a toast may still quote it).
    # (The rows after the address are mounted once the form is idle: wait for them.)
    screen = tmux.wait_for(lambda shown: "Fetching" in shown or "Delete messages" in shown)
    server_rows = [line for line in screen.splitlines() if "Server" in line and "127.0.0.1" in line]
    assert len(server_rows) == 1, server_rows
    tmux.send("C-t")
    screen = tmux.wait_for("Saved Work")
    assert "Could not connect" not in screen
    assert outgoing_host(poptui_env, "Work") == ""

    tmux.send("f")
    tmux.wait_for("Work: 1 new message")
    assert count_messages(poptui_env) == 1
    tmux.send("q")
    tmux.wait_for(f"{EXIT_MARKER} 0]")
