"""`poptui doctor`: the database, its file permissions, the secret store and each account, checked.

Findings quote paths, backend names and servers' last errors, so they are cleaned before printing.
"""

from __future__ import annotations

from tui.cli.console import EXIT_FAILURE, EXIT_OK
from tui.cli.context import CommandContext
from tui.core.text import clean


def run(context: CommandContext) -> int:
    """Run `poptui doctor`; exit 1 when any check failed."""
    from tui.core.setup.doctor import run_checks

    console = context.console
    report = run_checks(context.url, fix_permissions=context.args.fix_permissions)
    if context.args.json:
        console.json([check.as_dict() for check in report])
    else:
        for check in report:
            console.print(f"[{check.status:^5}] {clean(check.title)}: {clean(check.detail)}")
            for line in clean(check.advice, multiline=True).splitlines():
                console.print(f"        {line}")
    return EXIT_FAILURE if any(check.status == "fail" for check in report) else EXIT_OK
