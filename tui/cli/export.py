"""`poptui export NAME (--maildir DIR | --mbox FILE) [--since DATE] [--search QUERY]`.

Streams a mailbox's stored mail out (`tui.core.delivery.export_mail`); on a terminal a progress
bar is drawn on stderr, never into a redirected output.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TextIO

from tui.cli.console import EXIT_OK, CommandFailed
from tui.cli.context import CommandContext
from tui.core.text import one_line

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


def parse_since(text: str) -> datetime:
    """`--since`: YYYY-MM-DD or an ISO date and time (UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandFailed(
            f"--since {one_line(text, 40)!r} is not a date", hint="Write it as YYYY-MM-DD"
        ) from None
    return value.replace(tzinfo=None)


class ProgressBar:
    """`Exporting [#####.....] 512/1,000` redrawn in place at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._drawn = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._drawn < REDRAW_SECONDS and done != total:
            return
        self._drawn = now
        if total:
            filled = BAR_WIDTH * min(done, total) // total
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\rExporting [{bar}] {done:,}/{total:,}")
        else:
            self.stream.write(f"\rExporting {done:,} messages")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run(context: CommandContext) -> int:
    from tui.core.delivery import ExportFormat, export_mail
    from tui.core.sharing.rules import SharingService
    from tui.core.storage import queries

    args, console = context.args, context.console
    account = context.accounts.get(args.name)
    view = SharingService().view_of(account)
    since = parse_since(args.since) if args.since else None
    fmt, path = (
        (ExportFormat.MAILDIR, args.maildir) if args.maildir else (ExportFormat.MBOX, args.mbox)
    )
    total = queries.count(view) if since is None and not args.search else None
    err = getattr(console, "err", sys.stderr)
    bar = ProgressBar(err) if err.isatty() else None
    try:
        result = export_mail(
            view, fmt, path, since=since, search=args.search, progress=bar, total=total
        )
    finally:
        if bar is not None:
            bar.close()
    again = f" ({result.already_there:,} were there already)" if result.already_there else ""
    console.print(
        f"Exported {result.written:,} message{'s' if result.written != 1 else ''} of "
        f"{one_line(account.name)} to {fmt.value} {one_line(path)}{again}"
    )
    return EXIT_OK
