"""UI latency in a real terminal: poptui against a minimal Textual app doing the same things.

    .venv/bin/python bench/ui_latency_bench.py              # 7 interleaved rounds
    .venv/bin/python bench/ui_latency_bench.py --rounds 3   # a quick run

Both programs run in a pseudo-terminal of 80x24 (as over SSH), started fresh each round, in
turns (minimal, poptui, minimal, poptui, ...) so outside load hits both alike. The clock runs
in this process, from the moment bytes are written to the terminal until the expected text is
in what the program has written back:

* start-up to first frame: from spawning the program until its first screen shows its text;
* key to focused field, for the add form (`a`), the password editor (`p`) and the message
  list's search (`o`, then `/` once the list shows): the key is written, and as soon as the
  screen's text is drawn a probe word is typed; the clock stops when the probe word is drawn in
  the field. That is the time until the field has focus and shows what was typed (every key of
  the probe must arrive, or the word never shows and the run fails after a timeout). Typing
  before the screen shows is what tests/terminal checks; a plain Textual app would lose those
  keys, so the comparison waits for the screen on both sides.

The minimal app is plain Textual (the version poptui pins): one screen with a header, a
one-line table and a footer; `a`, `p` and `o` push a screen with a header, an Input focused on
mount and a footer (the `o` screen focuses a table and `/` focuses its Input). Medians per
measurement and the ratio poptui / minimal are printed; the target is a ratio of at most 1.5.
The machine may be shared: absolute figures are noisy, ratios less so.

`--baseline DIR` adds another checkout's poptui (DIR/.venv, e.g. the main branch) to the same
interleaved rounds, on the same database: before and after a change, measured alike.

`--profile DIR` runs both programs under cProfile (their main thread, where Textual's event
loop runs) and writes one profile per measurement into DIR: from the start to the first frame,
and from each key until the probe is drawn (signals from this process start and stop it). The
figures of such a run are slowed down by the profiler: read the profiles, not the ratios.

poptui runs on a temporary database with one active mailbox and the encrypted password file
(passphrase from POPTUI_SECRETS_PASSPHRASE), as tests/terminal does.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
WIDTH, HEIGHT = 80, 24
TIMEOUT = 30.0
TARGET_RATIO = 1.5
PASSPHRASE = "bench-passphrase"

MINIMAL_APP = textwrap.dedent(
    """
    from textual.app import App
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widgets import DataTable, Footer, Header, Input, Static

    class FieldScreen(Screen):
        BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

        def compose(self):
            yield Header()
            yield Static("A field")
            yield Input(id="field", password=self.app.masked)
            yield Footer()

        def on_mount(self):
            self.query_one(Input).focus()

    class ListScreen(Screen):
        BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("slash", "search")]

        def compose(self):
            yield Header()
            yield Input(id="search", placeholder="Search subject")
            yield DataTable(id="list")
            yield Footer()

        def on_mount(self):
            self.query_one(Input).display = False
            table = self.query_one(DataTable)
            table.add_columns("From", "Subject")
            table.add_row("ana@example.com", "Hello")
            table.focus()

        def action_search(self):
            search = self.query_one(Input)
            search.display = True
            search.focus()

    class Minimal(App):
        BINDINGS = [
            Binding("a", "field", "Add"),
            Binding("p", "field(True)", "Password"),
            Binding("o", "list", "Open"),
            Binding("q", "quit", "Quit"),
        ]

        def compose(self):
            yield Header()
            yield Static("No mailboxes yet")
            table = DataTable()
            yield table
            yield Footer()

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("Mailbox", "State")
            table.add_row("Work", "ok")
            table.focus()

        masked = False

        def action_field(self, masked=False):
            self.masked = masked
            self.push_screen(FieldScreen())

        def action_list(self):
            self.push_screen(ListScreen())

    Minimal().run()
    """
)


PROFILER = textwrap.dedent(
    """
    import cProfile, os, runpy, signal, sys

    folder, name = os.environ["UI_BENCH_PROFILE"], os.environ["UI_BENCH_PROFILE_NAME"]
    profiler = cProfile.Profile()
    profiler.enable()
    written = 0

    def start(*_):
        global profiler
        profiler = cProfile.Profile()
        profiler.enable()

    def stop(*_):
        global profiler, written
        if profiler is not None:
            profiler.disable()
            written += 1
            profiler.dump_stats(os.path.join(folder, f"{name}-{written}.prof"))
            profiler = None

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
    """
)
"""The `--profile` wrapper: SIGUSR1 starts a profile, SIGUSR2 writes it (one file each)."""


class Terminal:
    """One program in a pseudo-terminal; writes keys, reads what it draws."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: str | None = None) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.fd = master
        self.output = bytearray()
        self.profiling = "UI_BENCH_PROFILE" in env

    def profile(self, signal_number: int) -> None:
        """Start (SIGUSR1) or write (SIGUSR2) a profile when run with `--profile`."""
        if self.profiling:
            os.kill(self.process.pid, signal_number)

    def write(self, text: str) -> float:
        now = time.perf_counter()
        os.write(self.fd, text.encode())
        return now

    def wait_for(self, text: str, *, after: int = 0) -> float:
        """The time at which `text` first appeared in the output past offset `after`."""
        wanted = text.encode()
        deadline = time.perf_counter() + TIMEOUT
        while time.perf_counter() < deadline:
            if wanted in self.output[max(0, after - len(wanted)) :]:
                return time.perf_counter()
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    break
                self.output += chunk
                if wanted in self.output[max(0, after - len(wanted)) :]:
                    return time.perf_counter()
        tail = self.output[-2000:].decode(errors="replace")
        raise RuntimeError(f"{text!r} did not appear within {TIMEOUT:.0f} s; last output:\n{tail}")

    def drain(self, seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.02)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    return

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.fd)


