"""Party domains again, failing closed: every address header (Sender, Reply-To and Bcc too), each
domain with its parent domains (so excluding rival.example hides sub.rival.example), and a mark
for a message whose addresses cannot be read (hidden whenever any domain is excluded)."""

from __future__ import annotations

from typing import Any

from tui.core.storage.dialect import Dialect


def apply(db: Any, dialect: Dialect) -> None:
    # Like m0005's backfill: the parser is a pure function of the stored raw bytes. One source
    # in memory at a time (a message can be 25 MB).
    from tui.core.mail.parse import summarize

    ids = [int(row[0]) for row in db.execute_sql("SELECT message_id FROM message_source")]
    select = dialect.bind("SELECT raw FROM message_source WHERE message_id = ?")
    update = dialect.bind("UPDATE message SET party_domains = ? WHERE id = ?")
    for message_id in ids:
        row = db.execute_sql(select, (message_id,)).fetchone()
        if row is not None:
            db.execute_sql(update, (summarize(bytes(row[0])).party_domains, message_id))
