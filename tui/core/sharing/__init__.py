"""Who besides its owner may see a mailbox's mail: the rules, and their PostgreSQL enforcement.

The names below load on first use: every command registers its user through
`SharingService`, but only `poptui admin setup-postgres` needs the row-level security set-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

if TYPE_CHECKING:
    from tui.core.sharing.postgres_rls import TeamSetupError, setup_team_database
    from tui.core.sharing.rules import (
        NotAllowed,
        Policy,
        PolicyMode,
        Role,
        SharingError,
        SharingService,
    )

__all__ = [
    "NotAllowed",
    "Policy",
    "PolicyMode",
    "Role",
    "SharingError",
    "SharingService",
    "TeamSetupError",
    "setup_team_database",
]

_HOMES = {
    "postgres_rls": ("TeamSetupError", "setup_team_database"),
    "rules": ("NotAllowed", "Policy", "PolicyMode", "Role", "SharingError", "SharingService"),
}

__getattr__ = lazy_exports(__name__, homes_of(_HOMES))
