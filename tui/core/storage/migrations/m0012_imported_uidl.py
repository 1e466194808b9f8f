"""UIDLs another program (fetchmail, getmail, mpop, Thunderbird) already fetched: `poptui import`
files them here so those messages are never fetched again, though poptui holds no copy."""

STATEMENTS = [
    """
    CREATE TABLE imported_uidl (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        uidl VARCHAR(128) NOT NULL,
        source VARCHAR(32) NOT NULL,
        imported_at {timestamp} NOT NULL
    )
    """,
    "CREATE UNIQUE INDEX imported_uidl_account_uidl ON imported_uidl (account_id, uidl)",
]
