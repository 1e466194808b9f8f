"""A hostile co-user of a team PostgreSQL database: the objects he can plant to make poptui's
privileged code (SECURITY DEFINER functions, guard triggers, row-level policies) act on them.

Used by tests/integration/test_postgres_attacks.py: temporary tables named like every poptui table,
functions and operators that answer "yes" in a schema of his own and as overloads in `public`,
and the grants a careless DBA might give him so that he can plant them at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from tests.servers.postgres import PostgresServer, quote_ident
from tui.core.sharing.postgres_rls import TABLES

SNAPSHOT_QUERIES = {
    "admins": "SELECT name, is_admin FROM public.app_user ORDER BY name",
    "policies": "SELECT scope_kind, scope, mode, permission, locked, excluded_domains"
    " FROM public.sharing_policy ORDER BY scope_kind, scope",
    "audit": "SELECT id, actor, action, target, detail FROM public.audit_log ORDER BY id",
    "accounts": "SELECT id, owner, name, sharing, excluded_domains FROM public.account ORDER BY id",
    "shares": "SELECT account_id, grantee FROM public.account_share ORDER BY account_id, grantee",
    "messages": "SELECT account_id, uidl, subject FROM public.message ORDER BY id",
    "sources": "SELECT message_id, length(raw) FROM public.message_source ORDER BY message_id",
    "rls_policies": "SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies"
    " WHERE schemaname = 'public' ORDER BY tablename, policyname",
    "functions": "SELECT p.proname, p.prosecdef, p.proconfig, p.prosrc FROM pg_proc p"
    " JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = 'poptui_owner' ORDER BY 1",
    "triggers": "SELECT tgname, tgrelid::regclass::text, tgfoid::regproc::text FROM pg_trigger"
    " WHERE NOT tgisinternal ORDER BY 1",
}


@dataclass
class Team:
    """One attacked database: its superuser, the three roles, and the mailboxes by name."""

    server: PostgresServer
    database: str
    roles: dict[str, str]
    passwords: dict[str, str]
    accounts: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    """By mailbox name: one of its messages that has no stored source yet."""

    def connect(self, user: str) -> Any:
        """A fresh session as `user` over TCP (the password is checked), in autocommit."""
        connection = psycopg2.connect(
            self.server.dsn(self.database, self.roles[user], self.passwords[user])
        )
        connection.autocommit = True
        return connection

    def superuser(self) -> Any:
        connection = psycopg2.connect(self.server.dsn(self.database))
        connection.autocommit = True
        return connection

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Everything an attack could move, read by the superuser (not subject to any policy)."""
        with self.superuser() as connection, connection.cursor() as cursor:
            found = {}
            for what, sql in SNAPSHOT_QUERIES.items():
                cursor.execute(sql)
                found[what] = cursor.fetchall()
        connection.close()
        return found


