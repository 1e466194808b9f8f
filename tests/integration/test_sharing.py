"""Who sees which mail, for every permission and excluded domains: through the app's queries on
SQLite and PostgreSQL, and through raw SQL as each PostgreSQL role (row-level security)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.postgres import PostgresError, PostgresServer
from tui.core.settings import AccountSettings, SharingPermission
from tui.core.sharing.postgres_rls import set_role_password, setup_team_database
from tui.core.sharing.rules import NotAllowed, PolicyMode, SharingError, SharingService
from tui.core.storage import queries as message_query
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Message, MessageSource, database_proxy

USERS = ("alice", "bob", "carol", "dave")
"""alice: the administrator; bob owns the mailbox; carol and dave are other users."""
SUBJECTS = {
    "partner": ("x@partner.com", "Offer from the partner"),
    "secret": ("y@secret.org", "Confidential from secret.org"),
    "internal": ("z@corp.example", "Lunch on Friday"),
}


class Team:
    """One database, and a way to act as each user on it."""

    def __init__(self, connect: Callable[[str], Any], raw: Callable[[str, str], str]) -> None:
        self.connect = connect
        self.raw = raw
        self.account_id = 0

    def as_user(self, name: str) -> SharingService:
        self.connect(name)
        service = SharingService(name)
        service.ensure_user()
        return service

    def subjects_seen_by(self, name: str) -> set[str]:
        service = self.as_user(name)
        account = AccountStoreAny().get_by_id(self.account_id)
        if account is None:
            return set()
        return seen_through_the_app(service, account, name)


def seen_through_the_app(service: SharingService, account: Any, viewer: str) -> set[str]:
    """The subjects the browser (and `poptui messages list`) shows `viewer`: the view sharing
    gives them, listed by the message queries; nothing when it is not shared with them."""
    try:
        view = service.view_of(account, viewer)
    except NotAllowed:
        return set()
    return {row.subject for row in message_query.first_page(view, 1000)}


class AccountStoreAny:
    """Reads an account whoever owns it (the app's sharing queries start from the account)."""

    def get_by_id(self, account_id: int) -> Any:
        from tui.core.storage.models import Account

        return Account.get_or_none(Account.id == account_id)


def _populate(team: Team) -> None:
    team.as_user("alice")  # the first user becomes the administrator
    for name in ("bob", "carol", "dave"):
        team.as_user(name)
    team.connect("bob")
    store = AccountStore("bob")
    account = store.create(
        AccountSettings(
            name="BobBox",
            email="bob@corp.example",
            incoming_host="pop.corp.example",
            username="bob",
        )
    )
    team.account_id = account.id
    for key, (sender, subject) in SUBJECTS.items():
        raw = f"From: {sender}\r\nTo: bob@corp.example\r\nSubject: {subject}\r\n\r\nhi\r\n"
        from tui.core.mail.parse import summarize

        summary = summarize(raw.encode())
        message = Message.create(
            account=account,
            uidl=key,
            size=len(raw),
            subject=subject,
            from_addr=sender,
            party_domains=summary.party_domains,
        )
        MessageSource.create(message=message, raw=raw.encode())


@pytest.fixture
def sqlite_team(tmp_path: Path) -> Iterator[Team]:
    url = f"sqlite:///{tmp_path}/team.db"

    def connect(name: str) -> None:
        if database_proxy.obj is None or database_proxy.obj.database != f"{tmp_path}/team.db":
            open_database(url)

    team = Team(connect, lambda user, sql: "")
    connect("alice")
    _populate(team)
    yield team
    database_proxy.obj.close()


@pytest.fixture
def postgres_team(postgres_server: PostgresServer) -> Iterator[Team]:
    name = "team_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(name)
    suffix = uuid.uuid4().hex[:6]
    roles = {user: f"{user}_{suffix}" for user in USERS}
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    superuser = postgres_server.url(name)
    setup_team_database(superuser, roles.values())
    for user in USERS:
        set_role_password(superuser, roles[user], passwords[user])
    current: dict[str, Any] = {}

    def connect(user: str) -> None:
        if current.get("user") == user:
            return
        if current.get("db") is not None:
            current["db"].close()
        current["db"] = open_database(postgres_server.url(name, roles[user], passwords[user]))
        current["user"] = user

    def raw(user: str, sql: str) -> str:
        return postgres_server.psql(sql, name, roles[user], password=passwords[user])

    team = Team(connect, raw)
    team.roles = roles  # type: ignore[attr-defined]
    # Inside the database each person is their role; the test speaks of them by short names.

    def as_user(name: str) -> SharingService:
        connect(name)
        service = SharingService(roles[name])
        service.ensure_user()
        return service

    team.as_user = as_user  # type: ignore[method-assign]

    def subjects_seen_by(name: str) -> set[str]:
        service = as_user(name)
        account = AccountStoreAny().get_by_id(team.account_id)
        if account is None:
            return set()
        return seen_through_the_app(service, account, roles[name])

    team.subjects_seen_by = subjects_seen_by  # type: ignore[method-assign]
    connect("alice")
    as_user("alice")
    for user in ("bob", "carol", "dave"):
        as_user(user)
    connect("bob")
    account = AccountStore(roles["bob"]).create(
        AccountSettings(
            name="BobBox",
            email="bob@corp.example",
            incoming_host="pop.corp.example",
            username="bob",
        )
    )
    team.account_id = account.id
    from tui.core.mail.parse import summarize

    for key, (sender, subject) in SUBJECTS.items():
        text = f"From: {sender}\r\nTo: bob@corp.example\r\nSubject: {subject}\r\n\r\nhi\r\n"
        message = Message.create(
            account=account,
            uidl=key,
            size=len(text),
            subject=subject,
            from_addr=sender,
            party_domains=summarize(text.encode()).party_domains,
        )
        MessageSource.create(message=message, raw=text.encode())
    yield team
    if current.get("db") is not None:
        current["db"].close()


@pytest.fixture(params=["sqlite", "postgres"])
def team(request: pytest.FixtureRequest) -> Team:
    return request.getfixturevalue(f"{request.param}_team")  # type: ignore[no-any-return]


def name_of(team: Team, user: str) -> str:
    roles = getattr(team, "roles", None)
    return roles[user] if roles else user


def raw_subjects(team: Team, user: str) -> set[str] | None:
    """Subjects `user` reads with plain SQL (PostgreSQL only; None on SQLite)."""
    if not getattr(team, "roles", None):
        return None
    text = team.raw(user, "SELECT subject FROM message")
    return {line.strip() for line in text.splitlines() if line.strip()}


def bob_sets(team: Team, permission: SharingPermission, **kwargs: Any) -> None:
    service = team.as_user("bob")
    from tui.core.storage.models import Account

    account = Account.get_by_id(team.account_id)
    if "shared_with" in kwargs:
        kwargs["shared_with"] = [name_of(team, u) for u in kwargs["shared_with"]]
    service.set_account_permission(account, permission, **kwargs)


ALL = {s for _, s in SUBJECTS.values()}
NOT_SECRET = ALL - {SUBJECTS["secret"][1]}


@pytest.mark.parametrize(
    ("permission", "options", "expected"),
    [
        (
            SharingPermission.PRIVATE,
            {},
            {"bob": ALL, "alice": set(), "carol": set(), "dave": set()},
        ),
        (SharingPermission.PUBLIC, {}, {"bob": ALL, "alice": ALL, "carol": ALL, "dave": ALL}),
        (
            SharingPermission.PUBLIC,
            {"excluded_domains": ["secret.org", "other.net"]},
            {"bob": ALL, "alice": NOT_SECRET, "carol": NOT_SECRET, "dave": NOT_SECRET},
        ),
        (
            SharingPermission.CUSTOM,
            {"shared_with": ["carol"]},
            {"bob": ALL, "alice": set(), "carol": ALL, "dave": set()},
        ),
        (SharingPermission.ADMIN, {}, {"bob": ALL, "alice": ALL, "carol": set(), "dave": set()}),
    ],
)
def test_who_sees_which_messages(
    team: Team,
    permission: SharingPermission,
    options: dict[str, Any],
    expected: dict[str, set[str]],
) -> None:
    bob_sets(team, permission, **options)
    for user, subjects in expected.items():
        assert team.subjects_seen_by(user) == subjects, f"{user} through the app"
        through_sql = raw_subjects(team, user)
        if through_sql is not None:
            assert through_sql == subjects, f"{user} through raw SQL"


def test_a_fixed_policy_overrides_the_owners_choice(team: Team) -> None:
    bob_sets(team, SharingPermission.PRIVATE)
    admin = team.as_user("alice")
    admin.set_policy(
        scope_kind="user",
        scope=name_of(team, "bob"),
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PUBLIC,
        excluded_domains=["partner.com"],
    )
    expected = ALL - {SUBJECTS["partner"][1]}
    assert team.subjects_seen_by("carol") == expected
    assert raw_subjects(team, "carol") in (None, expected)
    with pytest.raises(NotAllowed, match="fixed"):
        bob_sets(team, SharingPermission.PRIVATE)


def test_role_policies_apply_to_everyone_in_the_role(team: Team) -> None:
    team.as_user("alice").set_policy(
        scope_kind="role", scope="user", mode=PolicyMode.FIXED, permission=SharingPermission.ADMIN
    )
    assert team.subjects_seen_by("alice") == ALL
    assert team.subjects_seen_by("carol") == set()


def test_locked_choice_cannot_be_changed_by_the_user(team: Team) -> None:
    bob_sets(team, SharingPermission.PRIVATE)
    team.as_user("alice").set_policy(
        scope_kind="user", scope=name_of(team, "bob"), mode=PolicyMode.USERS_CHOICE, locked=True
    )
    with pytest.raises(NotAllowed, match="locked"):
        bob_sets(team, SharingPermission.PUBLIC)
    if getattr(team, "roles", None):
        with pytest.raises(PostgresError, match="set by an administrator"):
            team.raw("bob", "UPDATE account SET sharing = 'public'")
    assert team.subjects_seen_by("carol") == set()


def test_only_administrators_change_policy_and_roles(team: Team) -> None:
    carol = team.as_user("carol")
    with pytest.raises(NotAllowed, match="Only an administrator"):
        carol.set_policy(scope_kind="role", scope="user", mode=PolicyMode.USERS_CHOICE)
    with pytest.raises(NotAllowed):
        carol.grant_admin(name_of(team, "carol"))
    if getattr(team, "roles", None):
        with pytest.raises(PostgresError, match="row-level security"):
            team.raw(
                "carol",
                "INSERT INTO sharing_policy (scope_kind, scope, mode, permission, locked, "
                "excluded_domains, updated_by, updated_at) VALUES ('role', 'user', 'fixed', "
                "'public', false, '', 'carol', now())",
            )
        team.raw(
            "carol", f"UPDATE app_user SET is_admin = true WHERE name = '{name_of(team, 'carol')}'"
        )
    assert not team.as_user("alice").is_admin(name_of(team, "carol"))
    admin = team.as_user("alice")
    admin.grant_admin(name_of(team, "carol"))
    assert admin.is_admin(name_of(team, "carol"))
    admin.revoke_admin(name_of(team, "carol"))
    with pytest.raises(SharingError, match="last administrator"):
        admin.revoke_admin(name_of(team, "alice"))
    actions = [entry.action for entry in admin.audit_log()]
    assert actions[:2] == ["role.revoke", "role.grant"]


def test_changes_are_audited(team: Team) -> None:
    bob_sets(team, SharingPermission.CUSTOM, shared_with=["carol"])
    team.as_user("alice").set_policy(
        scope_kind="user",
        scope=name_of(team, "dave"),
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PRIVATE,
        locked=True,
    )
    log = team.as_user("alice").audit_log()
    entries = [(e.actor, e.action, e.target, e.detail) for e in log[:2]]
    assert entries[0][:3] == (name_of(team, "alice"), "policy.set", f"user:{name_of(team, 'dave')}")
    assert "permission=private" in entries[0][3] and "locked=True" in entries[0][3]
    assert entries[1][:2] == (name_of(team, "bob"), "account.sharing")
    assert entries[1][3] == f"custom with={name_of(team, 'carol')}"


def test_excluded_domains_are_validated(team: Team) -> None:
    with pytest.raises(SharingError, match="At most 5"):
        bob_sets(team, SharingPermission.PUBLIC, excluded_domains=[f"d{i}.com" for i in range(6)])
    with pytest.raises(SharingError, match="not a domain"):
        bob_sets(team, SharingPermission.PUBLIC, excluded_domains=["not a domain!"])
    with pytest.raises(SharingError, match="only apply to the Public"):
        bob_sets(team, SharingPermission.PRIVATE, excluded_domains=["a.com"])


def test_private_sources_are_unreadable_with_raw_sql(postgres_team: Team) -> None:
    bob_sets(postgres_team, SharingPermission.PRIVATE)
    assert postgres_team.raw("carol", "SELECT count(*) FROM message_source").strip() == "0"
    assert postgres_team.raw("carol", "SELECT count(*) FROM account").strip() == "0"
    assert postgres_team.raw("bob", "SELECT count(*) FROM message_source").strip() == "3"
    with pytest.raises(PostgresError):
        postgres_team.raw("carol", "UPDATE message SET subject = 'x'; SELECT 1/0")
    assert postgres_team.raw("carol", "DELETE FROM message RETURNING id").strip() == ""


def test_setup_postgres_command(postgres_server: PostgresServer) -> None:
    import subprocess
    import sys

    name = "setup_" + uuid.uuid4().hex[:10]
    postgres_server.create_database(name)
    login = "erin_" + uuid.uuid4().hex[:6]
    command = [
        sys.executable,
        "-m",
        "tui",
        "--database",
        postgres_server.url(name),
        "admin",
        "setup-postgres",
        "--user",
        login,
        "--admin",
        login,
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"created login role {login}" in first.stdout
    assert "row-level security enabled" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr  # idempotent
    assert f"created login role {login}" not in again.stdout
    rls = postgres_server.psql(
        "SELECT count(*) FROM pg_class WHERE relname IN ('account', 'message') AND relrowsecurity",
        name,
    )
    assert rls.strip() == "2"
    admin = postgres_server.psql(f"SELECT is_admin FROM app_user WHERE name = '{login}'", name)
    assert admin.strip() == "t"
    # Nobody but the owner may create objects that could shadow what the policies call.
    creatable = postgres_server.psql(
        "SELECT has_database_privilege('public', current_database(), 'TEMP'),"
        " has_schema_privilege('public', 'public', 'CREATE')",
        name,
    )
    assert creatable.strip() == "f|f"
