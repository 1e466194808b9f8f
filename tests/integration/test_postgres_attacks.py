"""A co-user of a team PostgreSQL database tries to make the privileged code act on his objects.

Row-level security rests on SECURITY DEFINER functions and triggers run as `poptui_owner`. Their
meaning must not depend on the caller: not on a temporary table named like a poptui table (the
session's temporary schema comes first in a search path that does not name it), not on functions
or operators the caller created in a schema of his own or in `public`, not on the search_path he
sets. Mallory, an ordinary user, tries all of it; the database's state, as the superuser sees it,
must not move, and Bob's private mail must stay invisible to him.

Two situations: the database as `admin setup-postgres` leaves it (Mallory cannot even create the
objects: permission errors), and a looser one where the superuser handed Mallory TEMP, CREATE on
`public` and a schema of his own (the functions must hold on their own, not only by the grants).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers.postgres import PostgresServer, quote_ident
from tests.servers.postgres_attacker import (
    INSUFFICIENT_PRIVILEGE,
    Team,
    add_message,
    attempt,
    create_account,
    loosen,
    rows,
    shadow_functions,
    shadow_relations,
    shadow_types,
    value,
)
from tui.core.sharing.postgres_rls import set_role_password, setup_team_database

USERS = ("alice", "bob", "mallory")
"""alice: the administrator; bob: has private mail; mallory: the attacker."""

PRIVATE_SUBJECT = "Bob's private salary letter"
EXCLUDED_SUBJECT = "Bob's deal with secret.org"
PUBLIC_SUBJECT = "Bob's public newsletter"


@pytest.fixture
def team(postgres_server: PostgresServer) -> Iterator[Team]:
    database = "attack_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(database)
    suffix = uuid.uuid4().hex[:6]
    roles = {user: f"{user}_{suffix}" for user in USERS}
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    superuser = postgres_server.url(database)
    setup_team_database(superuser, roles.values(), admin=roles["alice"])
    for user in USERS:
        set_role_password(superuser, roles[user], passwords[user])
    team = Team(postgres_server, database, roles, passwords)
    for user in ("bob", "mallory"):
        with team.connect(user) as connection:
            rows(
                connection,
                "INSERT INTO public.app_user (name, is_admin, created_at)"
                " VALUES (current_user, false, now())",
            )
    bob = team.connect("bob")
    team.accounts["bob_private"] = create_account(bob, "BobBox", "private")
    add_message(bob, team.accounts["bob_private"], "p1", PRIVATE_SUBJECT, " corp.example ")
    team.accounts["bob_public"] = create_account(bob, "BobNews", "public", "secret.org")
    add_message(bob, team.accounts["bob_public"], "n1", PUBLIC_SUBJECT, " corp.example ")
    add_message(bob, team.accounts["bob_public"], "n2", EXCLUDED_SUBJECT, " secret.org ")
    for key, subject in (("bob_private", PRIVATE_SUBJECT), ("bob_public", PUBLIC_SUBJECT)):
        team.messages[key] = add_message(  # its source still to come: Mallory's to plant?
            bob, team.accounts[key], "bare", subject, " corp.example ", source=False
        )
    bob.close()
    mallory = team.connect("mallory")
    team.accounts["mallory"] = create_account(mallory, "MalBox", "private")
    mallory.close()
    alice = team.connect("alice")
    # The administrator fixes Mallory's mailbox to private: he must not share it himself.
    rows(
        alice,
        "INSERT INTO public.sharing_policy (scope_kind, scope, mode, permission, locked,"
        " updated_by, updated_at) VALUES ('user', %s, 'fixed', 'private', true, current_user,"
        " now())",
        (roles["mallory"],),
    )
    rows(
        alice,
        "INSERT INTO public.audit_log (at, actor, action, target, detail)"
        " VALUES (now(), current_user, 'policy.set', %s, 'fixed private')",
        (roles["mallory"],),
    )
    alice.close()
    yield team
    postgres_server.drop_database(database)
    for role in roles.values():
        postgres_server.drop_role(role)


def _visible_subjects(connection: Any) -> set[str]:
    return {row[0] for row in rows(connection, "SELECT subject FROM public.message")}


def _attack(team: Team, connection: Any) -> dict[str, Any]:
    """Call every privileged function and fire every trigger and policy Mallory can reach."""
    me = team.roles["mallory"]
    bob = team.roles["bob"]
    bob_private, bob_public = team.accounts["bob_private"], team.accounts["bob_public"]
    mine = team.accounts["mallory"]
    seen: dict[str, Any] = {}
    seen["is_admin"] = value(
        connection, "SELECT public.poptui_is_admin(%s::pg_catalog.text)", (me,)
    )
    seen["user_count"] = value(connection, "SELECT public.poptui_user_count()")
    seen["owns_bob"] = attempt(  # no policy calls it: not Mallory's to call
        connection, "SELECT public.poptui_owns_account(%s::pg_catalog.int8)", (bob_private,)
    )
    seen["my_accounts"] = value(connection, "SELECT public.poptui_my_accounts()")
    seen["view_bob"] = value(
        connection, "SELECT public.poptui_can_view_account(%s::pg_catalog.int8)", (bob_private,)
    )
    seen["view_excluded"] = value(
        connection,
        "SELECT public.poptui_can_view_message(%s::pg_catalog.int8,"
        " ' secret.org '::pg_catalog.text)",
        (bob_public,),
    )
    seen["subjects"] = _visible_subjects(connection)
    seen["sources"] = value(connection, "SELECT pg_catalog.count(*) FROM public.message_source")
    seen["accounts"] = {row[0] for row in rows(connection, "SELECT id FROM public.account")}
    seen["audit"] = {row[0] for row in rows(connection, "SELECT actor FROM public.audit_log")}
    seen["shares"] = rows(connection, "SELECT account_id FROM public.account_share")
    # Writes: each must change nothing (no row passes the policy) or fail.
    seen["make_admin"] = attempt(
        connection, "UPDATE public.app_user SET is_admin = true WHERE name = %s", (me,)
    )
    seen["drop_admin"] = attempt(connection, "DELETE FROM public.app_user WHERE is_admin")
    seen["unlock"] = attempt(connection, "DELETE FROM public.sharing_policy")
    seen["new_policy"] = attempt(
        connection,
        "INSERT INTO public.sharing_policy (scope_kind, scope, mode, permission, locked,"
        " updated_by, updated_at) VALUES ('role', 'user', 'fixed', 'public', true, %s, now())",
        (me,),
    )
    seen["share_mine"] = attempt(
        connection, "UPDATE public.account SET sharing = 'public' WHERE id = %s", (mine,)
    )
    seen["grant_mine"] = attempt(
        connection,
        "INSERT INTO public.account_share (account_id, grantee) VALUES (%s, %s)",
        (mine, bob),
    )
    seen["steal"] = attempt(
        connection, "UPDATE public.account SET owner = %s WHERE id = %s", (me, bob_private)
    )
    seen["share_bob"] = attempt(
        connection,
        "INSERT INTO public.account_share (account_id, grantee) VALUES (%s, %s)",
        (bob_private, me),
    )
    seen["edit_bob_mail"] = attempt(
        connection,
        "UPDATE public.message SET subject = 'pwned' WHERE account_id = %s",
        (bob_private,),
    )
    seen["forge_audit"] = attempt(
        connection,
        "INSERT INTO public.audit_log (at, actor, action, target) VALUES (now(), %s, 'x', 'y')",
        (bob,),
    )
    seen["erase_audit"] = attempt(connection, "DELETE FROM public.audit_log")
    # Mail planted in Bob's mailboxes: the WITH CHECK of `message` and of `message_source`.
    seen["plant_message"] = attempt(
        connection,
        "INSERT INTO public.message (account_id, uidl, size, subject, party_domains,"
        " first_seen_at, fetched_at) VALUES (%s, 'planted', 1, 'pwned', '', now(), now())",
        (bob_private,),
    )
    for key in ("bob_private", "bob_public"):
        seen[f"plant_source_{key}"] = attempt(
            connection,
            "INSERT INTO public.message_source (message_id, raw)"
            " VALUES (%s, 'pwned'::pg_catalog.bytea)",
            (team.messages[key],),
        )
    seen["subjects_after"] = _visible_subjects(connection)
    return seen


def _assert_nothing_moved(team: Team, seen: dict[str, Any]) -> None:
    me = team.roles["mallory"]
    assert seen["is_admin"] is False
    assert seen["user_count"] == 3
    assert seen["owns_bob"] == INSUFFICIENT_PRIVILEGE
    assert seen["my_accounts"] == [team.accounts["mallory"]]
    assert seen["view_bob"] is False
    assert seen["view_excluded"] is False
    for key in ("subjects", "subjects_after"):
        assert seen[key] == {PUBLIC_SUBJECT}, key
    assert seen["sources"] == 1
    assert seen["accounts"] == {team.accounts["bob_public"], team.accounts["mallory"]}
    assert seen["audit"] <= {me}
    assert seen["shares"] == []
    # A guard or a WITH CHECK refuses these outright ...
    refused = ["new_policy", "share_mine", "grant_mine", "share_bob", "forge_audit"]
    refused += ["plant_message", "plant_source_bob_private", "plant_source_bob_public"]
    for key in refused:
        assert seen[key] == INSUFFICIENT_PRIVILEGE, key
    # ... and for these no row is Mallory's to touch: they run and change nothing.
    for key in ("make_admin", "drop_admin", "unlock", "steal", "edit_bob_mail", "erase_audit"):
        assert seen[key] in ("ok", INSUFFICIENT_PRIVILEGE), key


def test_an_ordinary_user_cannot_create_shadowing_objects(team: Team) -> None:
    before = team.snapshot()
    connection = team.connect("mallory")
    attempts = {
        "temp_table": "CREATE TEMP TABLE app_user (name text, is_admin boolean)",
        "temp_function": "CREATE FUNCTION pg_temp.poptui_is_admin(text) RETURNS boolean"
        " LANGUAGE sql AS $$ SELECT true $$",
        "public_function": "CREATE FUNCTION public.lower(character varying) RETURNS text"
        " LANGUAGE sql AS $$ SELECT 'x'::text $$",
        "public_table": "CREATE TABLE public.app_user2 (name text)",
        "schema": "CREATE SCHEMA mallory_own",
        "replace_function": "CREATE OR REPLACE FUNCTION public.poptui_is_admin(who text)"
        " RETURNS boolean LANGUAGE sql AS $$ SELECT true $$",
        "alter_policy": "ALTER POLICY app_user_admin ON public.app_user USING (true)",
        "drop_trigger": "DROP TRIGGER account_sharing_guard ON public.account",
        "disable_rls": "ALTER TABLE public.message DISABLE ROW LEVEL SECURITY",
    }
    for what, sql in attempts.items():
        assert attempt(connection, sql) == INSUFFICIENT_PRIVILEGE, what
    _assert_nothing_moved(team, _attack(team, connection))
    connection.close()
    assert team.snapshot() == before


def _assert_least_privilege(team: Team) -> None:
    """No TEMP, no CREATE on public for anyone but the owner; every function pinned, run as its
    owner, executable by no one but poptui's users and by them only when a policy calls it."""
    with team.superuser() as connection:
        functions = rows(
            connection,
            "SELECT p.proname, p.prosecdef, p.proconfig,"
            " has_function_privilege('public', p.oid, 'EXECUTE'),"
            " has_function_privilege('poptui_users', p.oid, 'EXECUTE')"
            " FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner"
            " WHERE r.rolname = 'poptui_owner'",
        )
        privileges = rows(
            connection,
            "SELECT has_database_privilege('public', current_database(), 'TEMP'),"
            " has_database_privilege('poptui_users', current_database(), 'TEMP'),"
            " has_schema_privilege('public', 'public', 'CREATE'),"
            " has_schema_privilege('poptui_users', 'public', 'CREATE'),"
            " has_database_privilege('poptui_users', current_database(), 'CREATE')",
        )[0]
    connection.close()
    assert privileges == (False, False, False, False, False)
    names = {row[0] for row in functions}
    assert {"poptui_is_admin", "poptui_guard_shares", "poptui_guard_account_sharing"} <= names
    called_by_policies = {
        "poptui_is_admin",
        "poptui_user_count",
        "poptui_my_accounts",
        "poptui_can_view_account",
        "poptui_can_view_message",
    }
    for name, definer, config, public_exec, users_exec in functions:
        assert definer, f"{name} runs with its caller's rights"
        assert config == ["search_path=pg_catalog, pg_temp"], name
        assert public_exec is False, f"PUBLIC may execute {name}"
        assert users_exec is (name in called_by_policies), name


