"""Email sharing permissions: who besides its owner may see a mailbox's fetched mail.

An administrator sets a policy per user or per role: a fixed permission, or "User's choice"
(the owner picks), optionally locked. "Public" may keep mail to or from up to five domains
private. The rules are decided here for the app (SQLite and PostgreSQL): `SharingService.view_of`
turns them into the `MailboxView` the message queries are scoped by, for the browser and the
command line alike. On a team PostgreSQL database the same rules are also enforced by row-level
security (`tui.core.sharing.postgres_rls`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from peewee import IntegrityError

from tui.core.errors import PoptuiError
from tui.core.settings import SharingPermission
from tui.core.storage.accounts import current_user, registered_user
from tui.core.storage.dialect import write_transaction
from tui.core.storage.mailbox_view import MailboxView
from tui.core.storage.models import (
    Account,
    AccountShare,
    AppUser,
    AuditLog,
    SharingPolicy,
    database_proxy,
    utcnow,
)

MAX_EXCLUDED_DOMAINS = 5
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


class PolicyMode(StrEnum):
    FIXED = "fixed"
    USERS_CHOICE = "users_choice"


class SharingError(PoptuiError):
    """A sharing change that is not allowed or not valid, worded for the user."""


class NotAllowed(SharingError):
    pass


@dataclass(frozen=True)
class Policy:
    """The administrator's rule that applies to one owner's mailboxes."""

    mode: PolicyMode
    permission: SharingPermission | None
    """The fixed permission; with User's choice, the default for a new mailbox."""
    locked: bool
    excluded_domains: tuple[str, ...]
    source: str
    """Where it comes from, in words: "set for alice", "set for the role user", "the default"."""

    @property
    def user_may_choose(self) -> bool:
        return self.mode is PolicyMode.USERS_CHOICE and not self.locked

    def why_not_choose(self) -> str:
        if self.mode is PolicyMode.FIXED:
            label = self.permission.label if self.permission else "?"
            return f"An administrator fixed this permission to {label} ({self.source})."
        if self.locked:
            return f"An administrator locked this choice ({self.source})."
        return ""


DEFAULT_POLICY = Policy(
    PolicyMode.USERS_CHOICE, SharingPermission.PRIVATE, False, (), "the default (User's choice)"
)


@dataclass(frozen=True)
class Effective:
    """The permission in force for one mailbox, and everything needed to explain it."""

    account_id: int
    owner: str
    permission: SharingPermission
    excluded_domains: tuple[str, ...]
    shared_with: tuple[str, ...]
    policy: Policy


