"""UIDLs that name a message already stored under another UIDL (Gmail `recent:` mode serves the
same mail again under new UIDLs; remembering them means it is neither fetched nor stored twice)."""

STATEMENTS = [
    """
    CREATE TABLE uidl_alias (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        uidl VARCHAR(128) NOT NULL,
        message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
        seen_at {timestamp} NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX uidl_alias_account_uidl ON uidl_alias (account_id, uidl)",
]