def rows(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def value(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return rows(connection, sql, params)[0][0]


def create_account(connection: Any, name: str, sharing: str, excluded: str = "") -> int:
    return int(
        value(
            connection,
            "INSERT INTO public.account (owner, name, email, incoming_host, incoming_port,"
            " incoming_security, username, delete_policy, sharing, excluded_domains,"
            " secret_key, created_at, updated_at)"
            " VALUES (current_user, %s, 'x@corp.example', 'pop.corp.example', 995, 'ssl', 'x',"
            " 'never', %s, %s, %s, now(), now()) RETURNING id",
            (name, sharing, excluded, uuid.uuid4().hex),
        )
    )


def add_message(
    connection: Any, account: int, uidl: str, subject: str, domains: str, *, source: bool = True
) -> int:
    message = value(
        connection,
        "INSERT INTO public.message (account_id, uidl, size, subject, party_domains,"
        " first_seen_at, fetched_at) VALUES (%s, %s, 10, %s, %s, now(), now()) RETURNING id",
        (account, uidl, subject, domains),
    )
    if source:
        rows(
            connection,
            "INSERT INTO public.message_source (message_id, raw) VALUES (%s, %s)",
            (message, psycopg2.Binary(subject.encode())),
        )
    return int(message)


def loosen(team: Team) -> str:
    """What a careless DBA might grant: TEMP, CREATE on public, a schema of Mallory's own."""
    mallory = quote_ident(team.roles["mallory"])
    schema = "mal_" + uuid.uuid4().hex[:6]
    with team.superuser() as connection:
        rows(connection, f"GRANT TEMP ON DATABASE {quote_ident(team.database)} TO {mallory}")
        rows(connection, f"GRANT CREATE ON SCHEMA public TO {mallory}")
        rows(connection, f"CREATE SCHEMA {schema} AUTHORIZATION {mallory}")
    connection.close()
    return schema


def shadow_relations(team: Team, connection: Any) -> None:
    """A temporary table named like every poptui table, filled with what Mallory wishes were
    true: he is an administrator, owns Bob's mailboxes, has no policy, and has shares."""
    me = team.roles["mallory"]
    for table in TABLES:
        rows(connection, f"CREATE TEMP TABLE {table} (LIKE public.{table})")
        rows(connection, f"GRANT ALL ON pg_temp.{table} TO PUBLIC")  # the definer reads it
    rows(connection, "INSERT INTO pg_temp.app_user VALUES (%s, true, now())", (me,))
    for key in ("bob_private", "bob_public", "mallory"):
        rows(
            connection,
            "INSERT INTO pg_temp.account SELECT * FROM public.account WHERE id = %s",
            (team.accounts["mallory"],),
        )
        rows(
            connection,
            "UPDATE pg_temp.account SET id = %s, sharing = 'public', excluded_domains = ''"
            " WHERE id = %s",
            (team.accounts[key], team.accounts["mallory"]),
        )
        rows(
            connection,
            "INSERT INTO pg_temp.account_share (id, account_id, grantee) VALUES (%s, %s, %s)",
            (team.accounts[key], team.accounts[key], me),
        )


ALWAYS_TRUE = {
    "poptui_is_admin": ["text", "character varying", "name"],
    "poptui_owns_account": ["bigint", "integer"],
    "poptui_may_choose": ["text", "character varying", "name"],
    "poptui_can_view_account": ["bigint"],
    "poptui_user_count": [],
}
ALWAYS_TRUE_2 = {"poptui_can_view_message": [("bigint", "text")]}


def create_or_exists(connection: Any, sql: str) -> None:
    """Create one shadowing object; in `public` poptui's own signature already exists (Mallory
    cannot replace it: not the owner) and only the overloads are new."""
    assert attempt(connection, sql) in ("ok", DUPLICATE_FUNCTION), sql


DUPLICATE_FUNCTION = "42723"


def shadow_functions(team: Team, connection: Any, schema: str) -> None:
    """Functions and operators that answer "yes" to everything, named like what the privileged
    code calls, in Mallory's schema and as overloads in `public`; then a search_path to them."""
    for where in (schema, "public"):
        for name, types in ALWAYS_TRUE.items():
            for arg in types or [""]:
                result = "bigint" if name == "poptui_user_count" else "boolean"
                value = "0" if name == "poptui_user_count" else "true"
                create_or_exists(
                    connection,
                    f"CREATE FUNCTION {where}.{name}({arg}) RETURNS {result}"
                    f" LANGUAGE sql AS $$ SELECT {value} $$",
                )
        for name, pairs in ALWAYS_TRUE_2.items():
            for left, right in pairs:
                create_or_exists(
                    connection,
                    f"CREATE FUNCTION {where}.{name}({left}, {right}) RETURNS boolean"
                    " LANGUAGE sql AS $$ SELECT true $$",
                )
        every_account = ", ".join(str(account) for account in team.accounts.values())
        create_or_exists(  # "all of them are mine"
            connection,
            f"CREATE FUNCTION {where}.poptui_my_accounts() RETURNS bigint[]"
            f" LANGUAGE sql AS $$ SELECT ARRAY[{every_account}]::bigint[] $$",
        )
        create_or_exists(
            connection,
            f"CREATE FUNCTION {where}.poptui_policy_of(character varying)"
            " RETURNS SETOF public.sharing_policy LANGUAGE sql"
            " AS $$ SELECT * FROM public.sharing_policy WHERE false $$",
        )
        create_or_exists(
            connection,
            f"CREATE FUNCTION {where}.poptui_permission(bigint, OUT permission text,"
            " OUT excluded text) LANGUAGE sql AS $$ SELECT 'public'::text, ''::text $$",
        )
        # Built-ins the functions use, shadowed by name (pg_catalog must stay first).
        for builtin, signature, body in (
            ("lower", "text", "SELECT $1"),
            ("btrim", "text", "SELECT ''::text"),
            ("regexp_split_to_array", "text, text", "SELECT ARRAY[]::text[]"),
            ("strpos", "text, text", "SELECT 0"),
            ("count", "", "SELECT 0::bigint"),
        ):
            result = {"strpos": "integer", "count": "bigint"}.get(
                builtin, "text[]" if builtin == "regexp_split_to_array" else "text"
            )
            create_or_exists(
                connection,
                f"CREATE FUNCTION {where}.{builtin}({signature}) RETURNS {result}"
                f" LANGUAGE sql AS $$ {body} $$",
            )
        # Operators on the column types (varchar, bigint, boolean) that make every test true,
        # and `<>` false: an exact-type match would beat pg_catalog's text/int8 operators.
        for left, right in (
            ("character varying", "text"),
            ("text", "character varying"),
            ("character varying", "character varying"),
            ("character varying", "name"),
            ("text", "text"),
            ("bigint", "bigint"),
        ):
            tag = f"{left}_{right}".replace(" ", "_")
            create_or_exists(
                connection,
                f"CREATE FUNCTION {where}.yes_{tag}({left}, {right}) RETURNS boolean"
                " LANGUAGE sql AS $$ SELECT true $$",
            )
            create_or_exists(
                connection,
                f"CREATE FUNCTION {where}.no_{tag}({left}, {right}) RETURNS boolean"
                " LANGUAGE sql AS $$ SELECT false $$",
            )
            create_or_exists(
                connection,
                f"CREATE OPERATOR {where}.= (LEFTARG = {left}, RIGHTARG = {right},"
                f" FUNCTION = {where}.yes_{tag})",
            )
            create_or_exists(
                connection,
                f"CREATE OPERATOR {where}.<> (LEFTARG = {left}, RIGHTARG = {right},"
                f" FUNCTION = {where}.no_{tag})",
            )
    rows(connection, f"SET search_path = {schema}, public, pg_catalog")


def shadow_types(connection: Any) -> None:
    """Temporary domains named like the built-in types the functions declare, which refuse every
    value: a function resolving `text`, `bigint` or `boolean` through pg_temp would fail (plain
    `SET search_path = public` leaves pg_temp searched before pg_catalog, for types too)."""
    for name, base in (("text", "text"), ("bigint", "int8"), ("boolean", "bool")):
        rows(
            connection,
            f"CREATE DOMAIN pg_temp.{name} AS pg_catalog.{base} CHECK (VALUE IS NULL)",
        )


def attempt(connection: Any, sql: str, params: tuple[Any, ...] = ()) -> str:
    """Run one attack statement; 'ok' or the SQLSTATE class of its error."""
    try:
        rows(connection, sql, params)
    except psycopg2.Error as error:
        return str(error.pgcode)
    return "ok"


INSUFFICIENT_PRIVILEGE = "42501"
