"""`poptui service install|uninstall|status`: the systemd user unit, and what the service did.

Nothing here needs root: the unit is a *user* unit under ~/.config/systemd/user, managed with
`systemctl --user`. Where there is no user manager (a container, a machine without systemd)
the unit is still written and the crontab line is offered instead.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from urllib.parse import urlparse

from tui.cli.console import EXIT_FAILURE, EXIT_OK, CommandFailed, read_stdin_lines
from tui.cli.context import CommandContext
from tui.cli.service import installed_executable
from tui.core.service import records
from tui.core.service.unit import (
    UNIT_NAME,
    UnitSettings,
    crontab_line,
    lingering,
    remove_files,
    systemctl,
    unit_path,
    unit_text,
    write_credential,
    write_unit,
)
from tui.core.storage.models import Account, utcnow
from tui.core.text import describe_age, one_line


def install(context: CommandContext) -> int:
    args, console = context.args, context.console
    database = database_for_unit(context)
    credential = None
    passphrase = _passphrase_if_needed(context)
    if passphrase is not None:
        credential = write_credential(passphrase)
        console.print(f"Passphrase for the service: {credential} (only you can read it)")
    text = unit_text(
        UnitSettings(installed_executable(), database, max(1, min(64, args.jobs)), credential)
    )
    path = write_unit(text)
    console.print(f"Wrote {path}")
    if args.no_start:
        console.print(
            f"Start it with: systemctl --user daemon-reload && "
            f"systemctl --user enable --now {UNIT_NAME}"
        )
    else:
        reload = systemctl("daemon-reload")
        if reload is None:
            console.warn(
                "poptui: no systemd user manager to talk to (not logged in through PAM, or no "
                "systemd here). Start it later with `systemctl --user enable --now "
                f"{UNIT_NAME}`, or use cron instead:\n"
                + crontab_line(installed_executable(), database)
            )
        else:
            started = systemctl("enable", "--now", UNIT_NAME)
            if started is None or started.returncode != 0:
                detail = one_line(started.stderr) if started is not None else "no answer"
                raise CommandFailed(f"systemctl --user enable --now {UNIT_NAME} failed: {detail}")
            console.print(f"Enabled and started {UNIT_NAME}")
    _linger_advice(context)
    return EXIT_OK


def database_for_unit(context: CommandContext) -> str | None:
    """The `--database` to write into the unit (None: the default file); never a password.

    `--database` or $POPTUI_DATABASE as this command sees it: the unit does not inherit the
    shell's environment, so a database chosen there must be written into the unit."""
    from tui.core.storage.db import default_database_url

    url = context.url
    if url == default_database_url():
        return None
    if urlparse(url).password:
        raise CommandFailed(
            "The database URL holds a password, which would be written into the unit file",
            hint="use peer authentication (postgresql:///DB over the Unix socket) or "
            "~/.pgpass, and a URL without the password",
        )
    return str(url)


def _passphrase_if_needed(context: CommandContext) -> str | None:
    """The encrypted file's passphrase, checked by unlocking the file, when that is the store."""
    from tui.core.secrets.choice import open_store
    from tui.core.secrets.setup import saved_store_choice

    choice = saved_store_choice()
    if choice is None or choice.kind != "cryptfile":
        return None
    if context.args.passphrase_stdin:
        passphrase = read_stdin_lines(1)[0]
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("Passphrase of poptui's encrypted password file: ")
    else:
        raise CommandFailed(
            "The service needs the encrypted password file's passphrase",
            hint="pipe it in with --passphrase-stdin, or run this on a terminal",
        )
    open_store(choice, lambda: passphrase)  # a wrong passphrase fails here, not in the service
    return passphrase


def _linger_advice(context: CommandContext) -> None:
    user = getpass.getuser()
    if lingering(user) is False:
        context.console.print(
            f"Lingering is off for {user}: the service stops when you log out. To keep it "
            f"fetching while you are away, run once: loginctl enable-linger {user}"
        )


def uninstall(context: CommandContext) -> int:
    console = context.console
    stopped = systemctl("disable", "--now", UNIT_NAME)
    if stopped is not None and stopped.returncode == 0:
        console.print(f"Stopped and disabled {UNIT_NAME}")
    removed = remove_files()
    for path in removed:
        console.print(f"Removed {path}")
    if stopped is not None:
        systemctl("daemon-reload")
    if not removed:
        console.print("Nothing to remove: the service was not installed.")
    return EXIT_OK


def status(context: CommandContext) -> int:
    console = context.console
    path = unit_path()
    console.print(f"Unit: {path} ({'installed' if path.exists() else 'not installed'})")
    state = systemctl("is-active", UNIT_NAME)
    if state is not None:
        console.print(f"systemd: {one_line(state.stdout) or one_line(state.stderr)}")
    else:
        console.print("systemd: no user manager to ask")
    linger = lingering(getpass.getuser())
    if linger is not None:
        console.print(f"Lingering: {'on' if linger else 'off'}")
    now = utcnow()
    owner = context.accounts.owner
    beats = records.heartbeats(owner)
    live = records.live_service(owner, now)
    if not beats:
        console.print("Heartbeat: the service has never run for this user")
    for beat in beats:
        if beat.stopped_at is not None:
            state_words = f"stopped {describe_age(beat.stopped_at, now)}"
        elif live is not None and beat.id == live.id:
            state_words = "running"
        else:
            state_words = "not heard from (stopped without saying so?)"
        console.print(
            f"Heartbeat: {one_line(beat.host)} pid {beat.pid}, {state_words}, last seen "
            f"{describe_age(beat.last_seen, now)}, {beat.mailboxes} mailboxes"
        )
    accounts = context.accounts.list()
    fetched = records.service_fetches([int(a.id) for a in accounts])
    for account in accounts:
        console.print("  " + _mailbox_line(account, fetched.get(int(account.id)), now))
    return EXIT_OK if live is not None or not beats else EXIT_FAILURE


def _mailbox_line(account: Account, row: records.ServiceFetch | None, now: datetime) -> str:
    name = one_line(account.name, 60)
    if account.disabled:
        return f"{name}: disabled, not fetched until fixed"
    if row is None:
        return f"{name}: not fetched by the service yet"
    words = f"{name}: fetched by the service {describe_age(row.fetched_at, now)} ({row.status}"
    words += f", {row.new_messages} new)" if row.status == "ok" else ")"
    if row.failures:
        words += f", {row.failures} failures in a row"
    return words
