"""A shared PostgreSQL database for a team, with the sharing rules enforced by the database.

Each person connects as their own role (peer authentication over the Unix socket suits SSH
users). The tables belong to `poptui_owner`, a role nobody logs in as, so no person bypasses
row-level security; people get table rights through the group role `poptui_users`. The
visibility rules mirror `tui.core.sharing.rules` and live in SECURITY DEFINER functions owned by
`poptui_owner` (which, as the tables' owner, is not subject to the policies: no recursion);
inside them `session_user` names the person, since `current_user` is the definer there.

Run once by a database superuser: `poptui admin setup-postgres --database URL --user alice …`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from tui.core.errors import PoptuiError
from tui.core.storage.db import describe_url, make_database, migrate

OWNER_ROLE = "poptui_owner"
USERS_ROLE = "poptui_users"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")

# Every function runs as `poptui_owner` with a search_path the caller cannot change and that
# names no schema the caller could write to: pg_catalog first (built-in functions and operators
# only), the session's temporary schema explicitly last (unnamed, it is searched FIRST for tables,
# and a co-user's `CREATE TEMP TABLE app_user` would answer "is admin?"). `public` is left out:
# an operator there taking the exact column types (`=(varchar, text)`) would beat pg_catalog's
# however late in the path. poptui's own objects are always written `public.…`, with arguments
# cast to the exact parameter type, so no overload beside them (`poptui_policy_of(varchar)`) is
# ever a better match.
_PINNED = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

FUNCTIONS = rf"""
CREATE OR REPLACE FUNCTION public.poptui_is_admin(who text) RETURNS boolean
LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT coalesce((SELECT u.is_admin FROM public.app_user u WHERE u.name::text = who), false)
$$;

CREATE OR REPLACE FUNCTION public.poptui_user_count() RETURNS bigint
LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT count(*) FROM public.app_user
$$;

-- The administrator's policy for a user: their own, else their role's; no row means the default
-- (User's choice, unlocked). Mirrors SharingService.policy_for.
CREATE OR REPLACE FUNCTION public.poptui_policy_of(who text) RETURNS SETOF public.sharing_policy
LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT * FROM public.sharing_policy p
    WHERE (p.scope_kind::text = 'user' AND p.scope::text = who)
       OR (p.scope_kind::text = 'role'
           AND p.scope::text = CASE WHEN public.poptui_is_admin(who) THEN 'admin' ELSE 'user' END)
    ORDER BY p.scope_kind::text = 'user' DESC
    LIMIT 1
$$;

CREATE OR REPLACE FUNCTION public.poptui_owns_account(acc bigint) RETURNS boolean
LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.account a WHERE a.id = acc AND a.owner::text = session_user::text)
$$;

-- The caller's mailboxes, for the policies of rows that belong to one. They call it as an
-- uncorrelated subquery (`_OWNS`), which the server evaluates once per statement (an InitPlan):
-- poptui_owns_account(account_id) in a policy ran once per row, a SECURITY DEFINER call and a
-- query each time, three per fetched message.
CREATE OR REPLACE FUNCTION public.poptui_my_accounts() RETURNS bigint[]
LANGUAGE sql STABLE {_PINNED} AS $$
    SELECT coalesce(pg_catalog.array_agg(a.id), '{{}}'::bigint[])
    FROM public.account a WHERE a.owner::text = session_user::text
$$;

-- The permission in force for a mailbox and its excluded domains (mirrors Sharing.effective).
CREATE OR REPLACE FUNCTION public.poptui_permission(
    acc bigint, OUT permission text, OUT excluded text)
LANGUAGE plpgsql STABLE {_PINNED} AS $$
DECLARE
    a public.account%ROWTYPE;
    p public.sharing_policy%ROWTYPE;
BEGIN
    SELECT * INTO a FROM public.account WHERE id = acc;
    IF NOT FOUND THEN
        permission := 'private'; excluded := ''; RETURN;
    END IF;
    SELECT * INTO p FROM public.poptui_policy_of(a.owner::text);
    IF FOUND AND p.mode::text = 'fixed' THEN
        permission := p.permission; excluded := p.excluded_domains;
    ELSE
        permission := a.sharing; excluded := a.excluded_domains;
    END IF;
    IF permission <> 'public' THEN excluded := ''; END IF;
END
$$;

CREATE OR REPLACE FUNCTION public.poptui_can_view_account(acc bigint) RETURNS boolean
LANGUAGE plpgsql STABLE {_PINNED} AS $$
DECLARE
    perm text;
    excl text;
