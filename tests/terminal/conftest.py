"""Real-terminal fixtures: the real `poptui` program in a detached tmux session of its own.

Each test gets a private tmux server (`tmux -L <unique>`), a 100x30 window, and an environment
whose database, XDG folders and encrypted password file all live in the test's temp folder.
The screen is read with `capture-pane -p` and waited on with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POPTUI = ROOT / ".venv" / "bin" / "poptui"
WIDTH, HEIGHT = 100, 30
EXIT_MARKER = "[poptui exited"
PASSPHRASE = "terminal-test-passphrase"


def poptui_command() -> list[str]:
    if POPTUI.exists():
        return [str(POPTUI)]
    return [sys.executable, "-m", "tui"]


class TmuxSession:
    """One detached tmux session running one command; keys in, screen text out."""

    def __init__(self, socket_name: str, env: dict[str, str], cwd: Path) -> None:
        self.socket_name = socket_name
        self.env = env
        self.cwd = cwd

    def tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket_name, "-f", "/dev/null", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: list[str], *, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
        """Run `command` in a new window (100x30 unless `size` says otherwise); when it ends, a
        marker line shows its status."""
        line = f'{shlex.join(command)}; echo "{EXIT_MARKER} $?]"; sleep 3600'
        self.tmux(
            "-u",
            "new-session",
            "-d",
            "-s",
            "poptui",
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            *[arg for key in ("TERM", "LANG", "TZ") for arg in ("-e", f"{key}={self.env[key]}")],
            "sh",
            "-c",
            line,
        )

    def screen(self, *, styles: bool = False) -> str:
        """The visible text; with `styles`, with its colour and bold escape sequences."""
        return self.tmux("capture-pane", "-p", *(["-e"] if styles else []), "-t", "poptui")

    def _has_focus(self, label: str) -> bool:
        bold = re.compile(r"\x1b\[1m(?:\x1b\[[0-9;]*m)*" + re.escape(label))
        return bold.search(self.screen(styles=True)) is not None

    def wait_focus(self, label: str, *, focused: bool = True, timeout: float = 20.0) -> None:
        """Wait until the form field labelled `label` has focus (its label turns bold), or with
        `focused=False` until it has lost it.

        Keys sent before a focus change has happened go to the field that had focus, so a
        keyboard test waits for each field instead of racing Textual's queues.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._has_focus(label) is focused:
                return
            time.sleep(0.05)
        state = "get" if focused else "lose"
        raise AssertionError(f"{label!r} did not {state} focus; the screen was:\n{self.screen()}")

    def fill(self, label: str, text: str, *, shown: str | None = None) -> None:
        """Wait for `label`'s field to have focus, type `text` over what it held (Textual selects
        a field's text when Tab focuses it), and wait until its row shows `shown` (default: the
        text), so the next key cannot overtake the typing.

        No End/C-u to clear a field: those are bindings, run after the key has bubbled through
        the widget tree, so characters typed right after them can land first and be erased.
        """
        self.wait_focus(label)
        self.type(text)
        expected = text if shown is None else shown
        self.wait_for(
            lambda screen: any(label in line and expected in line for line in screen.splitlines())
        )

    def send(self, *keys: str) -> None:
        """tmux key names: "Enter", "Tab", "Escape", "C-t", "End", or single letters."""
        for key in keys:
            self.tmux("send-keys", "-t", "poptui", key)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "poptui", "-l", "--", text)

    def wait_for(
        self,
        expected: str | Callable[[str], bool],
        *,
        timeout: float = 20.0,
        interval: float = 0.05,
    ) -> str:
        """The screen once it contains `expected` (or satisfies it); fails with the last screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            found = expected(screen) if callable(expected) else expected in screen
            if found:
                return screen
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {expected!r}; the screen was:\n{screen}")

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


def terminal_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: everything poptui writes goes under `tmp_path`."""
    env = {key: os.environ[key] for key in ("PATH", "USER", "LOGNAME", "HOME") if key in os.environ}
    for name in ("DATA", "CONFIG", "STATE", "CACHE"):
        folder = tmp_path / name.lower()
        folder.mkdir(exist_ok=True)
        env[f"XDG_{name}_HOME"] = str(folder)
    env.update(
        {
            "POPTUI_DATABASE": f"sqlite:///{tmp_path / 'poptui.db'}",
            "POPTUI_SECRETS_PASSPHRASE": PASSPHRASE,
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
        }
    )
    return env


def run_poptui(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """A headless `poptui` subcommand in the test's environment; fails loudly on error."""
    done = subprocess.run(
        [*poptui_command(), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"poptui {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def add_work_mailbox(env: dict[str, str]) -> None:
    """A mailbox "Work" on 127.0.0.1:9, where nothing listens: the screens under test
    have something to show, and nothing is fetched."""
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


@pytest.fixture
def poptui_env(tmp_path: Path) -> dict[str, str]:
    """The environment, with the encrypted password file chosen as the password store (no
    keyring in a test machine; the passphrase comes from POPTUI_SECRETS_PASSPHRASE)."""
    env = terminal_env(tmp_path)
    run_poptui(env, "secrets", "use", "file")
    return env


@pytest.fixture
def tmux(tmp_path: Path, poptui_env: dict[str, str]) -> Iterator[TmuxSession]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: apt-get install tmux", pytrace=False)
    session = TmuxSession(f"poptui-{uuid.uuid4().hex[:12]}", poptui_env, tmp_path)
    try:
        yield session
    finally:
        session.kill()
