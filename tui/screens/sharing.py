"""The sharing-permission view of one mailbox: the administrator's policy, the permission in
force and who can therefore see its mail, in plain words; the owner changes it where allowed.

Administrators also reach the policy editor from here (`tui.screens.sharing_admin`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    RadioSet,
    SelectionList,
    Static,
)

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.settings import SharingPermission
from tui.core.sharing.rules import (
    MAX_EXCLUDED_DOMAINS,
    Effective,
    NotAllowed,
    PolicyMode,
    SharingError,
    normalize_domains,
)
from tui.core.sharing.wording import permission_in_words, policy_in_words
from tui.core.storage.models import Account
from tui.core.text import clean
from tui.screens.escape_keys import close_key
from tui.screens.field_keys import field_focus_bindings
from tui.screens.sharing_admin import SharingPolicyEditorScreen
from tui.services import Services
from tui.widgets.action_button import action_button
from tui.widgets.marked_choices import ChoiceRadioSet
from tui.widgets.marked_selection_list import MarkedSelectionList
from tui.widgets.safe_text import safe_content
from tui.widgets.status_line import StatusLine
from tui.widgets.titled_panel import TitledPanel

PERMISSION_HINTS: dict[SharingPermission, str] = {
    SharingPermission.PRIVATE: "only the owner",
    SharingPermission.PUBLIC: "every user, except mail to or from the domains you list",
    SharingPermission.CUSTOM: "the owner and the users ticked below",
    SharingPermission.ADMIN: "the owner and the administrators",
}
NOT_OWNER = "Only the mailbox's owner chooses its sharing permission."


def permission_button_id(permission: SharingPermission) -> str:
    return f"permission-{permission.value}"


def _summary_row(label: str, value_id: str) -> Horizontal:
    return Horizontal(
        Label(label, classes="summary-label"),
        Static(id=value_id, classes="summary-value"),
        classes="summary-row",
    )


class SharingPermissionScreen(Screen[None]):
    """Who may see one mailbox's mail, why, and (for its owner, when allowed) a way to change it."""

    SUB_TITLE = "Sharing"

    COMMANDS = {MailboxCommands}
    DEFAULT_CSS = """
    SharingPermissionScreen {
        .summary-row {
            height: auto;
        }
        .summary-label {
            width: 23;
            color: $text-muted;
        }
        .summary-value {
            width: 1fr;
        }
        #in-force-text {
            text-style: bold;
        }
        #not-allowed {
            height: auto;
            display: none;
            border: round $warning;
            border-title-color: $text-warning;
            border-title-style: bold;
            padding: 0 1;
            color: $text-warning;
        }
        #may-choose {
            height: auto;
            color: $text-muted;
            padding: 0 1;
        }
        #permission {
            width: 1fr;
            margin-left: 1;
            & > RadioButton {
                width: 1fr;
            }
        }
        .choice-section {
            height: auto;
            display: none;
            margin: 1 0 0 1;
            border-left: outer $panel;
            padding-left: 1;
            &:focus-within {
                border-left: outer $accent;
            }
        }
        .choice-label {
            color: $text-muted;
        }
        #share-with {
            height: auto;
            max-height: 6;
            width: 1fr;
        }
        #domains-row {
            height: 1;
        }
        #domains-row Label {
            width: auto;
            padding-right: 1;
        }
        #excluded-domains {
            width: 1fr;
        }
        #excluded-domains:focus {
            background: $boost;
        }
        .field-error {
            height: auto;
            display: none;
            color: $text-error;
        }
        #sharing-buttons {
            height: 1;
            padding: 0 1;
            margin-bottom: 1;
            & > Button {
                margin-right: 2;
            }
        }
    }
    """
    BINDINGS = [
        close_key("sharing-close", "Back to the mailbox list; a choice not saved is dropped"),
        Binding(
            "ctrl+s",
            "save",
            "Save",
            id="sharing-save",
            tooltip="Apply the chosen permission to this mailbox",
        ),
        Binding(
            "ctrl+o",
            "open_policies",
            "Policies",
            id="sharing-policies",
            tooltip="Administrators: the sharing policy of every user and role, roles, audit",
        ),
        *field_focus_bindings("sharing"),
    ]

    def __init__(self, services: Services, account_id: int) -> None:
        super().__init__()
        self._service = services.sharing
        self._account_id = account_id
        self._account: Account | None = None
        self._effective: Effective | None = None
        self._allowed = False
        """Whether the actor may change the permission now (owner, unlocked User's choice)."""
        self._is_admin = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="sharing-body", classes="form-body"):
            with TitledPanel(id="sharing-summary"):
                yield _summary_row("Owner", "owner-text")
                yield _summary_row("Administrator's policy", "policy-text")
                yield _summary_row("In force", "in-force-text")
                yield _summary_row("Who can see its mail", "viewers-text")
            yield Static(id="not-allowed")
            yield Static(id="may-choose")
            yield ChoiceRadioSet(
                {
                    permission: Content.assemble(
                        (f"{permission.label:<15}", "bold"), (PERMISSION_HINTS[permission], "dim")
                    )
                    for permission in SharingPermission
                },
                permission_button_id,
                default=SharingPermission.PRIVATE,
                compact_buttons=True,
                id="permission",
            )
            with Vertical(id="custom-section", classes="choice-section"):
                yield Label("Share with (Space ticks a user):", classes="choice-label")
                yield MarkedSelectionList[str](id="share-with", compact=True)
                yield Static(id="no-other-users", classes="choice-label")
                yield Static(id="share-with-error", classes="field-error")
            with Vertical(id="public-section", classes="choice-section"):
                with Horizontal(id="domains-row"):
                    yield Label("Except mail to or from", classes="choice-label")
                    yield Input(
                        placeholder=f"e.g. rival.com (up to {MAX_EXCLUDED_DOMAINS})",
                        id="excluded-domains",
                        compact=True,
                    )
                yield Static(id="excluded-domains-error", classes="field-error")
            yield StatusLine(id="save-status")
        with Horizontal(id="sharing-buttons"):
            yield action_button("Save", "screen.save", id="save", variant="primary")
            yield action_button("Policies", "screen.open_policies", id="open-policies")
            yield action_button("Close", "screen.close", id="close")
        yield Footer()

    def on_mount(self) -> None:
        self._service.ensure_user()
        if self.reload():
            self._fill_form()
            self._focus_first()

    def _policies_closed(self, _: None = None) -> None:
        """Back from the policy editor: the policy, and so what may be chosen, may have
        changed; a choice not saved yet is kept unless the rules under it changed."""
        before = (self._allowed, self._effective)
        if self.reload() and (self._allowed, self._effective) != before:
            self._fill_form()
            self._focus_first()

    def _focus_first(self) -> None:
        if self._allowed:
            self.query_one("#permission", RadioSet).focus()
        else:
            self.query_one("#close", Button).focus()

    # ------------------------------------------------------------------ reading the database

    def reload(self) -> bool:
        """Read the mailbox and its rules again and explain them; False (and closed) if the
        mailbox is gone."""
        account = Account.get_or_none(Account.id == self._account_id)
        if account is None or account.archived_at is not None:
            self.app.notify(
                "That mailbox no longer exists (it was removed elsewhere).",
                severity="error",
            )
            self.dismiss(None)
            return False
        service = self._service
        self._account = account
        self._effective = effective = service.effective(account)
        self._is_admin = service.is_admin()
        policy = effective.policy
        is_owner = account.owner == service.actor
        self._allowed = is_owner and policy.user_may_choose
        self.sub_title = f"Sharing: {clean(account.name)}"

        summary = self.query_one("#sharing-summary")
        summary.border_title = Content.assemble(
            (clean(account.name), "bold"), f"  <{clean(account.email)}>"
        )
        self._set("owner-text", account.owner + (" (you)" if is_owner else ""))
        self._set("policy-text", policy_in_words(policy))
        self._set(
            "in-force-text",
            permission_in_words(
                effective.permission, effective.excluded_domains, effective.shared_with
            ),
        )
        self._set("viewers-text", service.viewers_in_words(effective))

        title = reason = advice = ""
        if not is_owner:
            title, reason = "Not yours to choose", NOT_OWNER
        elif not policy.user_may_choose:
            reason = policy.why_not_choose()
            fixed = policy.mode is PolicyMode.FIXED
            title = "Fixed by an administrator" if fixed else "Locked by an administrator"
            if self._is_admin:
                advice = "You are an administrator: change the policy with Policies (Ctrl+O)."
            else:
                admins = ", ".join(service.admins()) or "none yet"
                advice = f"To change it, ask an administrator ({admins})."
        not_allowed = self.query_one("#not-allowed", Static)
        not_allowed.display = bool(reason)
        not_allowed.border_title = title
        not_allowed.update(
            Content.assemble((clean(reason), "bold"), "\n" if advice else "", clean(advice))
        )
        self.query_one("#may-choose", Static).update(
            "User's choice: pick who may see this mailbox's mail, then Save (Ctrl+S)."
            if self._allowed
            else "The permission in force (cannot be changed here):"
        )
        for widget_id in ("#permission", "#share-with", "#excluded-domains", "#save"):
            self.query_one(widget_id).disabled = not self._allowed
        self.query_one("#open-policies").display = self._is_admin
        self.refresh_bindings()
        return True

    def _set(self, widget_id: str, text: str) -> None:
        self.query_one(f"#{widget_id}", Static).update(safe_content(text, multiline=True))

    def _fill_form(self) -> None:
        """Show the permission in force in the choice widgets (dropping unsaved edits)."""
        effective = self._effective
        if effective is None:
            return
        self._permission().choose(effective.permission)
        users = [u.name for u in self._service.users() if u.name != effective.owner]
        for name in effective.shared_with:  # shared before the user list knew them
            if name not in users:
                users.append(name)
        selection = self.query_one("#share-with", SelectionList)
        selection.clear_options()
        selection.add_options(
            [(safe_content(name), name, name in effective.shared_with) for name in sorted(users)]
        )
        selection.display = bool(users)
        if users:
            selection.highlighted = 0  # so the first Space ticks someone
        no_users = self.query_one("#no-other-users", Static)
        no_users.display = not users
        no_users.update(
            "No other users yet: people appear here once they have run poptui on this database."
        )
        self.query_one("#excluded-domains", Input).value = " ".join(effective.excluded_domains)
        self._show_error("share-with-error", "")
        self._show_error("excluded-domains-error", "")
        self._show_sections()

    # ------------------------------------------------------------------ the choice

    def _permission(self) -> ChoiceRadioSet[SharingPermission]:
        return self.query_one("#permission", ChoiceRadioSet)

    def chosen(self) -> SharingPermission:
        """The permission the radio set shows."""
        return self._permission().chosen

    @on(RadioSet.Changed, "#permission")
    def _show_sections(self) -> None:
        chosen = self.chosen()
        self.query_one("#custom-section").display = chosen is SharingPermission.CUSTOM
        self.query_one("#public-section").display = chosen is SharingPermission.PUBLIC

    @on(Input.Changed, "#excluded-domains")
    def _check_domains(self, event: Input.Changed) -> None:
        try:
            normalize_domains([event.value])
        except SharingError as error:
            self._show_error("excluded-domains-error", str(error))
        else:
            self._show_error("excluded-domains-error", "")

    @on(Input.Submitted, "#excluded-domains")
    def _domains_submitted(self) -> None:
        self.action_save()

    @on(SelectionList.SelectedChanged, "#share-with")
    def _shares_changed(self) -> None:
        self._show_error("share-with-error", "")

    def _show_error(self, widget_id: str, text: str) -> None:
        widget = self.query_one(f"#{widget_id}", Static)
        widget.update(safe_content(text))
        widget.display = bool(text)

    @property
    def status(self) -> StatusLine:
        """How the last save went."""
        return self.query_one("#save-status", StatusLine)

    # ------------------------------------------------------------------ verbs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_policies":
            return self._is_admin  # hidden from everyone else
        if action == "save":
            return self._allowed or None  # shown dimmed: the reason is on the screen
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if not self._allowed or self._account is None:
            return
        permission = self.chosen()
        domains: tuple[str, ...] = ()
        if permission is SharingPermission.PUBLIC:
            try:
                domains = normalize_domains([self.query_one("#excluded-domains", Input).value])
            except SharingError as error:
                self._show_error("excluded-domains-error", str(error))
                self.query_one("#excluded-domains").focus()
                return
        shared_with: list[str] = []
        if permission is SharingPermission.CUSTOM:
            shared_with = list(self.query_one("#share-with", SelectionList).selected)
        try:
            effective = self._service.set_account_permission(
                self._account,
                permission,
                shared_with=shared_with,
                excluded_domains=domains,
            )
        except NotAllowed as error:
            # The policy changed since the screen was drawn.
            if self.reload():
                self._fill_form()
                self._focus_first()
            self.status.error(str(error))
            return
        except SharingError as error:
            if permission is SharingPermission.CUSTOM:
                self._show_error("share-with-error", str(error))
            else:
                self.status.error(str(error))
            return
        if self.reload():
            self._fill_form()
        words = permission_in_words(
            effective.permission, effective.excluded_domains, effective.shared_with
        )
        self.status.ok(f"Saved: {words}.")
        self.notify(f"Sharing of {clean(self._account.name)} saved: {words}.", markup=False)

    def action_open_policies(self) -> None:
        if not self._service.is_admin():
            self.notify("Only an administrator can edit sharing policies.", severity="warning")
            return
        self.app.push_screen(SharingPolicyEditorScreen(self._service), self._policies_closed)

    def palette_commands(self) -> list[PaletteCommand]:
        commands = [
            PaletteCommand("Close sharing", self.action_close, "Back to the mailbox list"),
        ]
        if self._allowed:
            commands.insert(
                0,
                PaletteCommand(
                    "Save sharing permission", self.action_save, "Apply the chosen permission"
                ),
            )
        if self._is_admin:
            commands.append(
                PaletteCommand(
                    "Sharing policies (administrators)",
                    self.action_open_policies,
                    "Policies of every user and role, roles, audit",
                )
            )
        return commands