BEGIN
    IF public.poptui_owns_account(acc) THEN RETURN true; END IF;
    SELECT r.permission, r.excluded INTO perm, excl FROM public.poptui_permission(acc) r;
    RETURN CASE perm
        WHEN 'public' THEN true
        WHEN 'custom' THEN EXISTS (
            SELECT 1 FROM public.account_share s
            WHERE s.account_id = acc AND s.grantee::text = session_user::text)
        WHEN 'admin' THEN public.poptui_is_admin(session_user::text)
        ELSE false
    END;
END
$$;

CREATE OR REPLACE FUNCTION public.poptui_can_view_message(acc bigint, domains text) RETURNS boolean
LANGUAGE plpgsql STABLE {_PINNED} AS $$
DECLARE
    perm text;
    excl text;
    d text;
BEGIN
    IF public.poptui_owns_account(acc) THEN RETURN true; END IF;
    IF NOT public.poptui_can_view_account(acc) THEN RETURN false; END IF;
    SELECT r.permission, r.excluded INTO perm, excl FROM public.poptui_permission(acc) r;
    -- Fail closed: addresses that could not be read (" ? ") may be in an excluded domain.
    IF pg_catalog.btrim(coalesce(excl, '')) <> ''
       AND pg_catalog.strpos(coalesce(domains, ' ? '), ' ? ') > 0 THEN
        RETURN false;
    END IF;
    FOREACH d IN ARRAY regexp_split_to_array(trim(excl), '\s+') LOOP
        IF d <> '' AND position(' ' || d || ' ' IN coalesce(domains, '')) > 0 THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;
"""

GUARDS = rf"""
-- A locked or fixed policy cannot be side-stepped with plain SQL by the mailbox's owner.
CREATE OR REPLACE FUNCTION public.poptui_may_choose(who text) RETURNS boolean
LANGUAGE plpgsql STABLE {_PINNED} AS $$
DECLARE
    p public.sharing_policy%ROWTYPE;
BEGIN
    SELECT * INTO p FROM public.poptui_policy_of(who);
    RETURN NOT FOUND OR (p.mode::text = 'users_choice' AND NOT p.locked);
END
$$;

-- The guards run as the owner too: they see the mailbox whatever the caller's policies let him
-- see, and nothing they name can be replaced by the caller's search_path.
CREATE OR REPLACE FUNCTION public.poptui_guard_account_sharing() RETURNS trigger
LANGUAGE plpgsql {_PINNED} AS $$
BEGIN
    IF (NEW.sharing IS DISTINCT FROM OLD.sharing
        OR NEW.excluded_domains IS DISTINCT FROM OLD.excluded_domains)
       AND NOT public.poptui_may_choose(OLD.owner::text) THEN
        RAISE EXCEPTION 'sharing permission of % is set by an administrator', OLD.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS account_sharing_guard ON public.account;
CREATE TRIGGER account_sharing_guard BEFORE UPDATE ON public.account
    FOR EACH ROW EXECUTE FUNCTION public.poptui_guard_account_sharing();

CREATE OR REPLACE FUNCTION public.poptui_guard_shares() RETURNS trigger
LANGUAGE plpgsql {_PINNED} AS $$
DECLARE
    acc bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    who text;
BEGIN
    SELECT a.owner INTO who FROM public.account a WHERE a.id = acc;
    IF who IS NOT NULL AND NOT public.poptui_may_choose(who) THEN
        RAISE EXCEPTION 'sharing of this mailbox is set by an administrator'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

DROP TRIGGER IF EXISTS account_share_guard ON public.account_share;
CREATE TRIGGER account_share_guard BEFORE INSERT OR UPDATE OR DELETE ON public.account_share
    FOR EACH ROW EXECUTE FUNCTION public.poptui_guard_shares();