def test_internal_functions_are_not_executable_by_everyone(team: Team) -> None:
    _assert_least_privilege(team)


def test_setting_up_again_takes_back_what_an_older_setup_granted(team: Team) -> None:
    """An older setup (or a careless DBA) granted EXECUTE on everything, TEMP and CREATE to all:
    running `admin setup-postgres` again (as after an upgrade) takes it back."""
    with team.superuser() as connection:
        database = quote_ident(team.database)
        rows(connection, f"GRANT TEMP ON DATABASE {database} TO PUBLIC")
        rows(connection, "GRANT CREATE ON SCHEMA public TO PUBLIC, poptui_users")
        rows(connection, "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC")
        rows(connection, "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO poptui_users")
    connection.close()
    setup_team_database(team.server.url(team.database), team.roles.values())
    _assert_least_privilege(team)


def test_setting_up_again_among_planted_overloads_binds_poptui_own(team: Team) -> None:
    """Mallory planted overloads and operators in `public` while he could; the administrator
    runs the setup again (policies are recreated then): they still call poptui's functions."""
    schema = loosen(team)
    connection = team.connect("mallory")
    shadow_functions(team, connection, schema)
    connection.close()
    setup_team_database(team.server.url(team.database), team.roles.values())
    before = team.snapshot()
    connection = team.connect("mallory")
    rows(connection, f"SET search_path = {schema}, public, pg_catalog")
    seen = _attack(team, connection)
    connection.close()
    _assert_nothing_moved(team, seen)
    assert team.snapshot() == before


