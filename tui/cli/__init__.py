"""The headless command line: the same core as the app, scriptable over SSH.

Exit codes: 0 ok, 1 failure (worded on stderr), 2 usage. Importing this package must not import
Textual; only running the app (no subcommand) does. Each verb group lives in its own module,
imported only when its command runs, so `poptui fetch` loads no more than it needs.
"""

from __future__ import annotations

import os
import sys

from tui.core.lazy import lazy_exports

TYPE_CHECKING = False  # no `typing` import for `poptui fetch` with nothing new
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

    from tui.cli.console import Console
    from tui.cli.context import CommandContext

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandContext",
    "CommandFailed",
    "Console",
    "build_parser",
    "main",
]

_LAZY = {
    "EXIT_FAILURE": "console",
    "EXIT_OK": "console",
    "EXIT_USAGE": "console",
    "CommandFailed": "console",
    "Console": "console",
    "CommandContext": "context",
    "build_parser": "parser",
}
"""Loaded on first use: `poptui fetch` with nothing new needs neither argparse nor the parser
(`_quick_fetch`)."""


__getattr__ = lazy_exports(__name__, _LAZY)


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Parse `argv` and run its command (or the app, with none); the process's exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fetch"]:
        quick = _quick_fetch(argv[1:], console)
        if quick is not None:
            return quick
        try:
            return _main(argv, console)
        finally:
            _end_handed_sessions()
    return _main(argv, console)


def _end_handed_sessions() -> None:
    """End a session the quick check handed over that no fetch took (its account changed,
    the command failed before fetching): QUIT, and its mailbox's lock let go."""
    handover = sys.modules.get("tui.core.sync.session_handover")
    if handover is not None:
        handover.discard_all()


