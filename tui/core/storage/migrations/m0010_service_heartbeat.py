"""The fetch service: its heartbeat (who runs it, where, last seen) and, per mailbox, the last
fetch it made, so the app can say "fetched by the service 2 min ago" and leave polling to it."""

STATEMENTS = [
    """
    CREATE TABLE service_heartbeat (
        id {serial_pk},
        owner VARCHAR(128) NOT NULL,
        host VARCHAR(253) NOT NULL,
        pid INTEGER NOT NULL,
        started_at {timestamp} NOT NULL,
        last_seen {timestamp} NOT NULL,
        stopped_at {timestamp},
        mailboxes INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE UNIQUE INDEX service_heartbeat_owner_host ON service_heartbeat (owner, host)",
    """
    CREATE TABLE service_fetch (
        account_id BIGINT PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
        fetched_at {timestamp} NOT NULL,
        status VARCHAR(16) NOT NULL,
        new_messages INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        next_at {timestamp}
    )
    """,
]
