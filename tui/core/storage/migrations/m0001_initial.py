"""Accounts, fetched messages with their raw sources, and the fetch log."""

STATEMENTS = [
    """
    CREATE TABLE account (
        id {serial_pk},
        owner VARCHAR(128) NOT NULL,
        name VARCHAR(200) NOT NULL,
        email VARCHAR(320) NOT NULL,
        incoming_host VARCHAR(253) NOT NULL,
        incoming_port INTEGER NOT NULL,
        incoming_security VARCHAR(16) NOT NULL,
        username VARCHAR(320) NOT NULL,
        delete_policy VARCHAR(32) NOT NULL,
        delete_after_days INTEGER NOT NULL DEFAULT 7,
        same_credentials_for_outgoing {boolean} NOT NULL DEFAULT {true},
        outgoing_host VARCHAR(253) NOT NULL DEFAULT '',
        outgoing_port INTEGER NOT NULL DEFAULT 465,
        outgoing_security VARCHAR(16) NOT NULL DEFAULT 'ssl',
        outgoing_username VARCHAR(320) NOT NULL DEFAULT '',
        poll_minutes INTEGER NOT NULL DEFAULT 5,
        max_messages_per_fetch INTEGER NOT NULL DEFAULT 0,
        max_message_bytes BIGINT NOT NULL DEFAULT 0,
        sharing VARCHAR(16) NOT NULL DEFAULT 'private',
        pinned_fingerprint VARCHAR(128) NOT NULL DEFAULT '',
        secret_key VARCHAR(64) NOT NULL UNIQUE,
        is_active {boolean} NOT NULL DEFAULT {false},
        last_fetch_at {timestamp},
        last_fetch_status VARCHAR(16) NOT NULL DEFAULT 'never',
        last_fetch_error TEXT NOT NULL DEFAULT '',
        last_fetch_new INTEGER NOT NULL DEFAULT 0,
        consecutive_auth_failures INTEGER NOT NULL DEFAULT 0,
        consecutive_connect_failures INTEGER NOT NULL DEFAULT 0,
        disabled {boolean} NOT NULL DEFAULT {false},
        disabled_reason TEXT NOT NULL DEFAULT '',
        archived_at {timestamp},
        created_at {timestamp} NOT NULL,
        updated_at {timestamp} NOT NULL,
        CHECK (incoming_port BETWEEN 1 AND 65535),
        CHECK (outgoing_port BETWEEN 1 AND 65535),
        CHECK (delete_after_days >= 1)
    )
    """,
    "CREATE INDEX account_owner ON account (owner)",
    "CREATE UNIQUE INDEX account_owner_name ON account (owner, name)",
    # The one-active rule lives in the database: at most one active mailbox per owner, whoever
    # writes (the TUI, a script, a second poptui over SSH).
    "CREATE UNIQUE INDEX account_one_active_per_owner ON account (owner) WHERE is_active",
    """
    CREATE TABLE message (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        uidl VARCHAR(128) NOT NULL,
        size BIGINT NOT NULL,
        from_addr TEXT NOT NULL DEFAULT '',
        to_addrs TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        date {timestamp},
        message_id VARCHAR(998) NOT NULL DEFAULT '',
        has_attachments {boolean} NOT NULL DEFAULT {false},
        body_text TEXT NOT NULL DEFAULT '',
        first_seen_at {timestamp} NOT NULL,
        fetched_at {timestamp} NOT NULL,
        deleted_here {boolean} NOT NULL DEFAULT {false},
        deleted_here_at {timestamp},
        deleted_on_server {boolean} NOT NULL DEFAULT {false},
        deleted_on_server_at {timestamp}
    )
    """,
    "CREATE UNIQUE INDEX message_account_uidl ON message (account_id, uidl)",
    "CREATE INDEX message_account_date ON message (account_id, date, id)",
    "CREATE INDEX message_message_id ON message (message_id)",
    """
    CREATE TABLE message_source (
        message_id BIGINT PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
        raw {blob} NOT NULL
    )
    """,
    """
    CREATE TABLE fetch_log (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        started_at {timestamp} NOT NULL,
        finished_at {timestamp},
        status VARCHAR(16) NOT NULL DEFAULT 'running',
        error_kind VARCHAR(64) NOT NULL DEFAULT '',
        error_message TEXT NOT NULL DEFAULT '',
        new_messages INTEGER NOT NULL DEFAULT 0,
        bytes_fetched BIGINT NOT NULL DEFAULT 0,
        deleted_on_server INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX fetch_log_account_started ON fetch_log (account_id, started_at)",
]
