"""Who besides its owner may see a mailbox's mail: the rules, and their PostgreSQL enforcement.

Imported eagerly: both modules need only storage (peewee), which every user of sharing has
loaded already.
"""

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
