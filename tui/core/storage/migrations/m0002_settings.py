"""Per-user settings (which secret store is in use, and similar choices; never secrets)."""

STATEMENTS = [
    """
    CREATE TABLE setting (
        id {serial_pk},
        owner VARCHAR(128) NOT NULL,
        key VARCHAR(128) NOT NULL,
        value TEXT NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX setting_owner_key ON setting (owner, key)",
]
