"""`poptui fetch`: the fetch engine for cron and systemd timers, with a progress bar on a terminal.

No Textual on this path: it must start fast and run where there is no screen. Server replies and
certificate fields are cleaned before they are printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from tui.cli.console import EXIT_FAILURE, EXIT_OK, CommandFailed, Console, Printer
from tui.cli.context import CommandContext
from tui.cli.progress import ProgressBoard
from tui.core.net import pop3
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import sqlite_file
from tui.core.storage.models import Account
from tui.core.sync import FetchOptions, FetchResult
from tui.core.sync.fanout import MailboxJob, fetch_many
from tui.core.sync.outcome import (
    certificate_lines,
    connecting_line,
    error_text,
    pin_advice,
    summary_line,
)
from tui.core.text import clean

if TYPE_CHECKING:
    import argparse

    from tui.core.secrets import SecretStore


def run(context: CommandContext) -> int:
    """Run `poptui fetch`: the active mailbox, `--account NAME`, `--all`, or `--test NAME`.

    Several mailboxes are fetched `--jobs` at a time, each on its own connection; the summary
    comes at the end in the order of the account names, whatever order they finished in.
    """
    args, console, store = context.args, context.console, context.accounts
    if args.test:
        return run_connection_test(args, console, store.get(args.test), context.secrets)
    options = fetch_options(args)
    targets = _targets(args, store)
    jobs = [MailboxJob(account, _password(context.secrets, account)) for account in targets]
    board = None
    if not args.quiet and console.is_terminal:
        board = ProgressBoard(console.out, [job.account.name for job in jobs])
    try:
        outcomes = fetch_many(
            jobs,
            options,
            limit=args.jobs,
            progress=board,
            finished=(lambda job, _outcome: board.finished(job.account.name)) if board else None,
        )
    finally:
        if board is not None:
            board.clear()
    failures, crash = 0, None
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            crash, failures = crash or outcome, failures + 1
        else:
            failures += _report(console, outcome, quiet=args.quiet)
    if crash is not None:
        raise crash  # a database failure: worded by the command line's one handler
    if sqlite_file(context.url) is not None:  # PostgreSQL: its connection closes as usual
        from tui import cli

        cli.end_after_fetch()
    return EXIT_FAILURE if failures else EXIT_OK


def fetch_options(args: argparse.Namespace) -> FetchOptions:
    """The engine's options from `poptui fetch`'s (and `poptui service`'s) flags."""
    options = FetchOptions(timeout=args.timeout, ca_file=args.ca_file, lock_wait=args.wait)
    if args.message_deadline is not None:
        options.message_deadline = args.message_deadline
    if args.session_deadline is not None:
        options.session_deadline = args.session_deadline
    return options


def _targets(args: argparse.Namespace, store: AccountStore) -> list[Account]:
    if args.account:
        return [store.get(args.account)]
    if args.all:
        return [a for a in store.list() if not a.disabled]
    active = store.active()
    if active is None:
        if store.list():
            raise CommandFailed("No active mailbox: choose one with `poptui account activate NAME`")
        raise CommandFailed("No accounts yet: add one with `poptui account add NAME --email ADDR`")
    return [active]


def _password(secrets: Callable[[], SecretStore], account: Account) -> pop3.Secret | None:
    """The incoming password, or an OAuth2 account's token source (`tui.core.oauth`). A
    mailbox whose session the quick check handed over has it already, read from the same
    store a moment ago: the store is not opened again (nor the password command run)."""
    handed = sys.modules.get("tui.core.sync.session_handover")
    if handed is not None and (password := handed.password_of(account.id)) is not None:
        return str(password)
    from tui.core.oauth.login import login_secret

    return login_secret(account, secrets())


def _report(console: Console, result: FetchResult, *, quiet: bool) -> int:
    """Print one account's outcome; 1 when it failed, so the caller can count failures."""
    if result.ok:
        if not quiet:
            console.print(clean(summary_line(result)))
        return 0
    console.warn(f"poptui: {clean(summary_line(result))}")
    error = result.error
    if isinstance(error, pop3.UntrustedCertificate) and error.certificate is not None:
        console.warn(f"  {pin_advice(result.account, error.certificate)}")
    return 1


class CheckOptions(Protocol):
    """The options `--test` uses: the parsed command line, or anything carrying these two."""

    @property
    def timeout(self) -> float: ...

    @property
    def ca_file(self) -> str | None: ...


def run_connection_test(
    args: CheckOptions,
    console: Printer,
    account: Account,
    secrets: Callable[[], SecretStore],
) -> int:
    """CAPA, TLS, login and STAT, printed; nothing fetched, nothing deleted (QUIT without DELE)."""
    from tui.core.sync.check import IncomingServer, check_incoming

    server = IncomingServer.of(account)
    console.print(clean(connecting_line(server)))
    password = _password(secrets, account)
    report = check_incoming(server, password or None, timeout=args.timeout, ca_file=args.ca_file)
    for line in report.lines:
        console.print(line)
    if report.error is None:
        return EXIT_OK
    console.warn(f"poptui: {clean(error_text(report.error))}")
    certificate = report.untrusted_certificate
    if certificate is not None:
        for line in certificate_lines(certificate):
            console.warn(f"  {line}")
        console.warn(f"  {pin_advice(account.name, certificate)}")
    return EXIT_FAILURE
