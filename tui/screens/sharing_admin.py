"""The administrators' sharing-policy editor: every user and role with the policy in force, a form
to set, lock or clear one, the administrator role, and the recent audit entries.

The sentences come from `tui.core.sharing.wording`, which the CLI words the same things with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Static

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.sharing.rules import (
    DEFAULT_POLICY,
    NotAllowed,
    Policy,
    Role,
    SharingError,
    SharingService,
    normalize_domains,
)
from tui.core.sharing.wording import audit_in_words, local_time, policy_in_words, policy_rule
from tui.core.storage.models import SharingPolicy
from tui.core.text import clean
from tui.screens.escape_keys import close_key
from tui.screens.field_keys import field_focus_bindings
from tui.widgets.action_button import action_button
from tui.widgets.policy_rule_editor import PolicyRuleEditor
from tui.widgets.safe_text import safe_content, safe_text
from tui.widgets.status_line import StatusLine
from tui.widgets.titled_panel import TitledPanel

AUDIT_ROWS = 50


@dataclass(frozen=True)
class PolicyScope:
    """What a policy applies to: one user, or one role."""

    kind: str
    """"user" or "role", as `SharingService.set_policy` takes it."""
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def words(self) -> str:
        return f"the role {self.name}" if self.kind == "role" else clean(self.name)

    @classmethod
    def from_key(cls, key: str) -> PolicyScope:
        kind, _, name = key.partition(":")
        return cls(kind, name)


class SharingPolicyEditorScreen(Screen[None]):
    """Administrators only: set, lock or clear the policy of a user or a role, and the roles."""

    SUB_TITLE = "Sharing policies"

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
    SharingPolicyEditorScreen {
        #policy-users {
            height: auto;
            max-height: 40%;
        }
        #policy-form:focus-within {
            border: round $accent;
        }
        #policy-now {
            color: $text-muted;
        }
        #policy-message {
            padding: 0;
        }
        #policy-buttons {
            height: 1;
            & > Button {
                margin-right: 2;
            }
        }
        #audit-title {
            color: $accent;
            text-style: bold;
            padding: 0 1;
        }
        #audit-scroll {
            height: 1fr;
            min-height: 3;
            padding: 0 1;
        }
    }
    """
    BINDINGS = [
        close_key("policy-close", "Back to the sharing view; nothing unsaved is kept"),
        Binding(
            "ctrl+s",
            "set_policy",
            "Set policy",
            id="policy-set",
            tooltip="Save the form as the policy of the highlighted user or role",
        ),
        Binding(
            "ctrl+r",
            "clear_policy",
            "Clear policy",
            id="policy-clear",
            tooltip="Remove the highlighted user's or role's own policy (the role's or the "
            "default then applies)",
        ),
        Binding(
            "ctrl+g",
            "toggle_admin",
            "Admin role",
            id="policy-toggle-admin",
            tooltip="Grant or revoke the administrator role of the highlighted user",
        ),
        *field_focus_bindings("policy"),
    ]

    def __init__(self, service: SharingService) -> None:
        super().__init__()
        self._service = service
        self._scopes: list[PolicyScope] = []
        self._scope: PolicyScope | None = None
        """The user or role the form shows; it only changes when the cursor moves."""
        self._own: dict[str, SharingPolicy] = {}
        """Scope key → the policy row set for exactly that scope."""
        self._admins: set[str] = set()
        self.audit_entries: list[tuple[str, str, str]] = []
        """The audit as shown, newest first: (when, who, what in words)."""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="policy-users", cursor_type="row", zebra_stripes=True)
        with TitledPanel(id="policy-form"):
            yield Static(id="policy-now")
            yield PolicyRuleEditor(id="policy-rule")
            yield StatusLine(id="policy-message")
            with Horizontal(id="policy-buttons"):
                yield action_button(
                    "Set policy", "screen.set_policy", id="policy-set", variant="primary"
                )
                yield action_button("Clear policy", "screen.clear_policy", id="policy-clear")
                yield action_button("Make administrator", "screen.toggle_admin", id="policy-admin")
        yield Static("Recent changes", id="audit-title")
        with VerticalScroll(id="audit-scroll"):
            yield Static(id="audit-log")
        yield Footer()

    def on_mount(self) -> None:
        users = self.query_one("#policy-users", DataTable)
        users.add_column("Who", key="who")
        users.add_column("Role", key="role")
        users.add_column("Policy in force", key="policy")
        users.add_column("From", key="from")
        if not self._still_admin():
            return
        self.reload()
        users.focus()

    @property
    def scope(self) -> PolicyScope | None:
        """The user or role whose policy the form shows."""
        return self._scope

    # ------------------------------------------------------------------ reading the database

    def _still_admin(self) -> bool:
        """Close with a notice when the actor is (no longer) an administrator."""
        if self._service.is_admin():
            return True
        self.app.notify(
            f"Only an administrator can edit sharing policies; {clean(self._service.actor)} "
            "is not one.",
            markup=False,
            severity="warning",
        )
        self.dismiss(None)
        return False

    def reload(self) -> None:
        """Read users, policies and the audit again; the form is refilled only if its scope
        disappeared, so an edit in progress survives."""
        service = self._service
        self._own = {f"{p.scope_kind}:{p.scope}": p for p in service.policies()}
        self._admins = set(service.admins())
        users = service.users()
        self._scopes = [PolicyScope("role", role.value) for role in Role] + [
            PolicyScope("user", user.name) for user in users
        ]
        table = self.query_one("#policy-users", DataTable)
        keep = self._scope.key if self._scope else None
        keys = [scope.key for scope in self._scopes]
        if [row.value for row in table.rows] == keys:
            for scope in self._scopes:  # in place: the cursor and scroll position stay put
                for column, value in zip(table.columns, self._row(scope), strict=True):
                    table.update_cell(scope.key, column, value)
        else:
            table.clear()
            for scope in self._scopes:
                table.add_row(*self._row(scope), key=scope.key)
        index = keys.index(keep) if keep in keys else 0
        table.move_cursor(row=index)
        if self._scope is None or self._scope.key not in keys:
            self._show_scope(self._scopes[index])
        else:
            self._show_scope_state()
        self._load_audit()

    def _policy_of(self, scope: PolicyScope) -> Policy:
        """The policy in force for the scope: its own, else the one it inherits."""
        if scope.kind == "user":
            return self._service.policy_for(scope.name)
        return self._service.role_policy(Role(scope.name))

    def _row(self, scope: PolicyScope) -> tuple[Text, Text, Text, Text]:
        policy = self._policy_of(scope)
        if scope.kind == "role":
            who = Text.assemble(("Role ", "dim"), (scope.name, "bold"))
            role = Text("—", style="dim")
            source = "role policy" if scope.key in self._own else "default"
        else:
            who = safe_text(scope.name)
            is_admin = scope.name in self._admins
            role = Text(Role.ADMIN.value if is_admin else Role.USER.value)
            if scope.key in self._own:
                source = "own policy"
            elif policy.source == DEFAULT_POLICY.source:
                source = "default"
            else:
                source = f"role {Role.ADMIN.value if is_admin else Role.USER.value}"
        style = "" if source != "default" else "dim"
        return who, role, safe_text(policy_rule(policy), style), Text(source, style="dim")

    def _load_audit(self) -> None:
        # A Rich table in a Static, not a DataTable: long sentences wrap in their column
        # instead of hiding behind a horizontal scrollbar at 80 columns.
        self.audit_entries = [
            (local_time(entry.at), clean(str(entry.actor)), audit_in_words(entry))
            for entry in self._service.audit_log(AUDIT_ROWS)
        ]
        table = Table(box=None, expand=True, padding=(0, 2, 0, 0), header_style="bold")
        table.add_column("When", no_wrap=True, style="dim")
        table.add_column("Who", no_wrap=True, max_width=16, overflow="ellipsis")
        table.add_column("What", ratio=1)
        for when, who, what in self.audit_entries:
            table.add_row(Text(when), Text(who), Text(what))
        if not self.audit_entries:
            table.add_row("", "", Text("Nothing yet.", style="dim"))
        self.query_one("#audit-log", Static).update(table)

    # ------------------------------------------------------------------ the form

    @on(DataTable.RowHighlighted, "#policy-users")
    def _row_highlighted(self) -> None:
        # The cursor as it is now, not as the event saw it: rebuilding the table posts stale
        # highlights of row 0, which must not replace the form with another scope's.
        table = self.query_one("#policy-users", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is not None and (self._scope is None or key != self._scope.key):
            self._show_scope(PolicyScope.from_key(key))

    def _show_scope(self, scope: PolicyScope) -> None:
        """Fill the form from the scope's own policy, or from the one it inherits."""
        self._scope = scope
        self.query_one(PolicyRuleEditor).show(self._policy_of(scope))
        self.status.clear()
        self._show_scope_state()

    def _show_scope_state(self) -> None:
        scope = self._scope
        if scope is None:
            return
        form = self.query_one("#policy-form")
        form.border_title = safe_content(f"Policy for {scope.words}")
        policy = self._policy_of(scope)
        if scope.key in self._own:
            now = f"In force: {policy_rule(policy)}, its own policy."
        else:
            now = f"In force: {policy_in_words(policy)}. Setting one gives it its own policy."
        if scope.kind == "role":
            now += f" Applies to every {scope.name} without a policy of their own."
        self.query_one("#policy-now", Static).update(safe_content(now))
        self.query_one("#policy-clear", Button).disabled = scope.key not in self._own
        admin_button = self.query_one("#policy-admin", Button)
        admin_button.disabled = scope.kind != "user"
        admin_button.label = (
            "Remove administrator"
            if scope.kind == "user" and scope.name in self._admins
            else "Make administrator"
        )
        self.refresh_bindings()

    @on(Input.Changed, "#policy-domains")
    def _check_domains(self, event: Input.Changed) -> None:
        try:
            normalize_domains([event.value])
        except SharingError as error:
            self.status.error(str(error))
        else:
            self.status.clear()

    @on(Input.Submitted, "#policy-domains")
    def _domains_submitted(self) -> None:
        self.action_set_policy()

    @property
    def status(self) -> StatusLine:
        """How the last change went, or what is wrong with the form."""
        return self.query_one("#policy-message", StatusLine)

    # ------------------------------------------------------------------ verbs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        scope = self._scope
        # None: shown dimmed in the footer, the key does nothing.
        if action == "clear_policy":
            return (scope is not None and scope.key in self._own) or None
        if action == "toggle_admin":
            return (scope is not None and scope.kind == "user") or None
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def _target(self) -> PolicyScope | None:
        """The scope to change, while there is one and the actor is still an administrator."""
        if self._scope is None or not self._still_admin():
            return None
        return self._scope

    def _apply(self, change: Callable[[], None]) -> bool:
        """Make an administrator's change; False, with the reason shown, when it is refused."""
        try:
            change()
        except NotAllowed:
            self._still_admin()  # the role was taken away meanwhile: leave
            return False
        except SharingError as error:
            self.status.error(str(error))
            return False
        return True

    def action_set_policy(self) -> None:
        scope = self._target()
        if scope is None:
            return
        editor = self.query_one(PolicyRuleEditor)

        def set_policy() -> None:
            policy = editor.policy()
            self._service.set_policy(
                scope_kind=scope.kind,
                scope=scope.name,
                mode=policy.mode,
                permission=policy.permission,
                locked=policy.locked,
                excluded_domains=policy.excluded_domains,
            )

        if self._apply(set_policy):
            self.reload()
            self.status.ok(f"Policy for {scope.words} set.")

    def action_clear_policy(self) -> None:
        scope = self._target()
        if scope is None:
            return
        if scope.key not in self._own:
            self.status.error(f"{scope.words.capitalize()} has no policy of its own to clear.")
            return
        if self._apply(lambda: self._service.clear_policy(scope_kind=scope.kind, scope=scope.name)):
            self.reload()
            self._show_scope(scope)
            now = policy_in_words(self._policy_of(scope))
            self.status.ok(f"Policy for {scope.words} cleared; now {now}.")

    def action_toggle_admin(self) -> None:
        scope = self._target()
        if scope is None:
            return
        if scope.kind != "user":
            self.status.error("Pick a user to grant or revoke the administrator role.")
            return
        revoking = scope.name in self._admins
        change = self._service.revoke_admin if revoking else self._service.grant_admin
        if not self._apply(lambda: change(scope.name)):
            return
        if not self._still_admin():  # the actor revoked their own role
            return
        self.reload()
        done = "is no longer" if revoking else "is now"
        self.status.ok(f"{scope.words} {done} an administrator.")

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand(
                "Set sharing policy", self.action_set_policy, "For the highlighted user or role"
            ),
        ]
        scope = self._scope
        if scope is not None and scope.key in self._own:
            commands.append(
                PaletteCommand(
                    "Clear sharing policy",
                    self.action_clear_policy,
                    "The role's policy or the default applies again",
                )
            )
        if scope is not None and scope.kind == "user":
            verb = "Revoke" if scope.name in self._admins else "Grant"
            commands.append(
                PaletteCommand(
                    f"{verb} administrator role: {scope.name}",
                    self.action_toggle_admin,
                    "Administrators set sharing policies and roles",
                )
            )
        return commands
