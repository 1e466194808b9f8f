"""Sharing: users and roles, the administrator's policies, per-user shares, the audit log, and
the domains each message involves (so "Public" can keep mail to or from some domains private)."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect
from tui.core.storage.migrations import run_statements

STATEMENTS = [
    "ALTER TABLE message ADD COLUMN party_domains TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN excluded_domains TEXT NOT NULL DEFAULT ''",
    """
    CREATE TABLE app_user (
        name VARCHAR(128) PRIMARY KEY,
        is_admin {boolean} NOT NULL DEFAULT {false},
        created_at {timestamp} NOT NULL
    )
    """,
    """
    CREATE TABLE sharing_policy (
        id {serial_pk},
        scope_kind VARCHAR(8) NOT NULL,
        scope VARCHAR(128) NOT NULL,
        mode VARCHAR(16) NOT NULL,
        permission VARCHAR(16),
        locked {boolean} NOT NULL DEFAULT {false},
        excluded_domains TEXT NOT NULL DEFAULT '',
        updated_by VARCHAR(128) NOT NULL,
        updated_at {timestamp} NOT NULL,
        CHECK (scope_kind IN ('user', 'role')),
        CHECK (mode IN ('fixed', 'users_choice')),
        CHECK (mode = 'users_choice' OR permission IS NOT NULL)
    )
    """,
    "CREATE UNIQUE INDEX sharing_policy_scope ON sharing_policy (scope_kind, scope)",
    """
    CREATE TABLE account_share (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        grantee VARCHAR(128) NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX account_share_account_grantee ON account_share (account_id, grantee)",
    "CREATE INDEX account_share_grantee ON account_share (grantee)",
    """
    CREATE TABLE audit_log (
        id {serial_pk},
        at {timestamp} NOT NULL,
        actor VARCHAR(128) NOT NULL,
        action VARCHAR(64) NOT NULL,
        target VARCHAR(256) NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX audit_log_at ON audit_log (at)",
]


def _backfill_party_domains(db: Any, dialect: Dialect) -> None:
    # The only migration that parses mail: party domains cannot be computed in SQL. The parser
    # is a pure function of the stored raw bytes, so running it here is repeatable.
    from tui.core.mail.parse import summarize

    cursor = db.execute_sql(
        "SELECT m.id, s.raw FROM message m JOIN message_source s ON s.message_id = m.id"
    )
    updates = []
    for message_id, raw in cursor.fetchall():
        domains = summarize(bytes(raw)).party_domains
        if domains:
            updates.append((domains, message_id))
    update = dialect.bind("UPDATE message SET party_domains = ? WHERE id = ?")
    for domains, message_id in updates:
        db.execute_sql(update, (domains, message_id))


def apply(db: Any, dialect: Dialect) -> None:
    run_statements(db, dialect, STATEMENTS)
    _backfill_party_domains(db, dialect)
