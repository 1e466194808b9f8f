"""`poptui service run|install|uninstall|status`: the long-running fetcher and its systemd unit.

The grammar is here too (`add_service_verbs`), imported by the parser: this module imports
nothing heavy at the top, so `poptui fetch` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.cli.context import CommandContext


def add_service_verbs(
    commands: Any, add_fetch_tuning: Callable[[argparse.ArgumentParser], None]
) -> None:
    from tui.cli.parser import SERVICE_HELP

    service = commands.add_parser("service", help=SERVICE_HELP)
    verbs = service.add_subparsers(dest="verb", metavar="VERB", required=True)
    run = verbs.add_parser("run", help="fetch each mailbox on its poll interval until stopped")
    add_fetch_tuning(run)
    run.add_argument(
        "--check-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="how often to look for added, edited or removed accounts (default 10)",
    )
    run.add_argument(
        "--stop-grace",
        type=float,
        default=20.0,
        metavar="S",
        help="on SIGTERM, how long fetches may take to store their current message (default 20)",
    )
    run.add_argument(
        "--ensure",
        action="store_true",
        help="exit quietly when the service already runs (for a crontab line)",
    )
    install = verbs.add_parser("install", help="write and start a systemd user unit (no root)")
    install.add_argument("--jobs", type=int, default=4, metavar="N", help="fetches at once")
    install.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="read the encrypted password file's passphrase from stdin (else asked)",
    )
    install.add_argument(
        "--no-start", action="store_true", help="write the unit only; do not enable or start it"
    )
    verbs.add_parser("uninstall", help="stop and remove the unit and its passphrase file")
    verbs.add_parser("status", help="the unit's state and the service's heartbeat")


def run(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService
    from tui.core.storage.db import open_database

    verb = context.args.verb
    if verb == "install":
        from tui.cli.service_install import database_for_unit

        database_for_unit(context)  # a password in the URL is refused before connecting
    open_database(context.url)
    SharingService().ensure_user()
    if verb == "run":
        return run_service(context)
    from tui.cli import service_install

    if verb == "install":
        return service_install.install(context)
    if verb == "uninstall":
        return service_install.uninstall(context)
    return service_install.status(context)


def run_service(context: CommandContext) -> int:
    """The fetcher in the foreground until SIGTERM or Ctrl+C; its log on stderr."""
    import signal

    from tui.cli.console import EXIT_OK
    from tui.cli.fetch import fetch_options
    from tui.core.oauth.login import login_secret
    from tui.core.service.journal import ServiceLog
    from tui.core.service.runner import (
        FetchService,
        ServiceAlreadyRunning,
        ServiceConfig,
        single_instance,
    )

    args = context.args
    config = ServiceConfig(
        options=fetch_options(args),
        jobs=args.jobs,
        check_seconds=max(0.1, args.check_seconds),
        stop_grace=max(0.0, args.stop_grace),
    )
    try:
        with single_instance(config.options.lock_dir):
            stores = [context.secrets()]  # opened now: a missing passphrase fails at the start

            def password(account: Any) -> Any:
                """The password, or an OAuth2 account's token source, as `poptui fetch`."""
                return login_secret(account, stores[0])

            def reopen() -> None:
                """`poptui secrets use …` or a new account: read the store choice again."""
                from tui.core.secrets.setup import open_configured_store

                stores[0] = open_configured_store()

            log = ServiceLog(sys.stderr)
            service = FetchService(context.accounts, password, log, config, changed=reopen)

            def stop(_signum: int, _frame: object) -> None:
                service.request_stop()

            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, stop)
            service.run()
    except ServiceAlreadyRunning:
        if args.ensure:
            return EXIT_OK
        raise
    return EXIT_OK


def installed_executable() -> Path:
    """The poptui this command runs as: its console script, by absolute path."""
    import shutil

    script = Path(sys.argv[0])
    if script.name == "poptui" and script.exists():
        return script.absolute()
    beside = Path(sys.executable).parent / "poptui"
    if beside.exists():
        return beside
    found = shutil.which("poptui")
    if found:
        return Path(found).absolute()
    from tui.cli.console import CommandFailed

    raise CommandFailed(
        "Cannot find the installed `poptui` command to put in the unit",
        hint="install poptui (pipx install poptui, or pip install -e . in a venv) and run "
        "this again with that poptui",
    )
