"""What an imported OAuth2 mailbox (mpop's `auth xoauth2` + `passwordeval`, getmail6's
`use_xoauth2` + `password_command`, e.g. getmail-gmail-xoauth-tokens) could become in poptui,
reported as a suggestion only: the command comes from a file a stranger may have written, so
it is never run, never saved as the mailbox's token command, only shown (cleaned, quoted)."""

from __future__ import annotations

import shlex

from tui.core.text import one_line

COMMAND_LIMIT = 200


def token_command_suggestion(what: str, name: str, command: str) -> str:
    """One line for the import report: what the peer did, and the two ways poptui can."""
    mailbox = shlex.quote(one_line(name, 80))
    shown = one_line(command, COMMAND_LIMIT + 1)
    if command and len(shown) <= COMMAND_LIMIT and shown == command.strip():
        keep = (
            f"to keep that helper: poptui account edit {mailbox} --oauth2 --token-command "
            f"{shlex.quote(shown)}; "
        )
    elif command:
        keep = "its token command is too long or unusual to show; "
    else:
        keep = ""
    return (
        f"{what}: an OAuth2 mailbox; its token command was not run. Suggested: {keep}or let "
        f"poptui sign in: poptui account edit {mailbox} --oauth2, then poptui account signin "
        f"{mailbox}"
    )
