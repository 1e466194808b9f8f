"""`poptui import (fetchmail|getmail|mpop|thunderbird) [PATH] [--dry-run]`: take over another
program's setup and what it already fetched. The core (`tui.core.imports`) reads, creates and
words it; this only passes the arguments and prints the lines."""

from __future__ import annotations

from pathlib import Path

from tui.cli.console import EXIT_OK
from tui.cli.context import CommandContext


def run(context: CommandContext) -> int:
    from tui.core.imports import Peer, apply_plan, outcome_lines, plan_import

    args = context.args
    path = Path(args.path).expanduser() if args.path else None
    plan = plan_import(Peer(args.peer), path)
    outcome = apply_plan(plan, context.accounts, context.secrets, dry_run=args.dry_run)
    for line in outcome_lines(outcome):
        context.console.print(line)
    return EXIT_OK
