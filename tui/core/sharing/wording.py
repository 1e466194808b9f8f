"""Sharing permissions, policies and audit entries in plain words, for the app and the CLI alike.

Everything returned is clean text (user and domain names pass through `clean`), ready for a
`Content`, a table cell or a terminal line; nothing here knows how it will be shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tui.core.settings import SharingPermission
from tui.core.sharing.rules import DEFAULT_POLICY, Policy, PolicyMode
from tui.core.storage.models import AuditLog
from tui.core.text import clean


def permission_in_words(
    permission: SharingPermission,
    excluded_domains: Sequence[str] = (),
    shared_with: Sequence[str] = (),
) -> str:
    """ "Public, except mail to or from rival.com", "Custom (shared with carol)", "Private"."""
    text = permission.label
    if permission is SharingPermission.PUBLIC and excluded_domains:
        text += f", except mail to or from {', '.join(excluded_domains)}"
    if permission is SharingPermission.CUSTOM:
        text += f" (shared with {', '.join(shared_with) or 'nobody yet'})"
    return clean(text)


def policy_rule(policy: Policy) -> str:
    """The rule alone: "User's choice", "Fixed to Public, except rival.com", with ", locked"."""
    if policy.mode is PolicyMode.USERS_CHOICE:
        text = "User's choice"
    else:
        label = policy.permission.label if policy.permission else "?"
        text = f"Fixed to {label}"
        if policy.excluded_domains:
            text += f", except {', '.join(policy.excluded_domains)}"
    if policy.locked:
        text += ", locked"
    return clean(text)


def policy_source(policy: Policy) -> str:
    """Where the policy comes from: "set for bob", "the default (no policy set)"."""
    if policy.source == DEFAULT_POLICY.source:
        return "the default (no policy set)"
    return clean(policy.source)


def policy_in_words(policy: Policy) -> str:
    """ "Fixed to Private, locked — set for the role user"."""
    return f"{policy_rule(policy)} — {policy_source(policy)}"


def _permission_label(value: str) -> str:
    try:
        return SharingPermission(value).label
    except ValueError:
        return clean(value)


def audit_in_words(entry: AuditLog) -> str:
    """What an audit entry did, as a sentence whose subject is its actor."""
    action = str(entry.action)
    target = clean(str(entry.target))
    detail = clean(str(entry.detail))
    tokens = detail.split()
    fields = dict(token.split("=", 1) for token in tokens if "=" in token)
    excluded = ", ".join(fields.get("excluded", "").split(","))
    if action == "user.first_admin":
        return "became the administrator (first user of this database)"
    if action == "role.grant":
        return f"made {target} an administrator"
    if action == "role.revoke":
        return f"took the administrator role from {target}"
    if action in {"policy.set", "policy.clear"}:
        kind, _, scope = target.partition(":")
        who = f"the role {scope}" if kind == "role" else scope
        if action == "policy.clear":
            return f"cleared the policy for {who}"
        if fields.get("mode") == PolicyMode.USERS_CHOICE.value:
            rule = "User's choice"
        else:
            rule = f"fixed to {_permission_label(fields.get('permission', '?'))}"
        if excluded:
            rule += f", except {excluded}"
        if fields.get("locked") == "True":
            rule += ", locked"
        return f"set the policy for {who}: {rule}"
    if action == "account.sharing" and tokens:
        what = _permission_label(tokens[0])
        if fields.get("with"):
            what += f" with {', '.join(fields['with'].split(','))}"
        if excluded:
            what += f", except {excluded}"
        return f"set the sharing of {target} to {what}"
    return f"{clean(action)} {target} {detail}".strip()


def local_time(at: datetime) -> str:
    """A stored (naive UTC) time in the local time zone, to the minute."""
    return f"{at.replace(tzinfo=UTC).astimezone():%Y-%m-%d %H:%M}"
