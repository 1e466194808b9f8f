"""The few column types that differ between SQLite and PostgreSQL, for frozen migration SQL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    serial_pk: str
    blob: str
    timestamp: str
    boolean: str
    true: str
    false: str

    def sql(self, template: str) -> str:
        """Fill `{serial_pk}`, `{blob}`, `{timestamp}`, `{boolean}`, `{true}`, `{false}`."""
        return template.format(
            serial_pk=self.serial_pk,
            blob=self.blob,
            timestamp=self.timestamp,
            boolean=self.boolean,
            true=self.true,
            false=self.false,
        )


SQLITE = Dialect(
    name="sqlite",
    serial_pk="INTEGER PRIMARY KEY AUTOINCREMENT",
    blob="BLOB",
    timestamp="DATETIME",
    boolean="INTEGER",
    true="1",
    false="0",
)
POSTGRES = Dialect(
    name="postgres",
    serial_pk="BIGSERIAL PRIMARY KEY",
    blob="BYTEA",
    timestamp="TIMESTAMP",
    boolean="BOOLEAN",
    true="TRUE",
    false="FALSE",
)
