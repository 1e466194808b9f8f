"""Where poptui keeps accounts and fetched mail: SQLite by default, PostgreSQL for a team.

The names below load on first use: code that never opens a database must not pay for
peewee, which also imports psycopg2. The account vocabulary is `tui.core.settings`; the
message queries are `tui.core.storage.queries` (they load the email package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import homes_of, lazy_exports

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

__all__ = [
    "Account",
    "AccountError",
    "AccountNotFound",
    "AccountStore",
    "DatabaseError",
    "MailboxView",
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
}

__getattr__ = lazy_exports(__name__, homes_of(_HOMES))
