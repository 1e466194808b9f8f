"""`poptui fetch`: the fetch engine for cron and systemd timers, with a progress bar on a terminal.

No Textual on this path: it must start fast and run where there is no screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from tui.core.net import pop3
from tui.core.secrets import SecretKind, SecretStoreError
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account
from tui.core.storage.settings import Security
from tui.core.sync.engine import (
    FetchOptions,
    FetchProgress,
    FetchResult,
    _human_bytes,
    fetch_account,
)

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

    def __call__(self, progress: FetchProgress) -> None:
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
                f"{_human_bytes(progress.bytes_done)} {_human_bytes(int(progress.rate))}/s"
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
    try:
        value = secrets().get(account.secret_key, SecretKind.INCOMING, mailbox=account.name)
    except SecretStoreError:
        raise
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
            console.print(result.summary())
        return 0
    console.warn(f"poptui: {result.summary()}")
    error = result.error
    if isinstance(error, pop3.UntrustedCertificate) and error.certificate is not None:
        console.warn(
            "  If you trust this certificate, pin it: poptui account edit "
            f"{result.account!r} --pin-fingerprint {error.certificate.sha256}"
        )
    return 1


def run_connection_test(
    args: Any, console: _Console, account: Account, secrets: Callable[[], Any]
) -> int:
    """CAPA, TLS, login and STAT, printed; nothing fetched, nothing deleted (QUIT without DELE)."""
    security = Security(account.incoming_security)
    console.print(
        f"Connecting to {account.incoming_host}:{account.incoming_port} ({security.label})…"
    )
    try:
        client = pop3.Pop3Client.connect(
            account.incoming_host,
            account.incoming_port,
            security,
            timeout=args.timeout,
            pinned_fingerprint=account.pinned_fingerprint,
            ca_file=args.ca_file,
        )
    except pop3.UntrustedCertificate as error:
        console.warn(f"poptui: {error.message}")
        cert = error.certificate
        if cert is not None:
            console.warn(f"  subject:     {cert.subject}")
            console.warn(f"  issuer:      {cert.issuer}")
            console.warn(f"  valid:       {cert.not_before} to {cert.not_after}")
            console.warn(f"  fingerprint: SHA-256 {cert.sha256}")
            console.warn(
                f"  To trust it: poptui account edit {account.name!r} "
                f"--pin-fingerprint {cert.sha256}"
            )
        return 1
    except pop3.Pop3Error as error:
        console.warn(f"poptui: {error.message}")
        return 1
    try:
        if client.certificate is not None:
            console.print(f"TLS certificate: SHA-256 {client.certificate.sha256}")
            console.print(f"  subject: {client.certificate.subject}")
        capabilities = " ".join(
            " ".join([name, *values]) for name, values in sorted(client.capabilities.items())
        )
        console.print(f"Capabilities: {capabilities or '(server does not support CAPA)'}")
        password = _password(secrets, account)
        if not password:
            console.warn(
                f"poptui: no incoming password stored for {account.name}: "
                f"poptui password set {account.name!r} --incoming"
            )
            client.abort()
            return 1
        client.login(account.username, password)
        count, size = client.stat()
        console.print(f"Login OK. Mailbox: {count} messages, {_human_bytes(size)}")
        client.quit()
        return 0
    except pop3.Pop3Error as error:
        client.abort()
        hint = getattr(error, "hint", None)
        console.warn(f"poptui: {error.message}" + (f" — {hint}" if hint else ""))
        return 1