def _main(argv: list[str], console: Console | None) -> int:
    from tui.cli.console import EXIT_INTERRUPTED, Console

    console = console or Console()
    from tui.cli.context import CommandContext
    from tui.cli.parser import build_parser
    from tui.core.errors import PoptuiError

    parser = build_parser(argv)
    parser.add_argument(
        "--debug", action="store_true", help="on a failure, show the Python traceback too"
    )
    args = parser.parse_args(argv)
    _import_peewee(args.database)
    if args.command is None:
        from tui.app import run_app

        if getattr(args, "passphrase_fd", None) is not None:
            from tui.core.secrets.handover import use_passphrase_fd

            use_passphrase_fd(args.passphrase_fd)
        return int(run_app(database_url=args.database))
    from tui.core.storage.db import resolve_database_url

    url = resolve_database_url(args.database)
    try:
        return run_command(CommandContext(args, console, url))
    except PoptuiError as error:
        return console.failure(error, debug=args.debug)
    except KeyboardInterrupt:
        console.warn("poptui: interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:
        from tui.core.storage.failures import explain

        worded = explain(error, url)  # a database failure, in words; anything else is a bug
        if worded is None:
            raise
        worded.__cause__ = error
        return console.failure(worded, debug=args.debug)


_POSTGRES_DRIVERS = ("psycopg2", "psycopg2cffi", "psycopg")
_MYSQL_DRIVERS = ("pymysql", "MySQLdb")


def _import_peewee(database: str | None) -> None:
    """peewee imports every database driver it knows of; on SQLite (the default, and a cron
    fetch every few minutes) psycopg2 alone is a tenth of a "nothing new" run. Imported here,
    after parsing (`--version` and `--help` never get this far), without the unused ones."""
    url = database or os.environ.get("POPTUI_DATABASE", "")
    sqlite = not url or url.lower().startswith("sqlite")
    unused = _POSTGRES_DRIVERS if sqlite else _POSTGRES_DRIVERS[:2]  # PostgreSQL: psycopg 3 only
    from tui.core.lazy import import_without

    import_without("peewee", _MYSQL_DRIVERS + unused)


def _quick_fetch(words: list[str], console: Console | None) -> int | None:
    """`poptui fetch [--account NAME | --all] [--quiet]` with nothing new, recorded without
    peewee, the engine or argparse (`tui.core.sync.quick_check`); None to run the command as
    usual: any other words, another database, or anything the check cannot prove."""
    from tui.core.sync import quick_check

    target, quiet = None, False
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word == "--quiet" and not quiet:
            quiet = True
        elif word == "--all" and target is None:
            target = quick_check.ALL
        elif word == "--account" and target is None and rest and not rest[0].startswith("-"):
            target = rest.pop(0)
        else:
            return None  # argparse's to read (and to word a mistake)
    url = os.environ.get("POPTUI_DATABASE") or quick_check.default_database_url()
    if url is None:
        return None
    try:
        outcomes = quick_check.fetch_if_nothing_new(url, target, hand_over=True)
    except KeyboardInterrupt:
        from tui.cli.console import EXIT_INTERRUPTED, Console

        (console or Console()).warn("poptui: interrupted")
        return EXIT_INTERRUPTED
    if outcomes is None:
        return None
    global _end_at_once
    _end_at_once = True
    lines = [] if quiet else [outcome.summary_line() for outcome in outcomes]
    if console is None and all(line.isascii() and line.isprintable() for line in lines):
        # Printable ASCII is what the sanitiser leaves as it is: skip loading it (and re).
        sys.stdout.write("".join(f"{line}\n" for line in lines))
    else:
        from tui.cli.console import Console
        from tui.core.text import clean

        console = console or Console()
        for line in lines:
            console.print(clean(line))
    return 0  # EXIT_OK, without loading the console's module for it


_end_at_once = False
"""Set when everything `poptui fetch` did is committed, closed or flushed (`_quick_fetch`
answered, or `end_after_fetch`): `exit_with` may then skip the interpreter's tear-down."""


def end_after_fetch() -> None:
    """Tell `exit_with` that a full fetch into SQLite is over: what it stored is committed
    (synchronous=FULL, so on disk). At a normal exit the interpreter's tear-down then took
    40-60 ms of a 5,000-message fetch (strace, from the summary line to the exit; ~15 ms now):
    freeing every object and module, and, when the main thread's database connection happened
    to close last (the order varies from run to run), SQLite's checkpoint of the whole WAL into
    the database file (~25 ms). That checkpoint is done later: by SQLite at a commit past 1,000
    pages, or by the next "nothing new" check (`tui.core.sync.quick_check`), which checkpoints
    a WAL past 256 KiB."""
    global _end_at_once
    _end_at_once = True


def exit_with(code: int) -> NoReturn:
    """`sys.exit(code)` for `poptui`'s entry point. After a fetch whose work is all committed
    (a quick "nothing new" one, or `end_after_fetch`), the process ends at once once it has done
    what a normal exit does first: waited for its non-daemon threads, run its exit handlers and
    flushed its output. Python's tear-down (every module and object, then OpenSSL's) frees
    nothing the kernel does not: 5-10 ms of a "nothing new" run, 40-60 ms after a large fetch."""
    if _end_at_once:
        _join_non_daemon_threads()
        _end_now(code)
    sys.exit(code)


def _join_non_daemon_threads() -> None:
    """Wait for every non-daemon thread, as a normal exit does first (the summary process's
    reaper, `tui.core.mail.summary_process`)."""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    current = threading.current_thread()
    for thread in threading.enumerate():
        if not thread.daemon and thread is not current:
            thread.join()


def _end_now(code: int) -> None:
    """Run the `atexit` handlers as a normal exit does (logging's flush and close,
    `weakref.finalize` for temporary directories, a keyring's own), flush the output, then
    `os._exit`. Returns, for a normal exit, when the flush fails (e.g. a closed pipe: the usual
    exit reports it as before; the handlers that ran are cleared, so they do not run twice) or
    when this is not CPython."""
    import atexit

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:
        return
    run_exit_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def _register_user() -> None:
    """Register the user on first use (`SharingService.ensure_user`, which makes the first one
    the administrator). Every later command, a fetch from cron every few minutes among them,
    finds the row with one query and loads no sharing rules for it."""
    from tui.core.storage.accounts import current_user, registered_user

    if registered_user(current_user()) is None:
        from tui.core.sharing.rules import SharingService

        SharingService().ensure_user()


_VERB_GROUPS = {
    "account": "accounts",
    "password": "accounts",
    "fetch": "fetch",
    "secrets": "secrets",
    "sharing": "sharing",
    "admin": "sharing",
    "messages": "messages",
    "import": "imports",
    "export": "export",
    "doctor": "doctor",
    "service": "service",
}
"""Each command's verb group: a module of tui.cli with `run(context)`, imported only when its
command runs, so `poptui fetch` loads no more than it needs."""

_OPEN_THEIR_OWN_DATABASE = {"doctor", "service"}
"""doctor opens it itself to report why it cannot; service after checking the URL."""


def run_command(context: CommandContext) -> int:
    """Open the database (and register the user), then hand the command to its verb group."""
    import importlib

    command = context.args.command
    if command == "admin" and context.args.verb == "setup-postgres":
        from tui.cli import sharing

        return sharing.setup_postgres(context)  # as the superuser, before any migration
    if command not in _VERB_GROUPS:
        raise AssertionError(f"unknown command {command!r}")  # the parser allows no other
    if command not in _OPEN_THEIR_OWN_DATABASE:
        from tui.core.storage.db import open_database

        open_database(context.url)
        _register_user()
    group = importlib.import_module(f"{__name__}.{_VERB_GROUPS[command]}")
    return int(group.run(context))
