"""peewee models: accounts, fetched messages (metadata and raw source apart), fetch log, settings.

The models are bound to `database_proxy`; `tui.core.storage.db.open_database` initialises it.
The schema is created and changed only by the numbered migrations in
`tui.core.storage.migrations`, never by
`create_tables` on these classes, so old databases upgrade the same way new ones are built.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import (
    SQL,
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database_proxy = DatabaseProxy()


def utcnow() -> datetime:
    """Naive UTC timestamps: SQLite and PostgreSQL store and compare them the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Account(BaseModel):
    """One POP3 mailbox with every field of the add/edit form; passwords live in the keyring."""

    id = AutoField()

    owner = CharField(max_length=128, index=True)
    """The operating-system login that set the mailbox up."""
    name = CharField(max_length=200)
    email = CharField(max_length=320)
    incoming_host = CharField(max_length=253)
    incoming_port = IntegerField()
    incoming_security = CharField(max_length=16)
    username = CharField(max_length=320)
    delete_policy = CharField(max_length=32)
    delete_after_days = IntegerField(default=7)
    same_credentials_for_outgoing = BooleanField(default=True)
    outgoing_host = CharField(max_length=253, default="")
    outgoing_port = IntegerField(default=465)
    outgoing_security = CharField(max_length=16, default="ssl")
    outgoing_username = CharField(max_length=320, default="")
    poll_minutes = IntegerField(default=5)
    max_messages_per_fetch = IntegerField(default=0)
    max_message_bytes = BigIntegerField(default=0)
    sharing = CharField(max_length=16, default="private")
    pinned_fingerprint = CharField(max_length=128, default="")
    outgoing_pinned_fingerprint = CharField(max_length=128, default="")
    auth_method = CharField(max_length=16, default="password")
    oauth_provider = CharField(max_length=32, default="")
    oauth_client_id = CharField(max_length=256, default="")
    oauth_client_secret = CharField(max_length=256, default="")
    oauth_authorize_url = TextField(default="")
    oauth_token_url = TextField(default="")
    oauth_device_url = TextField(default="")
    oauth_scope = TextField(default="")
    oauth_token_command = TextField(default="")
    secret_key = CharField(max_length=64, unique=True)
    """Stable key for the account's passwords in the secret store; survives renames."""
    is_active = BooleanField(default=False)
    last_fetch_at = DateTimeField(null=True)
    last_fetch_status = CharField(max_length=16, default="never")
    """never | ok | error"""
    last_fetch_error = TextField(default="")
    last_fetch_new = IntegerField(default=0)
    consecutive_auth_failures = IntegerField(default=0)
    consecutive_connect_failures = IntegerField(default=0)
    disabled = BooleanField(default=False)
    disabled_reason = TextField(default="")
    archived_at = DateTimeField(null=True)
    """Set when the account was removed but its fetched mail kept."""
    excluded_domains = TextField(default="")
    """The owner's own "Public, except these domains" choice, as " a.com b.org "."""
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("owner", "name"), True),)


class Message(BaseModel):
    """A fetched message's metadata; its raw bytes are in `MessageSource`."""

    id = AutoField()

    account = ForeignKeyField(Account, backref="messages", on_delete="CASCADE")
    uidl = CharField(max_length=128)
    size = BigIntegerField()
    from_addr = TextField(default="")
    to_addrs = TextField(default="")
    subject = TextField(default="")
    date = DateTimeField(null=True)
    message_id = CharField(max_length=998, default="", index=True)
    has_attachments = BooleanField(default=False)
    party_domains = TextField(default="")
    """Domains of From/To/Cc as " a.com b.org ", for domain-excluding sharing rules."""
    body_text = TextField(default="")
    """Plain text extracted for search; the raw source stays the truth."""
    first_seen_at = DateTimeField(default=utcnow)
    fetched_at = DateTimeField(default=utcnow)
    deleted_here = BooleanField(default=False)
    deleted_here_at = DateTimeField(null=True)
    deleted_on_server = BooleanField(default=False)
    deleted_on_server_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("account", "uidl"), True),)