"""

# Policy expressions are resolved once, when created (with the script's pinned search_path), and
# stored by object id: what a caller creates later cannot change what they call.
_OWNS = "account_id = ANY ((SELECT public.poptui_my_accounts())::bigint[])"
"""A row of one of the caller's mailboxes. The cast makes the parenthesised subquery an array
expression: `= ANY ((SELECT …))` alone would compare with each row of a subquery."""
_IS_ADMIN = "public.poptui_is_admin(current_user::text)"
_OWNER_IS_ME = "owner::text = current_user::text"
# Own mail first: OR is evaluated left to right and stops at true, so a caller's own message (every
# row a fetch checks) never runs the PL/pgSQL function, which would find the same.
_MESSAGE_VISIBLE = f"{_OWNS} OR public.poptui_can_view_message(account_id, party_domains)"
_SOURCE_OF = "EXISTS (SELECT 1 FROM public.message m WHERE m.id = message_source.message_id{})"
_SOURCE_OWNED = _SOURCE_OF.format(" AND m." + _OWNS)


class _Policy(NamedTuple):
    name: str
    command: str
    using: str | None
    check: str | None = None


# Per table: its policies (a row passes if any allows it). FOR ALL applies USING and WITH CHECK.
_POLICY_TABLE: tuple[tuple[str, tuple[_Policy, ...]], ...] = (
    ("account", (
        _Policy("account_read", "SELECT", "public.poptui_can_view_account(id)"),
        _Policy("account_own", "ALL", _OWNER_IS_ME, _OWNER_IS_ME),
    )),
    ("message", (
        _Policy("message_read", "SELECT", _MESSAGE_VISIBLE),
        _Policy("message_own", "ALL", _OWNS, _OWNS),
    )),
    ("message_source", (
        _Policy("source_read", "SELECT", _SOURCE_OF.format("")),
        _Policy("source_own", "ALL", _SOURCE_OWNED, _SOURCE_OWNED),
    )),
    ("uidl_alias", (_Policy("alias_own", "ALL", _OWNS, _OWNS),)),
    ("imported_uidl", (_Policy("imported_own", "ALL", _OWNS, _OWNS),)),
    ("fetch_log", (_Policy("fetch_log_own", "ALL", _OWNS, _OWNS),)),
    ("delivery_target", (_Policy("delivery_target_own", "ALL", _OWNS, _OWNS),)),
    ("delivery", (_Policy("delivery_own", "ALL", _OWNS, _OWNS),)),
    ("setting", (_Policy("setting_own", "ALL", _OWNER_IS_ME, _OWNER_IS_ME),)),
    ("app_user", (
        _Policy("app_user_read", "SELECT", "true"),
        _Policy(
            "app_user_join", "INSERT", None,
            "name::text = current_user::text AND (NOT is_admin OR public.poptui_user_count() = 0)",
        ),
        _Policy("app_user_admin", "ALL", _IS_ADMIN, _IS_ADMIN),
    )),
    ("sharing_policy", (
        _Policy("policy_read", "SELECT", "true"),
        _Policy("policy_admin", "ALL", _IS_ADMIN, _IS_ADMIN),
    )),
    ("account_share", (
        _Policy("share_read", "SELECT", f"grantee::text = current_user::text OR {_OWNS}"),
        _Policy("share_own", "ALL", _OWNS, _OWNS),
    )),
    ("audit_log", (
        _Policy("audit_write", "INSERT", None, "actor::text = current_user::text"),
        _Policy("audit_read", "SELECT", f"actor::text = current_user::text OR {_IS_ADMIN}"),
    )),
    ("service_heartbeat", (_Policy("heartbeat_own", "ALL", _OWNER_IS_ME, _OWNER_IS_ME),)),
    ("service_fetch", (_Policy("service_fetch_own", "ALL", _OWNS, _OWNS),)),
)  # fmt: skip


def _policies_sql() -> str:
    """Per table: enable row-level security, drop its policies, create them afresh."""
    blocks = []
    for table, policies in _POLICY_TABLE:
        lines = [f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY;"]
        lines += [f"DROP POLICY IF EXISTS {p.name} ON public.{table};" for p in policies]
        for p in policies:
            using = f"\n    USING ({p.using})" if p.using is not None else ""
            check = f"\n    WITH CHECK ({p.check})" if p.check is not None else ""
            lines.append(f"CREATE POLICY {p.name} ON public.{table} FOR {p.command}{using}{check};")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


POLICIES = _policies_sql()

POLICY_FUNCTIONS = (
    "poptui_is_admin(text)",
    "poptui_user_count()",
    "poptui_my_accounts()",
    "poptui_can_view_account(bigint)",
    "poptui_can_view_message(bigint, text)",
)
"""What the policies call, evaluated with the querying user's rights: the only functions users
may EXECUTE. The rest run only inside these (as the owner) or as triggers."""

TABLES = (
    "account", "message", "message_source", "uidl_alias", "fetch_log", "setting",
    "app_user", "sharing_policy", "account_share", "audit_log", "schema_version",
    "delivery_target", "delivery", "imported_uidl",
    "service_heartbeat", "service_fetch",
)  # fmt: skip


class TeamSetupError(PoptuiError):
    """The team database cannot be set up as asked, worded for the administrator."""


def _quote_role(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise TeamSetupError(f"{name!r} cannot be a database role name (use the login name)")
    return '"' + name.replace('"', '""') + '"'


def setup_team_database(
    superuser_url: str, users: Iterable[str] = (), *, admin: str | None = None
) -> list[str]:
    """Create the roles, migrate as the owner role, enable row-level security, add users.

    Idempotent: run it again to add users or after upgrading poptui. Returns what was done.
    """
    db = make_database(superuser_url)
    done: list[str] = []
    db.connect()
    try:
        is_super = db.execute_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not is_super.fetchone()[0]:
            raise TeamSetupError(
                f"Connect as a database superuser to set up {describe_url(superuser_url)}"
            )
        for role in (OWNER_ROLE, USERS_ROLE):
            exists = db.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if exists.fetchone() is None:
                db.execute_sql(f"CREATE ROLE {role} NOLOGIN")
                done.append(f"created role {role}")
        name = db.execute_sql("SELECT current_database()").fetchone()[0]
        db.execute_sql(f'ALTER DATABASE "{name}" OWNER TO {OWNER_ROLE}')
        db.execute_sql(f'GRANT CONNECT ON DATABASE "{name}" TO {USERS_ROLE}')
        db.execute_sql(f"ALTER SCHEMA public OWNER TO {OWNER_ROLE}")
        db.execute_sql(f"GRANT USAGE ON SCHEMA public TO {USERS_ROLE}")
        db.execute_sql(f"SET ROLE {OWNER_ROLE}")
        version = migrate(db)
        done.append(f"schema at version {version}")
        with db.atomic():
            _run_script(db, "SET LOCAL search_path = pg_catalog, pg_temp")
            for script in (FUNCTIONS, GUARDS, POLICIES):
                _run_script(db, script)
        db.execute_sql("RESET ROLE")
        _grant(db, name)
        done.append("row-level security enabled")
        for user in users:
            role = _quote_role(user)
            exists = db.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
            if exists.fetchone() is None:
                db.execute_sql(f"CREATE ROLE {role} LOGIN")
                done.append(f"created login role {user}")
            db.execute_sql(f"GRANT {USERS_ROLE} TO {role}")
        if admin:
            db.execute_sql(
                "INSERT INTO app_user (name, is_admin, created_at) VALUES (%s, TRUE, now()) "
                "ON CONFLICT (name) DO UPDATE SET is_admin = TRUE",
                (admin,),
            )
            done.append(f"{admin} is an administrator")
    finally:
        db.close()
    return done


def _run_script(db: Any, script: str) -> None:
    """Run several statements as written: no parameters, so `%` in PL/pgSQL stays literal."""
    with db.connection().cursor() as cursor:
        cursor.execute(script)


def _grant(db: Any, database: str) -> None:
    """Table rights for poptui's users; nothing else for anyone.

    No one but the owner creates objects: without TEMP a user has no temporary schema, without
    CREATE on `public` no overloads or operators beside poptui's own (the functions hold even
    without this, see FUNCTIONS; this removes the means). Functions are not executable by PUBLIC,
    now or when added later.
    """
    tables = ", ".join(f"public.{table}" for table in TABLES)
    db.execute_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    db.execute_sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {USERS_ROLE}")
    db.execute_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {USERS_ROLE}")
    db.execute_sql(f"REVOKE INSERT, UPDATE, DELETE ON public.schema_version FROM {USERS_ROLE}")
    db.execute_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {USERS_ROLE}")
    db.execute_sql(f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, {USERS_ROLE}")
    db.execute_sql(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
    )
    functions = ", ".join(f"public.{signature}" for signature in POLICY_FUNCTIONS)
    db.execute_sql(f"GRANT EXECUTE ON FUNCTION {functions} TO {USERS_ROLE}")


def set_role_password(superuser_url: str, user: str, password: str) -> None:
    """For tests and TCP setups; with peer authentication no password is needed."""
    db = make_database(superuser_url)
    db.connect()
    try:
        db.execute_sql(f"ALTER ROLE {_quote_role(user)} PASSWORD %s", (password,))
    finally:
        db.close()
