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
from typing import Any

from tui.core.errors import PoptuiError
from tui.core.storage.db import describe_url, make_database, migrate

OWNER_ROLE = "poptui_owner"
USERS_ROLE = "poptui_users"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,62}$")

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION poptui_is_admin(who text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce((SELECT is_admin FROM app_user WHERE name = who), false)
$$;

CREATE OR REPLACE FUNCTION poptui_user_count() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT count(*) FROM app_user
$$;

-- The administrator's policy for a user: their own, else their role's; no row means the default
-- (User's choice, unlocked). Mirrors SharingService.policy_for.
CREATE OR REPLACE FUNCTION poptui_policy_of(who text) RETURNS SETOF sharing_policy
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM sharing_policy
    WHERE (scope_kind = 'user' AND scope = who)
       OR (scope_kind = 'role'
           AND scope = CASE WHEN poptui_is_admin(who) THEN 'admin' ELSE 'user' END)
    ORDER BY scope_kind = 'user' DESC
    LIMIT 1
$$;

CREATE OR REPLACE FUNCTION poptui_owns_account(acc bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM account WHERE id = acc AND owner = session_user)
$$;

-- The permission in force for a mailbox and its excluded domains (mirrors Sharing.effective).
CREATE OR REPLACE FUNCTION poptui_permission(acc bigint, OUT permission text, OUT excluded text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    a account%ROWTYPE;
    p sharing_policy%ROWTYPE;
BEGIN
    SELECT * INTO a FROM account WHERE id = acc;
    IF NOT FOUND THEN
        permission := 'private'; excluded := ''; RETURN;
    END IF;
    SELECT * INTO p FROM poptui_policy_of(a.owner);
    IF FOUND AND p.mode = 'fixed' THEN
        permission := p.permission; excluded := p.excluded_domains;
    ELSE
        permission := a.sharing; excluded := a.excluded_domains;
    END IF;
    IF permission <> 'public' THEN excluded := ''; END IF;
END
$$;

CREATE OR REPLACE FUNCTION poptui_can_view_account(acc bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    perm text;
    excl text;
BEGIN
    IF poptui_owns_account(acc) THEN RETURN true; END IF;
    SELECT permission, excluded INTO perm, excl FROM poptui_permission(acc);
    RETURN CASE perm
        WHEN 'public' THEN true
        WHEN 'custom' THEN EXISTS (
            SELECT 1 FROM account_share WHERE account_id = acc AND grantee = session_user)
        WHEN 'admin' THEN poptui_is_admin(session_user)
        ELSE false
    END;
END
$$;

CREATE OR REPLACE FUNCTION poptui_can_view_message(acc bigint, domains text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    perm text;
    excl text;
    d text;
BEGIN
    IF poptui_owns_account(acc) THEN RETURN true; END IF;
    IF NOT poptui_can_view_account(acc) THEN RETURN false; END IF;
    SELECT permission, excluded INTO perm, excl FROM poptui_permission(acc);
    FOREACH d IN ARRAY regexp_split_to_array(trim(excl), '\s+') LOOP
        IF d <> '' AND position(' ' || d || ' ' IN coalesce(domains, '')) > 0 THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;
"""

GUARDS = r"""
-- A locked or fixed policy cannot be side-stepped with plain SQL by the mailbox's owner.
CREATE OR REPLACE FUNCTION poptui_may_choose(who text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    p sharing_policy%ROWTYPE;
BEGIN
    SELECT * INTO p FROM poptui_policy_of(who);
    RETURN NOT FOUND OR (p.mode = 'users_choice' AND NOT p.locked);
END
$$;

CREATE OR REPLACE FUNCTION poptui_guard_account_sharing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.sharing IS DISTINCT FROM OLD.sharing
        OR NEW.excluded_domains IS DISTINCT FROM OLD.excluded_domains)
       AND NOT poptui_may_choose(OLD.owner) THEN
        RAISE EXCEPTION 'sharing permission of % is set by an administrator', OLD.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS account_sharing_guard ON account;
CREATE TRIGGER account_sharing_guard BEFORE UPDATE ON account
    FOR EACH ROW EXECUTE FUNCTION poptui_guard_account_sharing();

CREATE OR REPLACE FUNCTION poptui_guard_shares() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    acc bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    who text;
BEGIN
    SELECT owner INTO who FROM account WHERE id = acc;
    IF who IS NOT NULL AND NOT poptui_may_choose(who) THEN
        RAISE EXCEPTION 'sharing of this mailbox is set by an administrator'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

DROP TRIGGER IF EXISTS account_share_guard ON account_share;
CREATE TRIGGER account_share_guard BEFORE INSERT OR UPDATE OR DELETE ON account_share
    FOR EACH ROW EXECUTE FUNCTION poptui_guard_shares();
"""

POLICIES = """
ALTER TABLE account ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS account_read ON account;
DROP POLICY IF EXISTS account_own ON account;
CREATE POLICY account_read ON account FOR SELECT USING (poptui_can_view_account(id));
CREATE POLICY account_own ON account FOR ALL
    USING (owner = current_user) WITH CHECK (owner = current_user);

ALTER TABLE message ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS message_read ON message;
DROP POLICY IF EXISTS message_own ON message;
CREATE POLICY message_read ON message FOR SELECT
    USING (poptui_can_view_message(account_id, party_domains));
CREATE POLICY message_own ON message FOR ALL
    USING (poptui_owns_account(account_id)) WITH CHECK (poptui_owns_account(account_id));

ALTER TABLE message_source ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS source_read ON message_source;
DROP POLICY IF EXISTS source_own ON message_source;
CREATE POLICY source_read ON message_source FOR SELECT
    USING (EXISTS (SELECT 1 FROM message m WHERE m.id = message_source.message_id));
CREATE POLICY source_own ON message_source FOR ALL
    USING (EXISTS (SELECT 1 FROM message m WHERE m.id = message_source.message_id
                   AND poptui_owns_account(m.account_id)))
    WITH CHECK (EXISTS (SELECT 1 FROM message m WHERE m.id = message_source.message_id
                        AND poptui_owns_account(m.account_id)));

ALTER TABLE uidl_alias ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS alias_own ON uidl_alias;
CREATE POLICY alias_own ON uidl_alias FOR ALL
    USING (poptui_owns_account(account_id)) WITH CHECK (poptui_owns_account(account_id));

ALTER TABLE fetch_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS fetch_log_own ON fetch_log;
CREATE POLICY fetch_log_own ON fetch_log FOR ALL
    USING (poptui_owns_account(account_id)) WITH CHECK (poptui_owns_account(account_id));

ALTER TABLE setting ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS setting_own ON setting;
CREATE POLICY setting_own ON setting FOR ALL
    USING (owner = current_user) WITH CHECK (owner = current_user);

ALTER TABLE app_user ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS app_user_read ON app_user;
DROP POLICY IF EXISTS app_user_join ON app_user;
DROP POLICY IF EXISTS app_user_admin ON app_user;
CREATE POLICY app_user_read ON app_user FOR SELECT USING (true);
CREATE POLICY app_user_join ON app_user FOR INSERT
    WITH CHECK (name = current_user AND (NOT is_admin OR poptui_user_count() = 0));
CREATE POLICY app_user_admin ON app_user FOR ALL
    USING (poptui_is_admin(current_user)) WITH CHECK (poptui_is_admin(current_user));

ALTER TABLE sharing_policy ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS policy_read ON sharing_policy;
DROP POLICY IF EXISTS policy_admin ON sharing_policy;
CREATE POLICY policy_read ON sharing_policy FOR SELECT USING (true);
CREATE POLICY policy_admin ON sharing_policy FOR ALL
    USING (poptui_is_admin(current_user)) WITH CHECK (poptui_is_admin(current_user));

ALTER TABLE account_share ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS share_read ON account_share;
DROP POLICY IF EXISTS share_own ON account_share;
CREATE POLICY share_read ON account_share FOR SELECT
    USING (grantee = current_user OR poptui_owns_account(account_id));
CREATE POLICY share_own ON account_share FOR ALL
    USING (poptui_owns_account(account_id)) WITH CHECK (poptui_owns_account(account_id));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS audit_write ON audit_log;
DROP POLICY IF EXISTS audit_read ON audit_log;
CREATE POLICY audit_write ON audit_log FOR INSERT WITH CHECK (actor = current_user);
CREATE POLICY audit_read ON audit_log FOR SELECT
    USING (actor = current_user OR poptui_is_admin(current_user));
"""

TABLES = (
    "account", "message", "message_source", "uidl_alias", "fetch_log", "setting",
    "app_user", "sharing_policy", "account_share", "audit_log", "schema_version",
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
            for script in (FUNCTIONS, GUARDS, POLICIES):
                _run_script(db, script)
        db.execute_sql("RESET ROLE")
        _grant(db)
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


def _grant(db: Any) -> None:
    tables = ", ".join(TABLES)
    db.execute_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {USERS_ROLE}")
    db.execute_sql(f"REVOKE INSERT, UPDATE, DELETE ON schema_version FROM {USERS_ROLE}")
    db.execute_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {USERS_ROLE}")
    db.execute_sql(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {USERS_ROLE}")


def set_role_password(superuser_url: str, user: str, password: str) -> None:
    """For tests and TCP setups; with peer authentication no password is needed."""
    db = make_database(superuser_url)
    db.connect()
    try:
        db.execute_sql(f"ALTER ROLE {_quote_role(user)} PASSWORD %s", (password,))
    finally:
        db.close()