def test_shadowing_relations_functions_and_operators_changes_nothing(team: Team) -> None:
    """With TEMP, CREATE on public and a schema of his own, Mallory shadows everything the
    privileged code names; the functions, triggers and policies still mean what they meant."""
    schema = loosen(team)
    before = team.snapshot()
    connection = team.connect("mallory")
    shadow_relations(team, connection)
    shadow_functions(team, connection, schema)
    shadow_types(connection)
    seen = _attack(team, connection)
    connection.close()
    _assert_nothing_moved(team, seen)
    after = team.snapshot()
    assert after == before


def test_shadowing_with_pg_temp_first_in_the_search_path(team: Team) -> None:
    """The same, with the temporary schema named first and public left out."""
    schema = loosen(team)
    before = team.snapshot()
    connection = team.connect("mallory")
    shadow_relations(team, connection)
    shadow_functions(team, connection, schema)
    shadow_types(connection)
    rows(connection, f"SET search_path = pg_temp, {schema}, pg_catalog")
    seen = _attack(team, connection)
    connection.close()
    _assert_nothing_moved(team, seen)
    assert team.snapshot() == before


def test_the_owner_still_sees_and_shares_their_own_mail(team: Team) -> None:
    """The pinned, qualified functions still say yes where they should (not fail closed on all)."""
    connection = team.connect("bob")
    subjects = _visible_subjects(connection)
    assert subjects == {PRIVATE_SUBJECT, PUBLIC_SUBJECT, EXCLUDED_SUBJECT}
    assert value(connection, "SELECT pg_catalog.count(*) FROM public.message_source") == 3
    rows(
        connection,
        "INSERT INTO public.account_share (account_id, grantee) VALUES (%s, %s)",
        (team.accounts["bob_private"], team.roles["alice"]),
    )
    rows(
        connection,
        "UPDATE public.account SET sharing = 'custom' WHERE id = %s",
        (team.accounts["bob_private"],),
    )
    connection.close()
    alice = team.connect("alice")
    assert value(alice, "SELECT public.poptui_is_admin(current_user::text)") is True
    assert _visible_subjects(alice) == {PRIVATE_SUBJECT, PUBLIC_SUBJECT}
    alice.close()
    mallory = team.connect("mallory")
    assert _visible_subjects(mallory) == {PUBLIC_SUBJECT}
    mallory.close()