def normalize_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, trailing dot dropped, IDNA as punycode, de-duplicated, validated; at most
    five ("Public except …"). Each also hides its subdomains: messages store their parents."""
    cleaned: list[str] = []
    for raw in domains:
        for part in re.split(r"[\s,]+", raw.strip().lower()):
            domain = part.lstrip("@").rstrip(".")
            if not domain:
                continue
            if not domain.isascii():  # stored as the messages' domains are: punycode
                # Imported here: mail.parse loads the email package, which every command
                # would otherwise pay for through SharingService().ensure_user().
                from tui.core.mail.parse import UnreadableAddresses, normalize_domain

                with contextlib.suppress(UnreadableAddresses):  # else refused just below
                    domain = normalize_domain(domain)
            if not _DOMAIN.match(domain):
                raise SharingError(f"{part!r} is not a domain name (like example.com)")
            if domain not in cleaned:
                cleaned.append(domain)
    if len(cleaned) > MAX_EXCLUDED_DOMAINS:
        raise SharingError(
            f"At most {MAX_EXCLUDED_DOMAINS} domains can be excluded; {len(cleaned)} were given"
        )
    return tuple(cleaned)


def pack_domains(domains: Sequence[str]) -> str:
    return f" {' '.join(domains)} " if domains else ""


def unpack_domains(packed: str) -> tuple[str, ...]:
    return tuple(packed.split())


def _policy_of_row(row: SharingPolicy, source: str) -> Policy:
    return Policy(
        PolicyMode(row.mode),
        SharingPermission(row.permission) if row.permission else None,
        bool(row.locked),
        unpack_domains(row.excluded_domains),
        source,
    )


class SharingService:
    """Sharing rules as seen by one user (the actor): what they may see, set and change."""

    def __init__(self, actor: str | None = None) -> None:
        self.actor = actor or current_user()

    # users and roles ----------------------------------------------------------------

    def ensure_user(self, name: str | None = None) -> AppUser:
        """Register a user on first use; the first user of a new database is its administrator."""
        name = name or self.actor
        found = registered_user(name)
        if found is not None:
            return found
        with write_transaction(database_proxy.obj):
            first = AppUser.select().count() == 0
            with contextlib.suppress(IntegrityError):  # registered by a concurrent start
                AppUser.insert(name=name, is_admin=first, created_at=utcnow()).execute()
        if first:
            self._audit("user.first_admin", name, "first user of this database")
        return AppUser.get(AppUser.name == name)

    def is_admin(self, name: str | None = None) -> bool:
        user = registered_user(name or self.actor)
        return bool(user and user.is_admin)

    def users(self) -> list[AppUser]:
        return list(AppUser.select().order_by(AppUser.name))

    def admins(self) -> list[str]:
        return [u.name for u in AppUser.select().where(AppUser.is_admin).order_by(AppUser.name)]

    def _require_admin(self, what: str) -> None:
        if not self.is_admin():
            raise NotAllowed(f"Only an administrator can {what}; {self.actor} is not one.")

    def grant_admin(self, name: str) -> None:
        self._require_admin("grant the administrator role")
        self.ensure_user(name)
        AppUser.update(is_admin=True).where(AppUser.name == name).execute()
        self._audit("role.grant", name, "admin")

    def revoke_admin(self, name: str) -> None:
        self._require_admin("revoke the administrator role")
        if self.admins() == [name]:
            raise SharingError(f"{name} is the last administrator; grant the role to someone first")
        AppUser.update(is_admin=False).where(AppUser.name == name).execute()
        self._audit("role.revoke", name, "admin")

    def role_of(self, name: str) -> Role:
        return Role.ADMIN if self.is_admin(name) else Role.USER

    # policies -----------------------------------------------------------------------

    def policy_for(self, owner: str) -> Policy:
        """The user's own policy if an administrator set one, else their role's, else default."""
        row = SharingPolicy.get_or_none(
            (SharingPolicy.scope_kind == "user") & (SharingPolicy.scope == owner)
        )
        if row is None:
            return self.role_policy(self.role_of(owner))
        return _policy_of_row(row, f"set for {owner}")

    def role_policy(self, role: Role) -> Policy:
        """The policy set for a role (for its members without their own), else the default."""
        row = SharingPolicy.get_or_none(
            (SharingPolicy.scope_kind == "role") & (SharingPolicy.scope == role.value)
        )
        return _policy_of_row(row, f"set for the role {role.value}") if row else DEFAULT_POLICY

    def set_policy(
        self,
        *,
        scope_kind: str,
        scope: str,
        mode: PolicyMode,
        permission: SharingPermission | None = None,
        locked: bool = False,
        excluded_domains: Iterable[str] = (),
    ) -> None:
        """Set (or replace) the policy for a user or a role; administrators only; audited."""
        self._require_admin("set sharing policies")
        if scope_kind not in {"user", "role"}:
            raise SharingError("A policy applies to a user or to a role")
        if scope_kind == "role" and scope not in {r.value for r in Role}:
            raise SharingError(f"Unknown role {scope!r}: the roles are admin and user")
        if mode is PolicyMode.FIXED and permission is None:
            raise SharingError("A fixed policy needs a permission")
        domains = normalize_domains(excluded_domains)
        if domains and permission is not SharingPermission.PUBLIC:
            raise SharingError("Excluded domains only apply to the Public permission")
        values: dict[Any, Any] = {
            SharingPolicy.mode: mode.value,
            SharingPolicy.permission: permission.value if permission else None,
            SharingPolicy.locked: locked,
            SharingPolicy.excluded_domains: pack_domains(domains),
            SharingPolicy.updated_by: self.actor,
            SharingPolicy.updated_at: utcnow(),
        }
        with database_proxy.atomic():
            updated = (
                SharingPolicy.update(values)
                .where((SharingPolicy.scope_kind == scope_kind) & (SharingPolicy.scope == scope))
                .execute()
            )
            if not updated:
                SharingPolicy.insert(
                    {SharingPolicy.scope_kind: scope_kind, SharingPolicy.scope: scope, **values}
                ).execute()
            detail = f"mode={mode.value}"
            if permission:
                detail += f" permission={permission.value}"
            detail += f" locked={locked}"
            if domains:
                detail += f" excluded={','.join(domains)}"
            self._audit("policy.set", f"{scope_kind}:{scope}", detail)

    def clear_policy(self, *, scope_kind: str, scope: str) -> None:
        self._require_admin("change sharing policies")
        SharingPolicy.delete().where(
            (SharingPolicy.scope_kind == scope_kind) & (SharingPolicy.scope == scope)
        ).execute()
        self._audit("policy.clear", f"{scope_kind}:{scope}", "")

    def policies(self) -> list[SharingPolicy]:
        return list(SharingPolicy.select().order_by(SharingPolicy.scope_kind, SharingPolicy.scope))

    # a mailbox's permission ---------------------------------------------------------

    def effective(self, account: Account) -> Effective:
        policy = self.policy_for(account.owner)
        shared_with = tuple(
            s.grantee
            for s in AccountShare.select()
            .where(AccountShare.account == account.id)
            .order_by(AccountShare.grantee)
        )
        if policy.mode is PolicyMode.FIXED and policy.permission is not None:
            permission = policy.permission
            domains = policy.excluded_domains
        else:
            permission = SharingPermission(account.sharing)
            domains = unpack_domains(account.excluded_domains)
        if permission is not SharingPermission.PUBLIC:
            domains = ()
        return Effective(account.id, account.owner, permission, domains, shared_with, policy)

    def set_account_permission(
        self,
        account: Account,
        permission: SharingPermission,
        *,
        shared_with: Iterable[str] = (),
        excluded_domains: Iterable[str] = (),
    ) -> Effective:
        """The owner's pick, allowed only under an unlocked User's choice; audited."""
        if account.owner != self.actor:
            raise NotAllowed("Only the mailbox's owner chooses its sharing permission")
        policy = self.policy_for(account.owner)
        if not policy.user_may_choose:
            raise NotAllowed(policy.why_not_choose())
        domains = normalize_domains(excluded_domains)
        if domains and permission is not SharingPermission.PUBLIC:
            raise SharingError("Excluded domains only apply to the Public permission")
        grantees = sorted({g.strip() for g in shared_with if g.strip()} - {account.owner})
        if permission is SharingPermission.CUSTOM and not grantees:
            raise SharingError("Custom sharing needs at least one user to share with")
        with database_proxy.atomic():
            Account.update(
                sharing=permission.value,
                excluded_domains=pack_domains(domains),
                updated_at=utcnow(),
            ).where(Account.id == account.id).execute()
            AccountShare.delete().where(AccountShare.account == account.id).execute()
            if permission is SharingPermission.CUSTOM:
                for grantee in grantees:
                    AccountShare.insert(account=account.id, grantee=grantee).execute()
            detail = permission.value
            if grantees and permission is SharingPermission.CUSTOM:
                detail += f" with={','.join(grantees)}"
            if domains:
                detail += f" excluded={','.join(domains)}"
            self._audit("account.sharing", f"{account.owner}/{account.name}", detail)
        return self.effective(Account.get_by_id(account.id))

    # who sees what ------------------------------------------------------------------

    def can_view_account(self, effective: Effective, viewer: str | None = None) -> bool:
        viewer = viewer or self.actor
        if viewer == effective.owner:
            return True
        permission = effective.permission
        if permission is SharingPermission.PUBLIC:
            return True
        if permission is SharingPermission.CUSTOM:
            return viewer in effective.shared_with
        if permission is SharingPermission.ADMIN:
            return self.is_admin(viewer)
        return False

    def viewers_in_words(self, effective: Effective) -> str:
        """Who can therefore see this mailbox's mail, in plain words."""
        owner = effective.owner
        permission = effective.permission
        if permission is SharingPermission.PRIVATE:
            return f"Only {owner}."
        if permission is SharingPermission.PUBLIC:
            text = f"Every user of this database ({owner} and everyone else)."
            if effective.excluded_domains:
                domains = ", ".join(effective.excluded_domains)
                text += f" Mail to or from {domains} stays visible only to {owner}."
            return text
        if permission is SharingPermission.CUSTOM:
            others = ", ".join(effective.shared_with) or "nobody yet"
            return f"{owner} and the users it is shared with: {others}."
        admins = [a for a in self.admins() if a != owner]
        names = ", ".join(admins) if admins else "no other administrator yet"
        return f"{owner} and the administrators ({names})."

    def visible_accounts(self, viewer: str | None = None) -> list[tuple[Account, Effective]]:
        """The mailboxes whose mail `viewer` may read: their own and those shared with them."""
        viewer = viewer or self.actor
        result = []
        for account in Account.select().order_by(Account.owner, Account.name):
            effective = self.effective(account)
            if self.can_view_account(effective, viewer):
                result.append((account, effective))
        return result

    def view_of(self, account: Account, viewer: str | None = None) -> MailboxView:
        """What `viewer` sees of `account`'s mail, the one rule for the browser, `poptui messages
        list` and the tests: the owner sees it all; someone it is shared with sees it
        read-only, without mail to or from its excluded domains. Raises `NotAllowed` when it is
        neither theirs nor shared with them."""
        viewer = viewer or self.actor
        if viewer == account.owner:
            return MailboxView(int(account.id))
        effective = self.effective(account)
        if not self.can_view_account(effective, viewer):
            raise NotAllowed(f"{account.owner}'s mailbox {account.name!r} is not shared with you.")
        return MailboxView(int(account.id), effective.excluded_domains, read_only=True)

    # audit ----------------------------------------------------------------------------

    def _audit(self, action: str, target: str, detail: str) -> None:
        AuditLog.insert(
            at=utcnow(), actor=self.actor, action=action, target=target, detail=detail
        ).execute()

    def audit_log(self, limit: int = 50) -> list[AuditLog]:
        return list(AuditLog.select().order_by(AuditLog.id.desc()).limit(limit))
