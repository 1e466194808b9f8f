"""Delivery targets: where each mailbox's new mail is also handed on (Maildir, mbox, an MDA
command, LMTP), and per (message, target) whether it got there. A message is deleted on the
server only when every target of its mailbox has it (`tui.core.delivery`)."""

STATEMENTS = [
    """
    CREATE TABLE delivery_target (
        id {serial_pk},
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        kind VARCHAR(8) NOT NULL,
        address TEXT NOT NULL,
        recipient VARCHAR(320) NOT NULL DEFAULT '',
        start_after BIGINT NOT NULL DEFAULT 0,
        created_at {timestamp} NOT NULL,
        last_delivered_at {timestamp},
        last_error TEXT NOT NULL DEFAULT '',
        last_error_at {timestamp},
        CHECK (kind IN ('maildir', 'mbox', 'mda', 'lmtp'))
    )
    """,
    "CREATE UNIQUE INDEX delivery_target_unique ON delivery_target "
    "(account_id, kind, address, recipient)",
    """
    CREATE TABLE delivery (
        message_id BIGINT NOT NULL REFERENCES message (id) ON DELETE CASCADE,
        target_id BIGINT NOT NULL REFERENCES delivery_target (id) ON DELETE CASCADE,
        account_id BIGINT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
        state VARCHAR(12) NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        updated_at {timestamp} NOT NULL,
        PRIMARY KEY (message_id, target_id),
        CHECK (state IN ('trying', 'delivered', 'failed'))
    )
    """,
    "CREATE INDEX delivery_target_state ON delivery (target_id, state)",
]
