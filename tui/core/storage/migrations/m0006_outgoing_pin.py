"""A pinned certificate for the outgoing (SMTP) server too: it is often another machine, with
its own self-signed certificate, than the incoming one."""

STATEMENTS = [
    "ALTER TABLE account ADD COLUMN outgoing_pinned_fingerprint VARCHAR(128) NOT NULL DEFAULT ''",
]
