"""peewee models of migration 9: a mailbox's delivery targets and per-message delivery state.

They live in the delivery room, beside the code that uses them; the schema itself is made only
by `tui.core.storage.migrations.m0009_delivery`.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from tui.core.storage.models import Account, BaseModel, Message, utcnow


class TargetRow(BaseModel):
    """One place a mailbox's new mail is also delivered to."""

    id = AutoField()
    account = ForeignKeyField(Account, backref="delivery_targets", on_delete="CASCADE")
    kind = CharField(max_length=8)
    """maildir | mbox | mda | lmtp"""
    address = TextField()
    """The path (maildir, mbox), the command line (mda), or socket path / host:port (lmtp)."""
    recipient = CharField(max_length=320, default="")
    """LMTP only: the RCPT TO address ("" = the mailbox's email address)."""
    start_after = BigIntegerField(default=0)
    """Only messages stored after the target was added (id above this) are delivered to it."""
    created_at = DateTimeField(default=utcnow)
    last_delivered_at = DateTimeField(null=True)
    last_error = TextField(default="")
    """The last failure in words ("" once a delivery succeeds again)."""
    last_error_at = DateTimeField(null=True)

    class Meta:
        table_name = "delivery_target"


class DeliveryRow(BaseModel):
    """Whether one stored message reached one target: trying | delivered | failed.

    `trying` is written (committed) before the attempt: a row left in that state means the
    process died mid-delivery, and the Maildir writer then looks for its own file first.
    """

    message = ForeignKeyField(Message, on_delete="CASCADE")
    target = ForeignKeyField(TargetRow, on_delete="CASCADE")
    account = ForeignKeyField(Account, on_delete="CASCADE")
    state = CharField(max_length=12)
    attempts = IntegerField(default=0)
    error = TextField(default="")
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "delivery"
        primary_key = CompositeKey("message", "target")
