"""A peer's delivery (fetchmail's `mda`, getmail's `[destination]`, mpop's `delivery`) as a
poptui delivery target (`tui.core.delivery`), or said to be unmappable with the reason.

fetchmail and mpop run their MDA through `/bin/sh -c`; poptui runs an MDA without a shell, so
a command using the shell (pipes, redirections, variables) becomes `sh -c '…'`. Placeholders
poptui does not fill in (the envelope sender) leave the delivery unmapped rather than wrong.
"""

from __future__ import annotations

import re
import shlex

from tui.core.delivery.errors import TargetInvalid
from tui.core.delivery.targets import parse_target
from tui.core.imports.found import FoundAccount
from tui.core.text import one_line

_SHELL = re.compile(r"[|&;<>()$`*?\[\]{}~'\"\\!#]")


def mda_spec(command: str) -> str:
    """`mda:COMMAND`, wrapped in `sh -c` when the command needs a shell."""
    if _SHELL.search(command):
        return "mda:" + shlex.join(["sh", "-c", command])
    return "mda:" + command


def add(account: FoundAccount, spec: str, peer_words: str) -> None:
    """File `spec` as a delivery target of `account`, or say why it cannot be one."""
    try:
        target = parse_target(spec)
    except TargetInvalid as error:
        account.unmapped.append(f"{peer_words}: {error.message}")
        return
    account.deliveries.append(target.spec)
    account.mapped.append(f"{peer_words}: delivery target {target.describe()}")


def unmapped(account: FoundAccount, peer_words: str, why: str) -> None:
    account.unmapped.append(f"{one_line(peer_words, 120)}: {why}")
