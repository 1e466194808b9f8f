"""`poptui sharing …` and `poptui admin …`: who may see a mailbox, roles, policies, the audit log.

Everything printed here may have been written by another user of a shared database (user names,
domains, audit details), so each value is cleaned before it reaches the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.cli.console import EXIT_OK
from tui.cli.context import CommandContext
from tui.core.settings import SharingPermission
from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.storage.models import Account


def run(context: CommandContext) -> int:
    """Run `poptui sharing VERB` or `poptui admin VERB`."""
    if context.args.command == "sharing":
        return show(context) if context.args.verb == "show" else choose(context)
    verbs = {
        "grant": grant,
        "revoke": revoke,
        "users": users,
        "audit": audit,
        "policy": policy,
        "setup-postgres": setup_postgres,
    }
    return verbs[context.args.verb](context)


# ---------------------------------------------------------------- sharing


def sharing_view(account: Account) -> dict[str, Any]:
    """The permission in force on `account`, the policy behind it and who can see its mail."""
    from tui.core.sharing.rules import SharingService

    service = SharingService()
    effective = service.effective(account)
    policy = effective.policy
    return {
        "account": account.name,
        "owner": account.owner,
        "permission": effective.permission.value,
        "excluded_domains": list(effective.excluded_domains),
        "shared_with": list(effective.shared_with),
        "policy": {
            "mode": policy.mode.value,
            "permission": policy.permission.value if policy.permission else None,
            "locked": policy.locked,
            "source": policy.source,
        },
        "user_may_choose": policy.user_may_choose,
        "why_not": policy.why_not_choose() or None,
        "who_can_see": service.viewers_in_words(effective),
    }


def show(context: CommandContext) -> int:
    console = context.console
    view = sharing_view(context.accounts.get(context.args.name))
    if context.args.json:
        console.json(view)
        return EXIT_OK
    console.print(f"{clean(view['account'])}: {view['permission']}")
    console.print(f"Who can see its mail: {clean(view['who_can_see'])}")
    choice = "you may choose" if view["user_may_choose"] else view["why_not"]
    console.print(f"Policy: {clean(view['policy']['source'])}; {clean(str(choice))}")
    return EXIT_OK


def choose(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService

    args = context.args
    account = context.accounts.get(args.name)
    effective = SharingService().set_account_permission(
        account,
        SharingPermission(args.permission),
        shared_with=args.shared_with,
        excluded_domains=args.exclude_domain,
    )
    context.console.print(f"{clean(account.name)}: {effective.permission.value}")
    return EXIT_OK


# ---------------------------------------------------------------- admin


def grant(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService

    SharingService().grant_admin(context.args.user)
    context.console.print(f"{clean(context.args.user)} is now an administrator")
    return EXIT_OK


def revoke(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService

    SharingService().revoke_admin(context.args.user)
    context.console.print(f"{clean(context.args.user)} is no longer an administrator")
    return EXIT_OK


def users(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService

    rows = [{"name": u.name, "admin": bool(u.is_admin)} for u in SharingService().users()]
    if context.args.json:
        context.console.json(rows)
        return EXIT_OK
    for row in rows:
        role = "  (administrator)" if row["admin"] else ""
        context.console.print(f"{clean(str(row['name']))}{role}")
    return EXIT_OK


def audit(context: CommandContext) -> int:
    from tui.core.sharing.rules import SharingService

    rows: list[dict[str, Any]] = [
        {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail}
        for e in SharingService().audit_log()
    ]
    if context.args.json:
        context.console.json(rows)
        return EXIT_OK
    for r in rows:
        words = " ".join(clean(str(r[key])) for key in ("actor", "action", "target", "detail"))
        context.console.print(f"{r['at']:%Y-%m-%d %H:%M} {words}")
    return EXIT_OK


def policy(context: CommandContext) -> int:
    """`admin policy show|set|clear`: the administrators' rules for users and roles."""
    from tui.core.sharing.rules import PolicyMode, SharingService

    service = SharingService()
    args = context.args
    if args.policy_verb == "show":
        return _show_policies(context)
    scope_kind, scope = ("user", args.user) if args.user else ("role", args.role)
    if args.policy_verb == "clear":
        service.clear_policy(scope_kind=scope_kind, scope=scope)
        context.console.print(f"Policy for {scope_kind} {clean(scope)} cleared")
        return EXIT_OK
    service.set_policy(
        scope_kind=scope_kind,
        scope=scope,
        mode=PolicyMode.USERS_CHOICE if args.users_choice else PolicyMode.FIXED,
        permission=SharingPermission(args.permission) if args.permission else None,
        locked=args.lock,
        excluded_domains=args.exclude_domain,
    )
    context.console.print(f"Policy for {scope_kind} {clean(scope)} set")
    return EXIT_OK


def _show_policies(context: CommandContext) -> int:
    from tui.core.sharing.rules import DEFAULT_POLICY, SharingService

    rows: list[dict[str, Any]] = [
        {
            "scope": f"{p.scope_kind}:{p.scope}",
            "mode": p.mode,
            "permission": p.permission,
            "locked": bool(p.locked),
            "excluded_domains": p.excluded_domains.split(),
            "updated_by": p.updated_by,
            "updated_at": p.updated_at,
        }
        for p in SharingService().policies()
    ]
    if context.args.json:
        context.console.json(rows)
        return EXIT_OK
    for r in rows:
        what = r["permission"] if r["mode"] == "fixed" else "user's choice"
        lock = ", locked" if r["locked"] else ""
        domains = r["excluded_domains"]
        except_ = f", except {clean(' '.join(domains))}" if domains else ""
        context.console.print(f"{clean(r['scope'])}: {clean(str(what))}{lock}{except_}")
    context.console.print(f"everyone else: {DEFAULT_POLICY.source}")
    return EXIT_OK


def setup_postgres(context: CommandContext) -> int:
    """Connects as the superuser itself: runs before the database is opened or migrated."""
    from tui.core.sharing.postgres_rls import setup_team_database

    args = context.args
    for line in setup_team_database(context.url, args.team_users, admin=args.admin):
        context.console.print(clean(line))
    return EXIT_OK