class MessageSource(BaseModel):
    """The raw RFC 5322 bytes, kept apart so paging through message lists never reads them."""

    message = ForeignKeyField(Message, primary_key=True, backref="source", on_delete="CASCADE")
    raw = BlobField()  # type: ignore[assignment]  # shadows Model.raw(), which poptui never calls
    """The bytes, unless they are in a segment file (`storage.source_files.read_source`)."""
    file_segment = BigIntegerField(null=True)
    file_offset = BigIntegerField(null=True)
    file_length = BigIntegerField(null=True)


class UidlAlias(BaseModel):
    """A UIDL whose message is already stored under another UIDL (Gmail `recent:` repeats)."""

    id = AutoField()

    account = ForeignKeyField(Account, backref="uidl_aliases", on_delete="CASCADE")
    uidl = CharField(max_length=128)
    message = ForeignKeyField(Message, backref="aliases", on_delete="CASCADE")
    seen_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "uidl"), True),)


class ImportedUidl(BaseModel):
    """A UIDL another program already fetched (`poptui import`): never fetched here, never
    deleted here either, since poptui holds no copy of that message."""

    id = AutoField()

    account = ForeignKeyField(Account, backref="imported_uidls", on_delete="CASCADE")
    uidl = CharField(max_length=128)
    source = CharField(max_length=32)
    """fetchmail | getmail | mpop | thunderbird"""
    imported_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "uidl"), True),)


class FetchLog(BaseModel):
    """One row per fetch attempt: what happened, for the mailbox list and `poptui doctor`."""

    id = AutoField()

    account = ForeignKeyField(Account, backref="fetch_log", on_delete="CASCADE")
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
    status = CharField(max_length=16, default="running")
    """running | ok | error"""
    error_kind = CharField(max_length=64, default="")
    error_message = TextField(default="")
    new_messages = IntegerField(default=0)
    bytes_fetched = BigIntegerField(default=0)
    deleted_on_server = IntegerField(default=0)


class Setting(BaseModel):
    """Per-user key/value settings, e.g. which secret store is in use (never a secret itself)."""

    id = AutoField()

    owner = CharField(max_length=128)
    key = CharField(max_length=128)
    value = TextField()

    class Meta:
        indexes = ((("owner", "key"), True),)


class AppUser(BaseModel):
    """A person using this database: their operating-system login (over SSH, themselves)."""

    name = CharField(max_length=128, primary_key=True)
    is_admin = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)


class SharingPolicy(BaseModel):
    """An administrator's rule for one user or one role (admin / user)."""

    id = AutoField()
    scope_kind = CharField(max_length=8)
    """user | role"""
    scope = CharField(max_length=128)
    mode = CharField(max_length=16)
    """fixed | users_choice"""
    permission = CharField(max_length=16, null=True)
    locked = BooleanField(default=False)
    excluded_domains = TextField(default="")
    updated_by = CharField(max_length=128)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("scope_kind", "scope"), True),)


class AccountShare(BaseModel):
    """With "Custom" sharing: one user who may see the mailbox's mail."""

    id = AutoField()
    account = ForeignKeyField(Account, backref="shares", on_delete="CASCADE")
    grantee = CharField(max_length=128)

    class Meta:
        indexes = ((("account", "grantee"), True),)


class AuditLog(BaseModel):
    """Who changed which sharing rule or role, when, and to what."""

    id = AutoField()
    at = DateTimeField(default=utcnow)
    actor = CharField(max_length=128)
    action = CharField(max_length=64)
    target = CharField(max_length=256)
    detail = TextField(default="")


class SchemaVersion(BaseModel):
    """The one row saying which numbered migration the database has reached."""

    version = IntegerField()

    class Meta:
        table_name = "schema_version"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Account,
    Message,
    MessageSource,
    UidlAlias,
    ImportedUidl,
    FetchLog,
    Setting,
    AppUser,
    SharingPolicy,
    AccountShare,
    AuditLog,
    SchemaVersion,
)

ONE_ACTIVE_INDEX = "account_one_active_per_owner"
ONE_ACTIVE_WHERE = SQL("is_active")
