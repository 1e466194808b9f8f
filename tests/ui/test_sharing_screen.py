"""The sharing-permission view (x on the mailbox list) and the administrators' policy editor:
driven by keys as different users of one database, plus SVG snapshots.

admin1 registers first and so is the database's administrator; bob and carol are users. Each
test builds the app as one of them (`make_app(owner=...)`) and seeds the others straight through
`SharingService(actor)` / `AccountStore(owner)`. Regenerate the snapshots with
`pytest tests/ui/test_sharing_screen.py --snapshot-update` and look at them before accepting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RadioButton, RadioSet, SelectionList, Static

from tests.ui.conftest import NOW, FakeTester, disable_cursor_blink, fixed_clock, type_text
from tui.app import PoptuiApp, make_app
from tui.core.secrets import MemoryStore
from tui.core.settings import AccountSettings, SharingPermission
from tui.core.sharing.rules import PolicyMode, SharingService
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, AccountShare, AuditLog, database_proxy
from tui.screens.mailbox_list import MailboxListScreen
from tui.screens.sharing import SharingPermissionScreen
from tui.screens.sharing_admin import SharingPolicyEditorScreen
from tui.widgets.status_line import StatusLine

ADMIN = "admin1"
BOB = "bob"
CAROL = "carol"
SnapCompare = Callable[..., bool]
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
AppAs = Callable[[str], PoptuiApp]


@pytest.fixture
def app_as(db_path: Path, secrets: MemoryStore, tester: FakeTester) -> Iterator[AppAs]:
    """Builds the app for one user on a fresh SQLite file (open once the factory ran)."""

    def build(owner: str) -> PoptuiApp:
        return make_app(
            f"sqlite:///{db_path}", secrets=secrets, tester=tester, clock=fixed_clock, owner=owner
        )

    yield build
    if database_proxy.obj is not None:
        database_proxy.close()


def seed_team() -> None:
    for name in (ADMIN, BOB, CAROL):
        SharingService(name).ensure_user()  # the first one becomes the administrator


def add_mailbox(owner: str, name: str = "Work") -> Account:
    domain = "corp.example"
    return AccountStore(owner).create(
        AccountSettings(
            name=name,
            email=f"{owner}@{domain}",
            incoming_host=f"pop.{domain}",
            username=f"{owner}@{domain}",
        )
    )


def fix_audit_times() -> None:
    """The core stamps audit entries with the real clock; snapshots need a fixed one."""
    AuditLog.update(at=NOW).execute()


def text_of(app: PoptuiApp, selector: str) -> str:
    widget = app.screen.query_one(selector)
    if isinstance(widget, StatusLine):
        widget = widget.query_one(".status-text")
    assert isinstance(widget, Static)
    return str(widget.render())


def stored(account: Account) -> tuple[str, str, list[str]]:
    row = Account.get_by_id(account.id)
    shares = [s.grantee for s in AccountShare.select().where(AccountShare.account == account.id)]
    return row.sharing, row.excluded_domains.strip(), sorted(shares)


def pressed(app: PoptuiApp, selector: str) -> str | None:
    button = app.screen.query_one(selector, RadioSet).pressed_button
    return button.id if button is not None else None


async def open_sharing(pilot: Pilot[None]) -> SharingPermissionScreen:
    await pilot.pause()
    await pilot.press("x")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SharingPermissionScreen)
    return screen


async def choose_permission(pilot: Pilot[None], permission: SharingPermission) -> None:
    """With the radio set focused: walk down to the permission and press Space, like a user."""
    radio = pilot.app.screen.query_one("#permission", RadioSet)
    assert radio.has_focus
    order = list(SharingPermission)
    target = order.index(permission)
    current = radio._selected if radio._selected is not None else 0
    await pilot.press(*(["down"] * (target - current) or ["up"] * (current - target)))
    await pilot.press("space")
    await pilot.pause()


# ---------------------------------------------------------------------- the owner's view


async def test_owner_picks_public_excluding_a_domain(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        assert "User's choice" in text_of(app, "#policy-text")
        assert text_of(app, "#policy-text") == "User's choice — the default (no policy set)"
        assert text_of(app, "#in-force-text") == "Private"
        assert text_of(app, "#viewers-text") == "Only bob."
        assert not app.screen.query_one("#not-allowed").display
        assert not app.screen.query_one("#open-policies").display

        await choose_permission(pilot, SharingPermission.PUBLIC)
        assert app.screen.query_one("#public-section").display
        assert not app.screen.query_one("#custom-section").display
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#excluded-domains", Input)
        await type_text(pilot, "rival.com")
        await pilot.press("ctrl+s")
        await pilot.pause()

        assert stored(account) == ("public", "rival.com", [])
        assert text_of(app, "#in-force-text") == "Public, except mail to or from rival.com"
        viewers = text_of(app, "#viewers-text")
        assert viewers.startswith("Every user of this database (bob and everyone else).")
        assert "Mail to or from rival.com stays visible only to bob." in viewers
        assert "Saved: Public, except mail to or from rival.com." in text_of(app, "#save-status")
        entry = AuditLog.select().order_by(AuditLog.id.desc()).get()
        assert (entry.actor, entry.action, entry.detail) == (
            BOB,
            "account.sharing",
            "public excluded=rival.com",
        )

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)


async def test_bad_domains_are_reported_inline_and_nothing_is_saved(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await choose_permission(pilot, SharingPermission.PUBLIC)
        domains = app.screen.query_one("#excluded-domains", Input)
        domains.focus()
        domains.value = "rival.com, not_a domain!"
        await pilot.pause()
        assert app.screen.query_one("#excluded-domains-error").display
        assert "is not a domain name" in text_of(app, "#excluded-domains-error")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert stored(account) == ("private", "", [])

        domains.value = "a.com b.com c.com d.com e.com f.com"
        await pilot.pause()
        assert "At most 5 domains" in text_of(app, "#excluded-domains-error")
        await pilot.press("enter")  # Enter in the field saves too
        await pilot.pause()
        assert stored(account) == ("private", "", [])

        domains.value = "@Rival.COM, partner.org"
        await pilot.pause()
        assert not app.screen.query_one("#excluded-domains-error").display
        await pilot.press("enter")
        await pilot.pause()
        assert stored(account) == ("public", "rival.com partner.org", [])


async def test_owner_shares_with_chosen_users(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await choose_permission(pilot, SharingPermission.CUSTOM)
        assert app.screen.query_one("#custom-section").display
        selection = app.screen.query_one("#share-with", SelectionList)
        names = [str(selection.get_option_at_index(i).prompt) for i in range(2)]
        assert names == [ADMIN, CAROL]  # everyone but the owner

        await pilot.press("ctrl+s")  # nobody ticked yet
        await pilot.pause()
        assert "at least one user" in text_of(app, "#share-with-error")
        assert stored(account) == ("private", "", [])

        await pilot.press("tab")
        assert app.focused is selection
        await pilot.press("down", "space")
        await pilot.pause()
        assert selection.selected == [CAROL]
        assert not app.screen.query_one("#share-with-error").display
        await pilot.press("ctrl+s")
        await pilot.pause()

        assert stored(account) == ("custom", "", [CAROL])
        assert text_of(app, "#in-force-text") == "Custom (shared with carol)"
        assert text_of(app, "#viewers-text") == "bob and the users it is shared with: carol."
        carol = SharingService(CAROL)
        assert carol.can_view_account(carol.effective(Account.get_by_id(account.id)))


async def test_fixed_by_the_administrator_disables_the_choice(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    SharingService(ADMIN).set_policy(
        scope_kind="role",
        scope="user",
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PUBLIC,
        excluded_domains=["rival.com"],
    )
    audit_before = AuditLog.select().count()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sharing(pilot)
        reason = text_of(app, "#not-allowed")
        assert app.screen.query_one("#not-allowed").display
        assert "An administrator fixed this permission to Public (set for the role user)." in reason
        assert "To change it, ask an administrator (admin1)." in reason
        assert text_of(app, "#policy-text") == (
            "Fixed to Public, except rival.com — set for the role user"
        )
        assert text_of(app, "#in-force-text") == "Public, except mail to or from rival.com"
        radio = app.screen.query_one("#permission", RadioSet)
        assert radio.disabled
        assert app.screen.query_one("#save").disabled
        assert app.screen.query_one("#excluded-domains").disabled
        assert pressed(app, "#permission") == "permission-public"
        assert screen.check_action("save", ()) is None  # dimmed in the footer

        # Every way of changing it does nothing.
        await pilot.click("#permission-private")
        await pilot.press("tab", "down", "space", "ctrl+s")
        await pilot.pause()
        assert pressed(app, "#permission") == "permission-public"
        assert stored(account) == ("private", "", [])  # its own choice, not in force
        assert AuditLog.select().count() == audit_before
        assert isinstance(app.screen, SharingPermissionScreen)


async def test_locked_choice_is_shown_disabled_with_the_reason(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    SharingService(BOB).set_account_permission(account, SharingPermission.ADMIN)
    SharingService(ADMIN).set_policy(
        scope_kind="user", scope=BOB, mode=PolicyMode.USERS_CHOICE, locked=True
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        assert "An administrator locked this choice (set for bob)." in text_of(app, "#not-allowed")
        assert text_of(app, "#policy-text") == "User's choice, locked — set for bob"
        assert text_of(app, "#in-force-text") == "Administrators"
        assert text_of(app, "#viewers-text") == "bob and the administrators (admin1)."
        assert app.screen.query_one("#permission", RadioSet).disabled
        await pilot.press("up", "space", "ctrl+s")
        await pilot.pause()
        assert stored(account) == ("admin", "", [])
        assert pressed(app, "#permission") == "permission-admin"


async def test_a_policy_changed_elsewhere_is_explained_on_save(app_as: AppAs) -> None:
    """Another administrator fixes the permission while bob has the view open."""
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await choose_permission(pilot, SharingPermission.ADMIN)
        SharingService(ADMIN).set_policy(
            scope_kind="user",
            scope=BOB,
            mode=PolicyMode.FIXED,
            permission=SharingPermission.PRIVATE,
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert stored(account) == ("private", "", [])
        assert "fixed this permission to Private (set for bob)" in text_of(app, "#save-status")
        assert app.screen.query_one("#not-allowed").display
        assert app.screen.query_one("#permission", RadioSet).disabled


async def test_a_choice_not_saved_survives_the_help_screen(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sharing(pilot)
        await choose_permission(pilot, SharingPermission.ADMIN)
        await pilot.press("f1")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert screen.chosen() is SharingPermission.ADMIN


async def test_the_buttons_save_and_close_and_the_outcome_is_marked_in_words(
    app_as: AppAs,
) -> None:
    """Save and Close work by mouse too; success and failure differ by a mark, not only colour."""
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await choose_permission(pilot, SharingPermission.ADMIN)
        await pilot.click("#save")
        await pilot.pause()
        assert stored(account) == ("admin", "", [])
        assert text_of(app, "#save-status") == "✓ Saved: Administrators."

        SharingService(ADMIN).set_policy(
            scope_kind="user", scope=BOB, mode=PolicyMode.USERS_CHOICE, locked=True
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert text_of(app, "#save-status").startswith("✗ An administrator locked this choice")

        await pilot.click("#close")
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)


# ---------------------------------------------------------------------- the policy editor


async def test_administrator_unfixes_their_own_permission_in_the_editor(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    account = add_mailbox(ADMIN)
    SharingService(ADMIN).set_policy(
        scope_kind="user", scope=ADMIN, mode=PolicyMode.FIXED, permission=SharingPermission.ADMIN
    )
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sharing(pilot)
        assert "change the policy with Policies (Ctrl+O)" in text_of(app, "#not-allowed")
        assert screen.query_one("#permission", RadioSet).disabled
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("down", "down")  # admin1's own policy
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        assert not screen.query_one("#not-allowed").display
        assert not screen.query_one("#permission", RadioSet).disabled
        assert app.focused is screen.query_one("#permission", RadioSet)
        await choose_permission(pilot, SharingPermission.CUSTOM)
        await pilot.press("tab", "space", "ctrl+s")  # bob, the first other user
        await pilot.pause()
        assert stored(account) == ("custom", "", [BOB])


async def test_administrator_edits_policies_roles_and_sees_the_audit(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    add_mailbox(ADMIN)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_sharing(pilot)
        assert app.screen.query_one("#open-policies").display
        await pilot.press("ctrl+o")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, SharingPolicyEditorScreen)
        users = editor.query_one("#policy-users", DataTable)
        assert [str(users.get_row_at(i)[0]) for i in range(users.row_count)] == [
            "Role admin",
            "Role user",
            ADMIN,
            BOB,
            CAROL,
        ]
        assert str(users.get_row_at(3)[1]) == "user"
        assert str(users.get_row_at(2)[1]) == "admin"

        # The role "user": fixed to Private.
        await pilot.press("down")
        await pilot.pause()
        assert editor.scope is not None and editor.scope.key == "role:user"
        await pilot.press("tab")  # the choice
        await pilot.press("right", "space", "ctrl+s")
        await pilot.pause()
        policy = SharingService(ADMIN).policy_for(BOB)
        assert (policy.mode, policy.permission, policy.source) == (
            PolicyMode.FIXED,
            SharingPermission.PRIVATE,
            "set for the role user",
        )
        assert str(users.get_row_at(3)[2]) == "Fixed to Private"
        assert str(users.get_row_at(3)[3]) == "role user"
        assert "Policy for the role user set." in text_of(app, "#policy-message")

        # Lock bob: User's choice, locked.
        users.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert editor.scope is not None and editor.scope.key == "user:bob"
        await pilot.press("tab", "left", "space")  # back to User's choice
        await pilot.press("tab", "space", "ctrl+s")  # Locked
        await pilot.pause()
        policy = SharingService(ADMIN).policy_for(BOB)
        assert (policy.mode, policy.locked, policy.source) == (
            PolicyMode.USERS_CHOICE,
            True,
            "set for bob",
        )
        assert str(users.get_row_at(3)[2]) == "User's choice, locked"
        assert str(users.get_row_at(3)[3]) == "own policy"

        # Make carol an administrator.
        users.focus()
        await pilot.press("down")
        await pilot.pause()
        assert editor.scope is not None and editor.scope.key == "user:carol"
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert SharingService(ADMIN).is_admin(CAROL)
        assert str(users.get_row_at(4)[1]) == "admin"
        assert "carol is now an administrator." in text_of(app, "#policy-message")

        rows = editor.audit_entries
        assert [row[1:] for row in rows[:3]] == [
            (ADMIN, "made carol an administrator"),
            (ADMIN, "set the policy for bob: User's choice, locked"),
            (ADMIN, "set the policy for the role user: fixed to Private"),
        ]
        assert rows[-1][1:] == (ADMIN, "became the administrator (first user of this database)")

        # Clear bob's own policy: the role's applies again.
        users.focus()
        await pilot.press("up")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert SharingService(ADMIN).policy_for(BOB).source == "set for the role user"
        assert str(users.get_row_at(3)[3]) == "role user"
        assert editor.audit_entries[0][2] == "cleared the policy for bob"

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SharingPermissionScreen)


async def test_the_policy_editor_buttons_run_its_verbs(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    add_mailbox(ADMIN)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_sharing(pilot)
        await pilot.click("#open-policies")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, SharingPolicyEditorScreen)
        assert editor.query_one("#policy-clear").disabled  # nothing of its own to clear yet
        await pilot.press("down", "down", "down", "down")  # carol
        await pilot.pause()
        assert editor.scope is not None and editor.scope.key == "user:carol"

        await pilot.click("#policy-admin")
        await pilot.pause()
        assert SharingService(ADMIN).is_admin(CAROL)
        assert text_of(app, "#policy-message") == "✓ carol is now an administrator."

        editor.query_one("#policy-choice-private", RadioButton).value = True
        await pilot.pause()
        await pilot.click("#policy-set")
        await pilot.pause()
        policy = SharingService(ADMIN).policy_for(CAROL)
        assert (policy.mode, policy.permission, policy.source) == (
            PolicyMode.FIXED,
            SharingPermission.PRIVATE,
            "set for carol",
        )

        await pilot.click("#policy-clear")
        await pilot.pause()
        assert SharingService(ADMIN).policy_for(CAROL).source == "the default (User's choice)"
        assert text_of(app, "#policy-message") == (
            "✓ Policy for carol cleared; now User's choice — the default (no policy set)."
        )


async def test_public_policy_with_domains_and_errors(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    add_mailbox(ADMIN)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, SharingPolicyEditorScreen)
        await pilot.press("down", "down", "down")  # bob
        await pilot.pause()
        editor.query_one("#policy-choice-public", RadioButton).value = True
        await pilot.pause()
        domains = editor.query_one("#policy-domains", Input)
        assert not domains.disabled
        domains.value = "rival.com, nope"
        await pilot.pause()
        assert "is not a domain name" in text_of(app, "#policy-message")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert SharingService(ADMIN).policy_for(BOB).source == "the default (User's choice)"

        domains.value = "rival.com"
        await pilot.press("ctrl+s")
        await pilot.pause()
        policy = SharingService(ADMIN).policy_for(BOB)
        assert (policy.permission, policy.excluded_domains) == (
            SharingPermission.PUBLIC,
            ("rival.com",),
        )

        # The last administrator cannot give the role away.
        await pilot.press("up")  # admin1
        await pilot.pause()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert SharingService(ADMIN).is_admin(ADMIN)
        assert "last administrator" in text_of(app, "#policy-message")


async def test_administrator_revoking_their_own_role_leaves_the_editor(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    add_mailbox(ADMIN)
    SharingService(ADMIN).grant_admin(CAROL)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("down", "down")  # admin1
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not SharingService(ADMIN).is_admin()
        screen = app.screen
        assert isinstance(screen, SharingPermissionScreen)
        assert not screen.query_one("#open-policies").display
        assert screen.check_action("open_policies", ()) is False


async def test_policy_editor_from_the_command_palette(app_as: AppAs) -> None:
    app = app_as(ADMIN)
    seed_team()
    add_mailbox(ADMIN)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sharing(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "sharing policies")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SharingPolicyEditorScreen)


async def test_a_user_cannot_open_the_policy_editor(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sharing(pilot)
        assert not screen.query_one("#open-policies").display
        assert screen.check_action("open_policies", ()) is False
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.screen is screen

        # Even pushed directly, the editor refuses and leaves.
        app.push_screen(SharingPolicyEditorScreen(SharingService(BOB)))
        await pilot.pause()
        await pilot.pause()
        assert app.screen is screen
        notices = [n.message for n in app._notifications]
        assert any("Only an administrator can edit sharing policies" in n for n in notices)


async def test_untrusted_names_are_shown_literally(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    SharingService("[@click=app.quit]mallory\x1b[31m").ensure_user()
    account = add_mailbox(BOB, name="[b]Work[/b]\u202e")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sharing(pilot)
        assert screen.sub_title == "Sharing: [b]Work[/b]"
        summary = screen.query_one("#sharing-summary")
        assert summary.border_title is not None and "[b]Work[/b]" in str(summary._border_title)
        selection = screen.query_one("#share-with", SelectionList)
        prompts = [str(selection.get_option_at_index(i).prompt) for i in range(3)]
        assert "[@click=app.quit]mallory" in prompts
        screen.query_one("#permission-custom", RadioButton).value = True
        await pilot.pause()
        selection.select("[@click=app.quit]mallory\x1b[31m")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.is_running
        assert "[@click=app.quit]mallory" in text_of(app, "#viewers-text")
        assert stored(account)[2] == ["[@click=app.quit]mallory\x1b[31m"]
        screenshot = app.export_screenshot()
        assert "\x1b[31m" not in screenshot
        assert "\u202e" not in screenshot


async def test_a_mailbox_removed_elsewhere_is_reported(app_as: AppAs) -> None:
    app = app_as(BOB)
    seed_team()
    account = add_mailbox(BOB)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        Account.delete().where(Account.id == account.id).execute()
        await pilot.press("x")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, MailboxListScreen)
        assert any("no longer exists" in n.message for n in app._notifications)


# ---------------------------------------------------------------------- snapshots


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    disable_cursor_blink(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()


def seed_snapshot(owner: str, *, allowed: bool) -> None:
    """admin1 (administrator) and bob each own a mailbox; bob shares his with carol."""
    seed_team()
    admin_box = add_mailbox(ADMIN, "Team inbox")
    bob_box = add_mailbox(BOB)
    SharingService(ADMIN).set_account_permission(
        admin_box, SharingPermission.PUBLIC, excluded_domains=["rival.com", "press.example"]
    )
    SharingService(BOB).set_account_permission(
        bob_box, SharingPermission.CUSTOM, shared_with=[CAROL]
    )
    if not allowed:
        SharingService(ADMIN).set_policy(
            scope_kind="user" if owner == ADMIN else "role",
            scope=ADMIN if owner == ADMIN else "user",
            mode=PolicyMode.FIXED,
            permission=SharingPermission.ADMIN if owner == ADMIN else SharingPermission.PRIVATE,
            locked=True,
        )
    fix_audit_times()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("allowed", [True, False], ids=["choice", "fixed"])
@pytest.mark.parametrize("owner", [ADMIN, BOB], ids=["admin", "user"])
def test_sharing_view_snapshot(
    snap_compare: SnapCompare,
    app_as: AppAs,
    owner: str,
    allowed: bool,
    size: tuple[int, int],
) -> None:
    app = app_as(owner)
    seed_snapshot(owner, allowed=allowed)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("x")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_policy_editor_snapshot(
    snap_compare: SnapCompare, app_as: AppAs, size: tuple[int, int]
) -> None:
    app = app_as(ADMIN)
    seed_snapshot(ADMIN, allowed=True)
    SharingService(ADMIN).set_policy(
        scope_kind="role",
        scope="user",
        mode=PolicyMode.USERS_CHOICE,
        locked=False,
    )
    SharingService(ADMIN).set_policy(
        scope_kind="user",
        scope=CAROL,
        mode=PolicyMode.FIXED,
        permission=SharingPermission.PUBLIC,
        excluded_domains=["rival.com"],
        locked=True,
    )
    fix_audit_times()

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        await pilot.press("down", "down", "down", "down")  # carol
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
