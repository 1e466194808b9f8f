"""The real program in a 60x20 tmux window (a small SSH terminal): the list, the lock and the
form stay usable, and a cancelled passphrase leaves a visible way to unlock (issue #10)."""

from __future__ import annotations

from tests.terminal.conftest import PASSPHRASE, TmuxSession, add_work_mailbox, poptui_command

SMALL = (60, 20)


def test_locked_passwords_at_60x20_can_be_unlocked_and_the_form_fits(
    tmux: TmuxSession, poptui_env: dict[str, str]
) -> None:
    add_work_mailbox(poptui_env)
    # Without the passphrase in the environment poptui asks for it at start.
    tmux.env = {
        key: value for key, value in poptui_env.items() if key != "POPTUI_SECRETS_PASSPHRASE"
    }
    tmux.start(poptui_command(), size=SMALL)
    tmux.wait_for("Unlock the password file")
    tmux.send("Escape")
    # Wait for the dialog to go: an Esc followed at once by f reads as Alt+F (Textual).
    screen = tmux.wait_for(
        lambda shown: "Passwords are locked" in shown and "Unlock the password file" not in shown
    )
    assert "u unlocks" in screen
    assert "Work" in screen and "never" in screen  # the mailbox and its state stay visible
    tmux.wait_for("u Unlock", timeout=30)  # in the footer (once the start-up toast is gone)

    tmux.send("f")
    screen = tmux.wait_for("is locked")
    assert "Press u" in screen

    # u and the passphrase typed in one go, before the dialog is open: every key arrives.
    tmux.type("u" + PASSPHRASE)
    tmux.wait_for(lambda shown: "•" * len(PASSPHRASE) in shown)
    tmux.send("Enter")
    screen = tmux.wait_for("Passwords unlocked")
    tmux.wait_for(lambda shown: "Passwords are locked" not in shown)

    tmux.send("a")
    screen = tmux.wait_for("Account name")
    # Both buttons fit (a toast may cover the corner for its few seconds).
    screen = tmux.wait_for(lambda shown: "Test & save" in shown and "Cancel" in shown, timeout=30)
    for line in screen.splitlines():
        assert len(line.rstrip()) <= SMALL[0]
