"""What one person sees of one mailbox: the value every message-list query is scoped by.

`tui.core.sharing.rules.SharingService.view_of` decides it (the owner sees all; someone the
mailbox is shared with sees it read-only, without mail to or from its excluded domains) and
`tui.core.storage.queries` applies it. Storage may not ask sharing, a higher room, so the
decision travels down as this value: the app's browser and `poptui messages list` pass the same
one, and no query reads a setting left behind by another screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SAFE_DOMAIN = re.compile(r"^[a-z0-9.-]+$")


@dataclass(frozen=True)
class MailboxView:
    account_id: int
    hidden_domains: tuple[str, ...] = ()
    """Mail to or from these domains is left out ("Public, except these domains")."""
    read_only: bool = False
    """Someone else's mailbox: nothing may be deleted or changed through this view."""

    def __post_init__(self) -> None:
        # Sharing stores only normalised domains; anything else here is a bug, and a `%` or `_`
        # would be a LIKE wildcard in the filter.
        for domain in self.hidden_domains:
            if not _SAFE_DOMAIN.match(domain):
                raise ValueError(f"not a domain: {domain!r}")
