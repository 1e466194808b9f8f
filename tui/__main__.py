"""`poptui` and `python -m tui`: the app without a command, headless subcommands otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def _database_url(argv: Sequence[str]) -> str:
    for index, arg in enumerate(argv):
        if arg == "--database" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--database="):
            return arg.split("=", 1)[1]
    return os.environ.get("POPTUI_DATABASE", "")


def _import_peewee_without_psycopg2() -> None:
    """peewee imports psycopg2 eagerly, a tenth of a "nothing new" `poptui fetch` (run every few
    minutes from cron). A run on SQLite never needs it, so peewee is imported without it then."""
    if "peewee" in sys.modules or "psycopg2" in sys.modules:
        return
    sys.modules["psycopg2"] = None  # type: ignore[assignment]  # makes `import psycopg2` fail
    try:
        import peewee  # noqa: F401
    finally:
        del sys.modules["psycopg2"]


def main() -> None:
    url = _database_url(sys.argv[1:])
    if not url or url.lower().startswith("sqlite"):
        _import_peewee_without_psycopg2()
    from tui.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