def poptui_env(folder: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "USER", "LOGNAME", "HOME") if key in os.environ}
    for name in ("DATA", "CONFIG", "STATE", "CACHE"):
        (folder / name.lower()).mkdir(exist_ok=True)
        env[f"XDG_{name}_HOME"] = str(folder / name.lower())
    env.update(
        POPTUI_DATABASE=f"sqlite:///{folder / 'poptui.db'}",
        POPTUI_SECRETS_PASSPHRASE=PASSPHRASE,
        TERM="xterm-256color",
        LANG="C.UTF-8",
        TZ="UTC",
    )
    return env


def prepare_poptui(env: dict[str, str]) -> None:
    def run(*args: str, stdin: str = "") -> None:
        subprocess.run(
            [PYTHON, "-m", "tui", *args],
            env=env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        )

    run("secrets", "use", "file")
    run(
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


SEARCH_SHOWN = "earch subject"
"""The empty search field's placeholder, "Search subject", without the letter under the cursor:
the blinking cursor draws that letter in reverse, so the whole placeholder is only written as
one run of text while the cursor blinks off. Waiting for it added 0-1 s of blink phase to both
programs (both measured 1053 ms) and hid what opening the message list costs."""

Step = tuple[str, str]
"""Keys to write, then the text to wait for before the next step."""

PROBES: dict[str, dict[str, list[Step]]] = {
    "account form": {"minimal": [("a", "A field")], "poptui": [("a", "Account name")]},
    "password editor": {
        "minimal": [("p", "A field")],
        "poptui": [("p", "Incoming server (POP3)")],
    },
    "message list search": {
        "minimal": [("o", "Subject"), ("/", SEARCH_SHOWN)],
        "poptui": [("o", "Messages"), ("/", SEARCH_SHOWN)],
    },
}
"""Per measurement and program: the keys that open the screen and the text each one shows.
Each step waits for its text before the next is written (a plain Textual app drops keys typed
before its field has focus); then a probe word is typed and the clock stops when it is drawn."""


SETTLE_SECONDS = 3.0
"""After the first frame, both programs are left alone at least this long before the keys, and
then until they are idle (`IDLE_CPU_SECONDS`): poptui opens the password file (a key
derivation, ~1-2 s of CPU here), polls the active mailbox and prepares its screens at start; the
keys measure the screens, not that start-up work (its cost is the start-up figure's and the
encrypted-file benchmark's). A fixed wait alone was not enough on a loaded machine: with the
load at 8-10 on 2 cores that work was still running when the keys came."""

AFTER_ESCAPE_SECONDS = 1.5
"""Back on the first screen, both programs are left alone this long, then until idle, before the
next key: poptui prepares its screens again only after a second without keys (PREPARE_SECONDS
in tui/app.py), so a shorter wait could find it idle just before that work began, and the next
key then measured the preparing (as after start-up, the keys measure the screens)."""

IDLE_CPU_SECONDS = 0.02
"""Idle: the program used less CPU than this over `IDLE_WINDOW` seconds (timers and cursor
blinks use a little)."""
IDLE_WINDOW = 0.5
IDLE_LIMIT = 30.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(term: Terminal, minimum: float) -> None:
    """Wait `minimum` seconds, then until the program is idle (at most `IDLE_LIMIT` s)."""
    term.drain(minimum)
    deadline = time.perf_counter() + IDLE_LIMIT
    used = cpu_seconds(term.process.pid)
    while time.perf_counter() < deadline:
        term.drain(IDLE_WINDOW)
        now = cpu_seconds(term.process.pid)
        if now - used < IDLE_CPU_SECONDS:
            return
        used = now


MASKED = {"password editor"}
"""Its field shows one bullet per character: the probe is found as that many bullets."""


def measure(
    program: str,
    command: list[str],
    env: dict[str, str],
    first_text: str,
    home_text: str,
    serial: int,
    cwd: str | None = None,
) -> dict[str, float]:
    """One fresh run: start-up, then each probe, back home with Escape between them."""
    term = Terminal(command, env, cwd)
    figures: dict[str, float] = {}
    try:
        figures["start-up to first frame"] = term.wait_for(first_text) - term.started
        term.profile(signal.SIGUSR2)
        settle(term, SETTLE_SECONDS)
        for index, (name, steps) in enumerate(PROBES.items()):
            probe = f"Zq{serial}x{index}w"
            started = None
            term.profile(signal.SIGUSR1)
            for keys, shown in steps[program]:
                after = len(term.output)
                sent = term.write(keys)
                started = sent if started is None else started
                term.wait_for(shown, after=after)
            after = len(term.output)
            term.write(probe)
            assert started is not None
            drawn = "•" * len(probe) if name in MASKED else probe
            figures[f"key to focused field: {name}"] = term.wait_for(drawn, after=after) - started
            term.profile(signal.SIGUSR2)
            after = len(term.output)
            term.write("\x1b")
            term.wait_for(home_text, after=after)
            settle(term, AFTER_ESCAPE_SECONDS)  # each key from an idle program, as after start-up
    finally:
        term.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", type=Path, help="write cProfile profiles into this folder")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another poptui checkout (with its .venv, e.g. /work/main) run in the same rounds",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ui-latency-") as tmp:
        folder = Path(tmp)
        minimal_script = folder / "minimal_app.py"
        minimal_script.write_text(MINIMAL_APP)
        env = poptui_env(folder)
        prepare_poptui(env)
        wrapper: list[str] = []
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            (folder / "profiler.py").write_text(PROFILER)
            wrapper = [str(folder / "profiler.py")]

        def profiled(program: str, serial: int) -> dict[str, str]:
            if args.profile is None:
                return env
            name = f"{program}-{serial}"
            return {**env, "UI_BENCH_PROFILE": str(args.profile), "UI_BENCH_PROFILE_NAME": name}

        runs: dict[str, Callable[[int], dict[str, float]]] = {
            "minimal": lambda serial: measure(
                "minimal",
                [PYTHON, *wrapper, str(minimal_script)],
                profiled("minimal", serial),
                "No mailboxes yet",
                "Mailbox",
                serial,
            ),
            "poptui": lambda serial: measure(
                "poptui",
                [PYTHON, *wrapper, "-m", "tui"],
                profiled("poptui", serial),
                "Mailboxes",
                "ana@example.com",
                serial,
            ),
        }
        if args.baseline is not None:
            baseline = args.baseline.resolve()
            runs["baseline"] = lambda serial: measure(
                "poptui",
                [str(baseline / ".venv" / "bin" / "python"), "-m", "tui"],
                env,
                "Mailboxes",
                "ana@example.com",
                serial,
                cwd=str(baseline),
            )
        results: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
        for round_number in range(args.rounds):
            order = list(runs) if round_number % 2 == 0 else list(reversed(runs))
            for name in order:
                results[name].append(runs[name](round_number * 10 + len(results[name])))
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

    keys = list(results["minimal"][0])
    print(f"UI latency, 80x24 pseudo-terminal, {args.rounds} interleaved rounds, medians")
    print(f"{'measurement':40} {'minimal':>9} {'poptui':>9} {'ratio':>6}  target  (spread)")
    if "baseline" in results:
        print(f"{'':40} {'':9} {'baseline':>9} {'ratio':>6}  (the --baseline checkout)")
    failed = False
    for key in keys:
        minimal = statistics.median(run[key] for run in results["minimal"])
        poptui = statistics.median(run[key] for run in results["poptui"])
        ratio = poptui / minimal
        ok = ratio <= TARGET_RATIO
        failed |= not ok
        pairs = zip(results["minimal"], results["poptui"], strict=True)
        rounds = sorted(p[key] / m[key] for m, p in pairs)  # per-round ratios: the spread
        print(
            f"{key:40} {minimal * 1000:7.0f}ms {poptui * 1000:7.0f}ms {ratio:6.2f}  "
            f"<= {TARGET_RATIO} {'PASS' if ok else 'FAIL'}  "
            f"(rounds {rounds[0]:.2f}-{rounds[-1]:.2f})"
        )
        if "baseline" in results:
            base = statistics.median(run[key] for run in results["baseline"])
            pairs = zip(results["minimal"], results["baseline"], strict=True)
            rounds = sorted(b[key] / m[key] for m, b in pairs)
            print(
                f"{'':40} {'':9} {base * 1000:7.0f}ms {base / minimal:6.2f}  "
                f"{'':13}(rounds {rounds[0]:.2f}-{rounds[-1]:.2f})"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
