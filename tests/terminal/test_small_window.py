"""The real program in a 60x20 tmux window (a small SSH terminal): the list, the lock and the
form stay usable, and a cancelled passphrase leaves a visible way to unlock (issue #10)."""

from __future__ import annotations

from tests.terminal.conftest import PASSPHRASE, TmuxSession, poptui_command, run_poptui

SMALL = (60, 20)


def add_account(env: dict[str, str]) -> None:
    run_poptui(
        env,
        "account",
        "add",
        "Work",
        "--email",
        "ana@example.com",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        "9",
        "--incoming-security",
        "none",
        "--username",
        "ana",
        "--no-preset",
        "--password-stdin",
        stdin="secret\n",
    )


def test_locked_passwords_at_60x20_can_be_unlocked_and_the_form_fits(
    tmux: TmuxSession, poptui_env: dict[str, str]
) -> None:
    add_account(poptui_env)
    # Without the passphrase in the environment poptui asks for it at start.
    tmux.env = {
        key: value for key, value in poptui_env.items() if key != "POPTUI_SECRETS_PASSPHRASE"
    }
    tmux.start(poptui_command(), size=SMALL)
    tmux.wait_for("passphrase")
    tmux.send("Escape")
    screen = tmux.wait_for(
        lambda shown: "Passwords are locked" in shown and "Cancel (Esc)" not in shown
    )
    assert "u unlocks" in screen
    assert "Work" in screen and "never" in screen  # the mailbox and its state stay visible
    footer = screen.rstrip().splitlines()[-1]
    assert "u" in footer and "Unlock" in footer

    tmux.send("f")
    screen = tmux.wait_for("is locked")
    assert "Press u" in screen

    tmux.send("u")
    tmux.wait_for("passphrase")
    tmux.type(PASSPHRASE)
    tmux.send("Enter")
    screen = tmux.wait_for("Passwords unlocked")
    tmux.wait_for(lambda shown: "Passwords are locked" not in shown)

    tmux.send("a")
    screen = tmux.wait_for("Account name")
    tmux.wait_for("Test & save")
    screen = tmux.screen()
    assert "Cancel" in screen
    for line in screen.splitlines():
        assert len(line.rstrip()) <= SMALL[0]
