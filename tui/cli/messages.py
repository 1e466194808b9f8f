"""`poptui messages list`: a mailbox's fetched mail, newest first, as the person asking may see it.

Read-only, and the same core as the app's message browser: `SharingService.view_of` decides what
this user sees (their own mailbox whole; someone else's that is shared with them without mail to
or from its excluded domains) and `tui.core.storage.queries` pages through it.
"""

from __future__ import annotations

from tui.cli.console import EXIT_OK
from tui.cli.context import CommandContext

_PAGE = 500


def run(context: CommandContext) -> int:
    """Run `poptui messages list` (its only verb)."""
    return list_messages(context)


def list_messages(context: CommandContext) -> int:
    """Print the messages of `args.name` (of `args.owner`, when given) the user may see."""
    from tui.core.sharing.rules import NotAllowed, SharingService
    from tui.core.storage import queries
    from tui.core.storage.accounts import AccountNotFound, AccountStore
    from tui.core.text import one_line

    args, console = context.args, context.console
    sharing = SharingService()
    owner = args.owner or sharing.actor
    try:
        account = AccountStore(owner).get(args.name)
        view = sharing.view_of(account)
    except (AccountNotFound, NotAllowed):
        if owner == sharing.actor:
            raise
        # The same words whether it does not exist or is not shared: no probing for names.
        raise AccountNotFound(f"{owner} shares no mailbox named {args.name!r} with you") from None
    rows: list[queries.MessageRow] = []
    cursor = None
    while args.limit <= 0 or len(rows) < args.limit:
        want = _PAGE if args.limit <= 0 else min(_PAGE, args.limit - len(rows))
        page = queries.page_after(view, cursor, want)
        rows += page
        if len(page) < want:
            break
        cursor = page[-1].cursor
    if args.json:
        console.json(
            [
                {
                    "id": row.id,
                    "date": row.when.isoformat() if row.when else None,
                    "from": row.from_addr,
                    "subject": row.subject,
                    "size": row.size,
                    "attachments": row.has_attachments,
                }
                for row in rows
            ]
        )
        return EXIT_OK
    for row in rows:
        when = f"{row.when:%Y-%m-%d %H:%M}" if row.when else " " * 16
        sender = one_line(row.from_addr, 30)
        console.print(f"{when}  {sender:<30}  {one_line(row.subject, 200)}")
    total = queries.count(view)
    shown = f"{len(rows):,} of {total:,}" if len(rows) < total else f"{total:,}"
    note = ", shared with you read-only" if view.read_only else ""
    console.print(f"({shown} message{'s' if total != 1 else ''}{note})")
    return EXIT_OK
