"""Where poptui keeps accounts and fetched mail: SQLite by default, PostgreSQL for a team.

The names below load on first use: `tui.core.storage.settings` is imported by code that never
opens a database (validation, the POP3 client) and must not pay for peewee, which also imports
psycopg2. The message queries are `tui.core.storage.queries` (they load the email package).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.storage.accounts import (
        AccountError,
        AccountNotFound,
        AccountStore,
        current_user,
        settings_of,
    )
    from tui.core.storage.db import DatabaseError, open_database
    from tui.core.storage.mailbox_view import MailboxView
    from tui.core.storage.models import Account, database_proxy
    from tui.core.storage.settings import (
        AccountSettings,
        DeletePolicy,
        Security,
        SharingPermission,
    )

__all__ = [
    "Account",
    "AccountError",
    "AccountNotFound",
    "AccountSettings",
    "AccountStore",
    "DatabaseError",
    "DeletePolicy",
    "MailboxView",
    "Security",
    "SharingPermission",
    "current_user",
    "database_proxy",
    "open_database",
    "settings_of",
]

_HOMES = {
    "accounts": ("AccountError", "AccountNotFound", "AccountStore", "current_user", "settings_of"),
    "db": ("DatabaseError", "open_database"),
    "mailbox_view": ("MailboxView",),
    "models": ("Account", "database_proxy"),
    "settings": ("AccountSettings", "DeletePolicy", "Security", "SharingPermission"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
