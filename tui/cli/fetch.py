"""`poptui fetch`: the fetch engine for cron and systemd timers, with a progress bar on a terminal.

No Textual on this path: it must start fast and run where there is no screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from tui.core.net import pop3
from tui.core.secrets import SecretKind
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account
from tui.core.sync import FetchOptions, FetchResult, SyncProgress, fetch_account
from tui.core.sync.outcome import (
    certificate_lines,
    connecting_line,
    error_text,
    pin_advice,
    summary_line,
)
from tui.core.text import human_bytes

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


class _Console(Protocol):
    out: TextIO
    err: TextIO

    def print(self, text: str = "") -> None: ...

    def warn(self, text: str) -> None: ...


class ProgressLine:
    """A self-overwriting line: name, bar, count, bytes, rate; redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.width = 0

    def __call__(self, progress: SyncProgress) -> None:
        now = time.monotonic()
        throttled = progress.phase == "fetching" and now - self.last < REDRAW_SECONDS
        if throttled and progress.done != progress.total:
            return
        self.last = now
        if progress.phase == "fetching" and progress.total:
            filled = int(BAR_WIDTH * progress.done / progress.total)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            text = (
                f"{progress.account} [{bar}] {progress.done}/{progress.total} "
                f"{human_bytes(progress.bytes_done)} {human_bytes(int(progress.rate))}/s"
            )
        else:
            text = f"{progress.account}: {progress.phase}…"
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        self.stream.flush()

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _targets(args: Any, store: AccountStore) -> list[Account]:
    if args.account:
        return [store.get(args.account)]
    if args.all:
        return [a for a in store.list() if not a.disabled]
    active = store.active()
    if active is None:
        from tui.cli import CommandFailed

        if store.list():
            raise CommandFailed("No active mailbox: choose one with `poptui account activate NAME`")
        raise CommandFailed("No accounts yet: add one with `poptui account add NAME --email ADDR`")
    return [active]


def _password(secrets: Callable[[], Any], account: Account) -> str | None:
    value = secrets().get(account.secret_key, SecretKind.INCOMING, mailbox=account.name)
    return value if isinstance(value, str) else None


def run_fetch_command(
    args: Any, console: _Console, store: AccountStore, secrets: Callable[[], Any]
) -> int:
    if args.test:
        return run_connection_test(args, console, store.get(args.test), secrets)
    options = FetchOptions(timeout=args.timeout, ca_file=args.ca_file, lock_wait=args.wait)
    failures = 0
    for account in _targets(args, store):
        show_bar = not args.quiet and console.out.isatty()
        line = ProgressLine(console.out) if show_bar else None
        result = fetch_account(account, _password(secrets, account), options=options, progress=line)
        if line is not None:
            line.clear()
        failures += _report(console, result, quiet=args.quiet)
    return 1 if failures else 0


def _report(console: _Console, result: FetchResult, *, quiet: bool) -> int:
    if result.ok:
        if not quiet:
            console.print(summary_line(result))
        return 0
    console.warn(f"poptui: {summary_line(result)}")
    error = result.error
    if isinstance(error, pop3.UntrustedCertificate) and error.certificate is not None:
        console.warn(f"  {pin_advice(result.account, error.certificate)}")
    return 1


def run_connection_test(
    args: Any, console: _Console, account: Account, secrets: Callable[[], Any]
) -> int:
    """CAPA, TLS, login and STAT, printed; nothing fetched, nothing deleted (QUIT without DELE)."""
    from tui.core.sync.check import IncomingServer, check_incoming

    server = IncomingServer.of(account)
    console.print(connecting_line(server))
    password = _password(secrets, account)
    report = check_incoming(server, password or None, timeout=args.timeout, ca_file=args.ca_file)
    for line in report.lines:
        console.print(line)
    if report.error is None:
        return 0
    console.warn(f"poptui: {error_text(report.error)}")
    certificate = report.untrusted_certificate
    if certificate is not None:
        for line in certificate_lines(certificate):
            console.warn(f"  {line}")
        console.warn(f"  {pin_advice(account.name, certificate)}")
    return 1
