"""The headless command line: the same core as the app, scriptable over SSH.

Exit codes: 0 ok, 1 failure (worded on stderr), 2 usage. Importing this package must not import
Textual; only running the app (no subcommand) does. Each verb group lives in its own module,
imported only when its command runs, so `poptui fetch` loads no more than it needs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from tui.cli.console import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    Console,
)
from tui.cli.context import CommandContext
from tui.cli.parser import build_parser
from tui.core.errors import PoptuiError
from tui.core.lazy import import_without

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


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Parse `argv` and run its command (or the app, with none); the process's exit code."""
    console = console or Console()
    argv = list(sys.argv[1:] if argv is None else argv)
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
    import_without("peewee", _MYSQL_DRIVERS + unused)


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
    command = context.args.command
    if command == "admin" and context.args.verb == "setup-postgres":
        from tui.cli import sharing

        return sharing.setup_postgres(context)  # as the superuser, before any migration
    if command not in _VERB_GROUPS:
        raise AssertionError(f"unknown command {command!r}")  # the parser allows no other
    if command not in _OPEN_THEIR_OWN_DATABASE:
        from tui.core.sharing.rules import SharingService
        from tui.core.storage.db import open_database

        open_database(context.url)
        SharingService().ensure_user()
    group = importlib.import_module(f"{__name__}.{_VERB_GROUPS[command]}")
    return int(group.run(context))
