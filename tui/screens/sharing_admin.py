"""The administrators' sharing-policy editor: every user and role with the policy in force, a form
to set, lock or clear one, the administrator role, and the recent audit entries.

Also holds the sentences that put policies, permissions and audit entries into words, which the
mailbox's sharing view (`tui.screens.sharing`) uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.sharing.rules import (
    DEFAULT_POLICY,
    MAX_EXCLUDED_DOMAINS,
    NotAllowed,
    Policy,
    PolicyMode,
    Role,
    SharingError,
    SharingService,
    normalize_domains,
    unpack_domains,
)
from tui.core.storage.models import AuditLog, SharingPolicy
from tui.core.storage.settings import SharingPermission
from tui.core.text import clean
from tui.screens.account_form import MarkedCheckbox, MarkedRadioButton
from tui.widgets.safe_text import safe_content, safe_text

AUDIT_ROWS = 50
USERS_CHOICE = "users-choice"
"""The policy form's radio value for User's choice; the other values are permissions."""


# ---------------------------------------------------------------------- in words


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


# ---------------------------------------------------------------------- the editor


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


def _policy_of_row(row: SharingPolicy, source: str) -> Policy:
    return Policy(
        PolicyMode(row.mode),
        SharingPermission(row.permission) if row.permission else None,
        bool(row.locked),
        unpack_domains(row.excluded_domains),
        source,
    )


def choice_button_id(value: str) -> str:
    return f"policy-choice-{value}"


class SharingPolicyEditorScreen(Screen[None]):
    """Administrators only: set, lock or clear the policy of a user or a role, and the roles."""

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
    SharingPolicyEditorScreen {
        #policy-users {
            height: auto;
            max-height: 40%;
        }
        #policy-form {
            height: auto;
            border: round $panel;
            border-title-color: $accent;
            border-title-style: bold;
            padding: 0 1;
            &:focus-within {
                border: round $accent;
            }
        }
        #policy-now {
            color: $text-muted;
        }
        #policy-choice {
            layout: horizontal;
            width: auto;
            & > RadioButton {
                width: auto;
                margin-right: 1;
            }
        }
        #policy-options {
            height: 1;
        }
        #policy-locked {
            width: auto;
            margin-right: 3;
        }
        #policy-domains-label {
            width: auto;
            padding-right: 1;
            color: $text-muted;
        }
        #policy-domains {
            width: 1fr;
        }
        #policy-message {
            height: auto;
            display: none;
            color: $text-error;
        }
        #policy-message.-ok {
            color: $text-success;
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
        Binding(
            "escape",
            "close",
            "Close",
            id="policy-close",
            tooltip="Back to the sharing view; nothing unsaved is kept",
        ),
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
        Binding(
            "tab",
            "app.focus_next",
            "Next field",
            id="policy-next-field",
            tooltip="Move to the next field",
            show=False,
            priority=True,
        ),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="policy-previous-field",
            tooltip="Move to the previous field",
            show=False,
            priority=True,
        ),
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
        self.sub_title = "Sharing policies"

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="policy-users", cursor_type="row", zebra_stripes=True)
        with Vertical(id="policy-form"):
            yield Static(id="policy-now")
            yield RadioSet(
                MarkedRadioButton("User's choice", id=choice_button_id(USERS_CHOICE), compact=True),
                *(
                    MarkedRadioButton(p.label, id=choice_button_id(p.value), compact=True)
                    for p in SharingPermission
                ),
                id="policy-choice",
                compact=True,
            )
            with Horizontal(id="policy-options"):
                yield MarkedCheckbox(
                    "Locked", id="policy-locked", compact=True, tooltip="The owner cannot change it"
                )
                yield Label("Public except", id="policy-domains-label")
                yield Input(
                    placeholder=f"domains, up to {MAX_EXCLUDED_DOMAINS}",
                    id="policy-domains",
                    compact=True,
                )
            yield Static(id="policy-message")
            with Horizontal(id="policy-buttons"):
                yield Button("Set policy", id="policy-set", variant="primary", compact=True)
                yield Button("Clear policy", id="policy-clear", compact=True)
                yield Button("Make administrator", id="policy-admin", compact=True)
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
        if scope.kind == "user":
            return self._service.policy_for(scope.name)
        row = self._own.get(scope.key)
        return _policy_of_row(row, f"set for the role {scope.name}") if row else DEFAULT_POLICY

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
        own = self._own.get(scope.key)
        policy = _policy_of_row(own, "") if own else self._policy_of(scope)
        if policy.mode is PolicyMode.USERS_CHOICE:
            choice = USERS_CHOICE
        else:
            choice = (policy.permission or SharingPermission.PRIVATE).value
        self.query_one(f"#{choice_button_id(choice)}", RadioButton).value = True
        self.query_one("#policy-locked", Checkbox).value = policy.locked
        self.query_one("#policy-domains", Input).value = " ".join(policy.excluded_domains)
        self._say("")
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
        self._sync_domains()
        self.refresh_bindings()

    def _choice(self) -> str:
        pressed = self.query_one("#policy-choice", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return USERS_CHOICE
        return pressed.id.removeprefix("policy-choice-")

    @on(RadioSet.Changed, "#policy-choice")
    def _sync_domains(self) -> None:
        self.query_one("#policy-domains", Input).disabled = (
            self._choice() != SharingPermission.PUBLIC.value
        )

    @on(Input.Changed, "#policy-domains")
    def _check_domains(self, event: Input.Changed) -> None:
        try:
            normalize_domains([event.value])
        except SharingError as error:
            self._say(str(error))
        else:
            self._say("")

    @on(Input.Submitted, "#policy-domains")
    def _domains_submitted(self) -> None:
        self.action_set_policy()

    def _say(self, text: str, *, ok: bool = False) -> None:
        message = self.query_one("#policy-message", Static)
        message.update(safe_content(text))
        message.display = bool(text)
        message.set_class(ok, "-ok")

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

    def action_set_policy(self) -> None:
        scope = self._scope
        if scope is None or not self._still_admin():
            return
        choice = self._choice()
        users_choice = choice == USERS_CHOICE
        permission = None if users_choice else SharingPermission(choice)
        domains = self.query_one("#policy-domains", Input).value
        locked = self.query_one("#policy-locked", Checkbox).value
        try:
            self._service.set_policy(
                scope_kind=scope.kind,
                scope=scope.name,
                mode=PolicyMode.USERS_CHOICE if users_choice else PolicyMode.FIXED,
                permission=permission,
                locked=locked,
                excluded_domains=[domains] if permission is SharingPermission.PUBLIC else [],
            )
        except NotAllowed:
            self._still_admin()
            return
        except SharingError as error:
            self._say(str(error))
            return
        self.reload()
        self._say(f"Policy for {scope.words} set.", ok=True)

    def action_clear_policy(self) -> None:
        scope = self._scope
        if scope is None or not self._still_admin():
            return
        if scope.key not in self._own:
            self._say(f"{scope.words.capitalize()} has no policy of its own to clear.")
            return
        try:
            self._service.clear_policy(scope_kind=scope.kind, scope=scope.name)
        except NotAllowed:
            self._still_admin()
            return
        self.reload()
        self._show_scope(scope)
        self._say(
            f"Policy for {scope.words} cleared; now {policy_in_words(self._policy_of(scope))}.",
            ok=True,
        )

    def action_toggle_admin(self) -> None:
        scope = self._scope
        if scope is None or not self._still_admin():
            return
        if scope.kind != "user":
            self._say("Pick a user to grant or revoke the administrator role.")
            return
        revoking = scope.name in self._admins
        try:
            if revoking:
                self._service.revoke_admin(scope.name)
            else:
                self._service.grant_admin(scope.name)
        except NotAllowed:
            self._still_admin()
            return
        except SharingError as error:
            self._say(str(error))
            return
        if not self._still_admin():  # the actor revoked their own role
            return
        self.reload()
        done = "is no longer" if revoking else "is now"
        self._say(f"{scope.words} {done} an administrator.", ok=True)

    @on(Button.Pressed, "#policy-set")
    def _set_pressed(self) -> None:
        self.action_set_policy()

    @on(Button.Pressed, "#policy-clear")
    def _clear_pressed(self) -> None:
        self.action_clear_policy()

    @on(Button.Pressed, "#policy-admin")
    def _admin_pressed(self) -> None:
        self.action_toggle_admin()

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
