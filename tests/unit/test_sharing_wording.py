"""The sentences the app and the CLI word sharing with (`tui.core.sharing.wording`), checked
against what the sharing service really stored: policies read back, audit entries it wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tui.core.settings import AccountSettings, SharingPermission
from tui.core.sharing.rules import DEFAULT_POLICY, PolicyMode, Role, SharingService
from tui.core.sharing.wording import (
    audit_in_words,
    local_time,
    permission_in_words,
    policy_in_words,
    policy_rule,
    policy_source,
)
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import AuditLog

ADMIN = "admin1"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SharingService]:
    db: Any = open_database(f"sqlite:///{tmp_path}/wording.db")
    admin = SharingService(ADMIN)
    admin.ensure_user()  # the first user: the administrator
    SharingService("bob").ensure_user()
    yield admin
    db.close()


def newest_entry() -> AuditLog:
    return AuditLog.select().order_by(AuditLog.id.desc()).get()


def test_permissions_in_words() -> None:
    assert permission_in_words(SharingPermission.PRIVATE) == "Private"
    assert permission_in_words(SharingPermission.PUBLIC, ("rival.com", "press.example")) == (
        "Public, except mail to or from rival.com, press.example"
    )
    assert permission_in_words(SharingPermission.CUSTOM) == "Custom (shared with nobody yet)"
    assert permission_in_words(SharingPermission.CUSTOM, (), ("carol\x1b[31m",)) == (
        "Custom (shared with carol)"
    )


def test_policies_in_words_as_stored_for_a_user_and_a_role(service: SharingService) -> None:
    assert policy_in_words(service.policy_for("bob")) == (
        "User's choice — the default (no policy set)"
    )
    assert policy_source(DEFAULT_POLICY) == "the default (no policy set)"
    service.set_policy(
        scope_kind="role",
        scope="user",
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PUBLIC,
        excluded_domains=["rival.com"],
        locked=True,
    )
    role_policy = service.role_policy(Role.USER)
    assert role_policy == service.policy_for("bob")  # bob inherits it
    assert policy_in_words(role_policy) == (
        "Fixed to Public, except rival.com, locked — set for the role user"
    )
    assert service.role_policy(Role.ADMIN) is DEFAULT_POLICY

    service.set_policy(scope_kind="user", scope="bob", mode=PolicyMode.USERS_CHOICE, locked=True)
    assert policy_rule(service.policy_for("bob")) == "User's choice, locked"
    assert policy_source(service.policy_for("bob")) == "set for bob"


def test_audit_entries_in_words(service: SharingService) -> None:
    assert audit_in_words(newest_entry()) == (
        "became the administrator (first user of this database)"
    )
    service.grant_admin("bob")
    assert audit_in_words(newest_entry()) == "made bob an administrator"
    service.revoke_admin("bob")
    assert audit_in_words(newest_entry()) == "took the administrator role from bob"
    service.set_policy(
        scope_kind="role",
        scope="user",
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PUBLIC,
        excluded_domains=["rival.com", "press.example"],
        locked=True,
    )
    assert audit_in_words(newest_entry()) == (
        "set the policy for the role user: fixed to Public, except rival.com, press.example, locked"
    )
    service.clear_policy(scope_kind="role", scope="user")
    assert audit_in_words(newest_entry()) == "cleared the policy for the role user"

    account = AccountStore(ADMIN).create(
        AccountSettings(name="Team", email="t@corp.example", incoming_host="pop.corp.example")
    )
    service.set_account_permission(account, SharingPermission.CUSTOM, shared_with=["bob"])
    assert audit_in_words(newest_entry()) == "set the sharing of admin1/Team to Custom with bob"


def test_an_unknown_audit_entry_is_told_as_stored_but_clean() -> None:
    entry = AuditLog(action="future.thing", target="x\x1b]52;c;ZXZpbA==\x07y", detail="a=b")
    assert audit_in_words(entry) == "future.thing xy a=b"


def test_local_time_is_to_the_minute_in_the_local_zone() -> None:
    stored = datetime(2025, 3, 14, 9, 30, 59)
    local = stored.replace(tzinfo=UTC).astimezone()
    assert local_time(stored) == local.strftime("%Y-%m-%d %H:%M")
