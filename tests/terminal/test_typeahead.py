"""Typing right after a key that opens a screen, through the real program in tmux, with the
machine's two cores kept busy: every character lands in the field the user meant.

The keys go out in ONE `send-keys` (as from a fast typist, or over SSH where keys arrive in
bursts), so most of them reach poptui before the screen they are meant for exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.terminal.conftest import TmuxSession, add_work_mailbox, poptui_command

NAME = "Work mail (o, d, e, s too)"
"""Letters that are keys of the mailbox list: they must be typed, not run."""
EMAIL = "ana.lima@example.org"


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Two processes spinning at full speed for the test's duration: the load of a shared
    2-core machine, so the screens open slowly while the keys arrive."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def field_row(screen: str, label: str) -> str:
    return next((line for line in screen.splitlines() if label in line), "")


def test_name_and_address_typed_with_a_all_arrive(tmux: TmuxSession, busy_cores: None) -> None:
    tmux.start(poptui_command())
    tmux.wait_for("No mailboxes yet")
    tmux.type(f"a{NAME}\t{EMAIL}")
    screen = tmux.wait_for(lambda shown: EMAIL in field_row(shown, "Email address"))
    assert NAME in field_row(screen, "Account name")
    # Nothing the letters are bound to on the list ran (o opens messages, d deletes ...).
    assert "Add a mailbox" in screen


def test_password_typed_with_p_arrives(
    tmux: TmuxSession, poptui_env: dict[str, str], busy_cores: None
) -> None:
    add_work_mailbox(poptui_env)
    tmux.start(poptui_command())
    tmux.wait_for("ana@example.com")
    typed = "n3w-Secret-pw"
    tmux.type(f"p{typed}")
    tmux.wait_for(lambda shown: "•" * len(typed) in shown)
    screen = tmux.screen()
    assert "•" * (len(typed) + 1) not in screen


def test_search_typed_with_o_and_slash_arrives(
    tmux: TmuxSession, poptui_env: dict[str, str], busy_cores: None
) -> None:
    """Once as poptui starts (the browser is built on the key) and once after a pause (it
    was composed ahead, tui.screens.ready): the words land in the search field both times."""
    add_work_mailbox(poptui_env)
    tmux.start(poptui_command())
    tmux.wait_for("ana@example.com")
    for word in ("deploy notes", "invoice march"):
        tmux.type(f"o/{word}")
        screen = tmux.wait_for(word)
        assert "0 messages" in screen  # on the browser, not typed into the list's keys
        tmux.send("Escape")  # clears the search
        tmux.send("Escape")  # back to the list
        tmux.wait_for(lambda shown: "Make active" in shown)
        time.sleep(3)  # the list prepares the browser in the pause
