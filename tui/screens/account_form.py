"""The add/edit mailbox form: fields filled from the address, checked as you type, tested on save.

"Test & save" logs in through the injected tester in a thread worker and saves only when that
works; a failure saves nothing and offers "Save anyway"; an untrusted certificate opens the
trust dialog. Passwords go to the secret store, never into the database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    Footer,
    Header,
    Input,
    Label,
    LoadingIndicator,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.worker import Worker, WorkerState, get_current_worker

from tui.commands import MailboxCommands, PaletteCommand
from tui.core.setup import providers
from tui.core.setup.addresses import validate_email
from tui.core.setup.validation import (
    MAX_DELETE_AFTER_DAYS,
    MAX_POLL_MINUTES,
    MIN_DELETE_AFTER_DAYS,
    MIN_POLL_MINUTES,
    Problem,
    has_errors,
    parse_number,
    parse_port,
    problems_by_field,
    validate_account,
)
from tui.core.storage.accounts import settings_of
from tui.core.storage.models import Account, database_proxy
from tui.core.storage.settings import (
    DEFAULT_POP3_PORTS,
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    DeletePolicy,
    Security,
)
from tui.core.text import clean
from tui.screens.dialogs import CertificateTrustDialog
from tui.services import SecretKind, Services, TestResult
from tui.widgets.safe_text import safe_content

FORM_FIELDS: tuple[str, ...] = (
    "name",
    "email",
    "incoming_host",
    "incoming_port",
    "incoming_security",
    "username",
    "password",
    "outgoing_host",
    "outgoing_port",
    "outgoing_security",
    "outgoing_username",
    "outgoing_password",
    "delete_policy",
    "delete_after_days",
    "poll_minutes",
)
"""`AccountSettings` attributes (plus the two passwords) with a widget, in tab order; each
widget's id is the attribute with hyphens, and its message line is `#<id>-message`."""

GMAIL_RECENT_FORCES_LEAVE = (
    "The username starts with recent: (Gmail's mode for several POP clients), so messages "
    "stay on the server: deleting them here would take them from your other clients too."
)
WORKER_GROUP = "account-form"
INTRO_ADD = "Tab moves between fields. Test & save logs in, and saves only if that works."
INTRO_EDIT = "Change what you need; empty password fields keep the stored passwords."


class _MarkShowsValue:
    """Mixin for toggle buttons: the mark itself is blank when off.

    Textual draws the same X / ● either way and only the colour differs, which a 16-colour
    terminal or a colour-blind user may not see.
    """

    ON_MARK = "X"
    BUTTON_INNER: str
    value: bool

    def _show_mark(self) -> None:
        self.BUTTON_INNER = self.ON_MARK if self.value else " "


class MarkedCheckbox(_MarkShowsValue, Checkbox):
    def on_mount(self) -> None:
        self._show_mark()

    def watch_value(self) -> None:
        self._show_mark()
        super().watch_value()


class MarkedRadioButton(_MarkShowsValue, RadioButton):
    ON_MARK = "●"

    def on_mount(self) -> None:
        self._show_mark()

    def watch_value(self) -> None:
        self._show_mark()
        super().watch_value()


NumberParser = Callable[[str], tuple[int | None, str | None]]
"""Typed text → (number, None) or (None, message), like `validation.parse_port`."""
_parse_poll_minutes: NumberParser = partial(
    parse_number,
    what="Minutes between fetches",
    minimum=MIN_POLL_MINUTES,
    maximum=MAX_POLL_MINUTES,
    example=5,
)
_parse_delete_after_days: NumberParser = partial(
    parse_number,
    what="Days before deleting",
    minimum=MIN_DELETE_AFTER_DAYS,
    maximum=MAX_DELETE_AFTER_DAYS,
    example=7,
)


def widget_id(attr: str) -> str:
    return attr.replace("_", "-")


def policy_button_id(policy: DeletePolicy) -> str:
    return f"policy-{widget_id(policy.value)}"


@dataclass(frozen=True)
class FormOutcome:
    """What the form did, for the list to refresh, select the account and say so."""

    account_id: int
    name: str
    created: bool
    tested: bool
    message: str
    """The tester's words on success, or why it was saved untested."""
    password_problem: str = ""
    """Set when the settings were saved but the secret store refused the password."""


@dataclass(frozen=True)
class _Submission:
    """The form's values at the moment of testing/saving, handed to the worker thread."""

    settings: AccountSettings
    # Not in the repr: Textual describes a worker by its arguments' reprs, and logs that.
    password: str = dataclasses.field(repr=False)
    """Empty when editing means "unchanged"."""
    outgoing_password: str = dataclasses.field(repr=False)


@dataclass(frozen=True)
class _OutgoingFailed:
    """The incoming login worked but the outgoing server check did not: nothing was saved."""

    result: TestResult


class AccountFormScreen(Screen[FormOutcome | None]):
    """Add a mailbox, or edit one (`account` given: password fields empty mean unchanged)."""

    COMMANDS = {MailboxCommands}
    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="form-cancel",
            tooltip="Close the form; nothing is saved",
        ),
        Binding(
            "ctrl+t",
            "test_and_save",
            "Test & save",
            id="form-test-save",
            tooltip="Log in to the incoming (then the outgoing) server; save only if that works",
        ),
        # Priority, so focus moves before the next key is handed out: over SSH keys arrive in
        # bursts, and a non-priority Tab is only acted on after it bubbles back from the
        # focused input, by which time the text typed after it has gone into the wrong field.
        Binding(
            "tab",
            "app.focus_next",
            "Next field",
            id="form-next-field",
            tooltip="Move to the next field",
            show=False,
            priority=True,
        ),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="form-previous-field",
            tooltip="Move to the previous field",
            show=False,
            priority=True,
        ),
    ]

    def __init__(self, services: Services, *, account: Account | None = None) -> None:
        super().__init__()
        self._services = services
        self._editing_name: str | None = account.name if account is not None else None
        self._secret_key: str | None = account.secret_key if account is not None else None
        self._base = settings_of(account) if account is not None else AccountSettings()
        self._existing_names = services.accounts.names()
        self._touched: set[str] = set()
        self._show_all = False
        self._auto: dict[str, str] = {}
        """Widget id → the value the form itself put there (from a preset or a default); a
        field whose value differs from this was typed by the user and is never overwritten."""
        self._security_shown: dict[str, Security] = {
            "incoming-security": self._base.incoming_security,
            "outgoing-security": self._base.outgoing_security,
        }
        self._preset_key: tuple[str, str] | None = None
        self._pin_host = self._base.incoming_host if self._base.pinned_fingerprint else ""
        self._busy = False
        self._pending_fingerprint = ""
        """The fingerprint the certificate dialog is asking about."""
        self._pending_smtp: tuple[str, int, str] | None = None
        """(host, port, fingerprint) of the outgoing certificate the dialog is asking about."""
        self._smtp_trusted: tuple[str, int, str] | None = None
        """The outgoing certificate the user accepted: for this form only, because an account
        keeps one pin, the incoming server's (the same certificate on both is accepted anyway)."""
        self._messages_shown: dict[str, tuple[tuple[bool, str], ...]] = {}
        self.sub_title = "Edit mailbox" if account is not None else "Add a mailbox"

    @property
    def editing(self) -> bool:
        return self._editing_name is not None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        base = self._base
        unchanged = "unchanged (type to replace)" if self.editing else ""
        yield Header()
        with VerticalScroll(id="form-body"):
            yield Static(INTRO_EDIT if self.editing else INTRO_ADD, id="form-intro")
            yield self._field("name", "Account name", Input(base.name, placeholder="e.g. Work"))
            yield self._field(
                "email",
                "Email address",
                Input(base.email, placeholder="name@example.com"),
                Static(id="preset-summary"),
            )
            yield Static("Incoming server (POP3)", classes="section-title")
            yield self._field(
                "incoming_host", "Server", Input(base.incoming_host, placeholder="pop.example.com")
            )
            yield self._field(
                "incoming_port", "Port", Input(str(base.incoming_port), classes="short")
            )
            yield self._field("incoming_security", "Security", self._security_select(base, "in"))
            yield self._field(
                "username", "Username", Input(base.username, placeholder="usually the address")
            )
            yield self._field(
                "password",
                "Password",
                Input(password=True, placeholder=unchanged),
                Static(id="password-hint"),
            )
            yield Static(id="pin-summary")
            yield Static("Outgoing server (SMTP)", classes="section-title")
            yield MarkedCheckbox(
                "Use the same credentials for the outgoing server",
                base.same_credentials_for_outgoing,
                id="same-credentials",
                compact=True,
            )
            yield self._field(
                "outgoing_host", "Server", Input(base.outgoing_host, placeholder="smtp.example.com")
            )
            yield self._field(
                "outgoing_port", "Port", Input(str(base.outgoing_port), classes="short")
            )
            yield self._field("outgoing_security", "Security", self._security_select(base, "out"))
            with Vertical(id="outgoing-credentials"):
                yield self._field("outgoing_username", "Username", Input(base.outgoing_username))
                yield self._field(
                    "outgoing_password", "Password", Input(password=True, placeholder=unchanged)
                )
            yield Static("Fetching", classes="section-title")
            yield self._field(
                "delete_policy",
                "Delete messages",
                RadioSet(
                    *(
                        MarkedRadioButton(
                            policy.label,
                            policy is base.delete_policy,
                            id=policy_button_id(policy),
                        )
                        for policy in DeletePolicy
                    ),
                    compact=True,
                ),
                Static(GMAIL_RECENT_FORCES_LEAVE, id="delete-explanation"),
            )
            yield self._field(
                "delete_after_days",
                "After (days)",
                Input(str(base.delete_after_days), classes="short"),
            )
            yield self._field(
                "poll_minutes",
                "Fetch every",
                Input(str(base.poll_minutes), classes="short"),
                Static("minutes, while this mailbox is the active one", classes="field-hint"),
            )
            yield Static(id="other-problems", classes="field-message")
        with Horizontal(id="form-status"):
            yield LoadingIndicator(id="test-spinner")
            yield Static(id="test-status")
        with Horizontal(id="form-buttons"):
            yield Button("Test & save", id="test-save", variant="primary", compact=True)
            yield Button("Save anyway", id="save-anyway", variant="warning", compact=True)
            yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def _field(self, attr: str, label: str, widget: Widget, *extra: Widget) -> Horizontal:
        wid = widget_id(attr)
        widget.id = wid
        if isinstance(widget, Input | Select | RadioSet):
            widget.compact = True
        message = Static(id=f"{wid}-message", classes="field-message")
        return Horizontal(
            Label(label, classes="field-label"),
            Vertical(widget, message, *extra, classes="field-body"),
            id=f"field-{wid}",
            classes="field",
        )

    @staticmethod
    def _security_select(base: AccountSettings, side: str) -> Select[Security]:
        value = base.incoming_security if side == "in" else base.outgoing_security
        return Select([(s.label, s) for s in Security], value=value, allow_blank=False)

    def on_mount(self) -> None:
        if not self.editing:
            self._auto = {
                "incoming-port": str(self._base.incoming_port),
                "outgoing-port": str(self._base.outgoing_port),
            }
        self._show_outgoing_credentials(self._base.same_credentials_for_outgoing)
        self._show_days(self._base.delete_policy is DeletePolicy.AFTER_DAYS)
        self._sync_recent()
        self._show_pin()
        self._set_busy(False)
        self.query_one("#save-anyway").display = False
        self._refresh_messages()
        self.query_one("#name", Input).focus()

    # ------------------------------------------------------------------ reading the form

    def _input(self, attr: str) -> Input:
        return self.query_one(f"#{widget_id(attr)}", Input)

    def _text(self, attr: str) -> str:
        return self._input(attr).value

    def _security(self, attr: str) -> Security:
        value = self.query_one(f"#{widget_id(attr)}", Select).value
        return value if isinstance(value, Security) else Security.SSL

    def _policy(self) -> DeletePolicy:
        pressed = self.query_one("#delete-policy", RadioSet).pressed_button
        for policy in DeletePolicy:
            if pressed is not None and pressed.id == policy_button_id(policy):
                return policy
        return DeletePolicy.LEAVE

    def _same_credentials(self) -> bool:
        return self.query_one("#same-credentials", Checkbox).value

    def _collect(self) -> tuple[AccountSettings, list[Problem]]:
        """The settings as typed, and the problems of numbers that are not numbers at all.

        A number that does not parse keeps its previous value in the settings, so the
        whole-account check does not report the same field twice.
        """
        problems: list[Problem] = []

        def number(attr: str, fallback: int, parse: NumberParser) -> int:
            value, message = parse(self._text(attr))
            if value is None:
                problems.append(Problem(attr, message or "Enter a whole number."))
                return fallback
            return value

        base = self._base
        incoming_security = self._security("incoming_security")
        outgoing_security = self._security("outgoing_security")
        policy = self._policy()
        settings = dataclasses.replace(
            base,
            name=self._text("name").strip(),
            email=self._text("email").strip(),
            incoming_host=self._text("incoming_host").strip(),
            incoming_port=number(
                "incoming_port", DEFAULT_POP3_PORTS[incoming_security], parse_port
            ),
            incoming_security=incoming_security,
            username=self._text("username"),
            same_credentials_for_outgoing=self._same_credentials(),
            outgoing_host=self._text("outgoing_host").strip(),
            outgoing_port=number(
                "outgoing_port", DEFAULT_SMTP_PORTS[outgoing_security], parse_port
            ),
            outgoing_security=outgoing_security,
            outgoing_username=self._text("outgoing_username"),
            delete_policy=policy,
            poll_minutes=number("poll_minutes", base.poll_minutes, _parse_poll_minutes),
            pinned_fingerprint=base.pinned_fingerprint if self._pin_still_applies() else "",
        )
        settings.outgoing_pinned_fingerprint = self._outgoing_pin_for(
            settings.outgoing_host, settings.outgoing_port
        )
        if policy is DeletePolicy.AFTER_DAYS:
            settings.delete_after_days = number(
                "delete_after_days", base.delete_after_days, _parse_delete_after_days
            )
        if settings.same_credentials_for_outgoing:
            # The hidden outgoing username follows the incoming one (without Gmail's recent:).
            settings.outgoing_username = settings.effective_outgoing_username
        return settings, problems

    def _outgoing_pin_for(self, host: str, port: int) -> str:
        """The outgoing pin, kept only while the outgoing server is the one it was made for."""
        trusted = self._smtp_trusted
        if trusted is not None and trusted[:2] == (host, port):
            return trusted[2]
        pinned = self._base.outgoing_pinned_fingerprint
        same_server = (host, port) == (self._base.outgoing_host, self._base.outgoing_port)
        return pinned if pinned and same_server else ""

    def _pin_still_applies(self) -> bool:
        """A pin belongs to one server: typing another host name drops it."""
        pinned = bool(self._base.pinned_fingerprint)
        return pinned and self._text("incoming_host").strip() == self._pin_host.strip()

    def _problems(self) -> tuple[AccountSettings, list[Problem]]:
        settings, parse_problems = self._collect()
        unparsed = {problem.field for problem in parse_problems}
        problems = [
            problem
            for problem in validate_account(
                settings,
                existing_names=self._existing_names,
                editing_name=self._editing_name,
            )
            if problem.field not in unparsed
        ]
        problems += parse_problems
        if not self.editing and not self._text("password"):
            problems.append(
                Problem(
                    "password",
                    "Enter the password (with two-step verification on: an app password).",
                )
            )
        order = {attr: index for index, attr in enumerate(FORM_FIELDS)}
        problems.sort(key=lambda problem: order.get(problem.field, len(order)))
        return settings, problems

    # ------------------------------------------------------------------ showing problems

    def _refresh_messages(self) -> tuple[AccountSettings, list[Problem]]:
        """Show each field's problems beside it: warnings at once, errors once it was left."""
        settings, problems = self._problems()
        grouped = problems_by_field(problems)
        for attr in FORM_FIELDS:
            shown = [
                problem
                for problem in grouped.get(attr, [])
                if not problem.is_error or self._show_all or attr in self._touched
            ]
            self._show_field_problems(f"#{widget_id(attr)}-message", shown)
        others = [
            problem
            for field, found in grouped.items()
            if field not in FORM_FIELDS
            for problem in found
        ]
        self._show_field_problems("#other-problems", others)
        return settings, problems

    def _show_field_problems(self, selector: str, problems: Iterable[Problem]) -> None:
        shown = tuple((problem.is_error, clean(problem.message)) for problem in problems)
        if self._messages_shown.get(selector) == shown:
            return  # unchanged: skip the re-layout, which is what makes typing feel slow
        self._messages_shown[selector] = shown
        lines = [
            Content.assemble(("✗ " if is_error else "⚠ ", "bold"), text).stylize(
                "$text-error" if is_error else "$text-warning"
            )
            for is_error, text in shown
        ]
        message = self.query_one(selector, Static)
        message.update(Content("\n").join(lines))
        message.display = bool(lines)

    # ------------------------------------------------------------------ reacting to input

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        wid = event.input.id or ""
        if wid == "email":
            self._apply_preset(leaving=False)
        elif wid == "incoming-host":
            self._fill_outgoing()
            self._show_pin()
        elif wid == "username":
            self._sync_recent()
        self._refresh_messages()

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        self._touched.add(wid.replace("-", "_"))
        if wid == "email":
            self._apply_preset(leaving=True)
        self._refresh_messages()

    @on(Select.Changed)
    def _security_changed(self, event: Select.Changed) -> None:
        wid = event.select.id or ""
        new = event.value if isinstance(event.value, Security) else Security.SSL
        old = self._security_shown.get(wid, new)
        self._security_shown[wid] = new
        if new is not old:
            self._touched.add(wid.replace("-", "_"))
            # A port still at the old default follows the security to its new default.
            side, defaults = (
                ("incoming", DEFAULT_POP3_PORTS)
                if wid == "incoming-security"
                else ("outgoing", DEFAULT_SMTP_PORTS)
            )
            port = self._input(f"{side}_port")
            if port.value.strip() in ("", str(defaults[old])):
                self._set_auto(f"{side}_port", str(defaults[new]))
            if side == "incoming":
                self._fill_outgoing()
        self._refresh_messages()

    @on(Checkbox.Changed, "#same-credentials")
    def _same_credentials_changed(self, event: Checkbox.Changed) -> None:
        self._show_outgoing_credentials(event.value)
        if event.value:
            self._fill_outgoing()
        self._refresh_messages()

    @on(RadioSet.Changed, "#delete-policy")
    def _policy_changed(self) -> None:
        self._touched.add("delete_policy")
        self._show_days(self._policy() is DeletePolicy.AFTER_DAYS)
        self._refresh_messages()

    def _show_outgoing_credentials(self, same: bool) -> None:
        self.query_one("#outgoing-credentials").display = not same

    def _show_days(self, shown: bool) -> None:
        self.query_one("#field-delete-after-days").display = shown

    def _sync_recent(self) -> None:
        """Gmail's recent: mode needs "Leave messages on the server": force it and say why."""
        recent = self._text("username").strip().lower().startswith("recent:")
        for policy in DeletePolicy:
            button = self.query_one(f"#{policy_button_id(policy)}", RadioButton)
            if policy is DeletePolicy.LEAVE:
                if recent and not button.value:
                    button.value = True
            else:
                button.disabled = recent
        self.query_one("#delete-explanation").display = recent

    def _show_pin(self) -> None:
        pin = self.query_one("#pin-summary", Static)
        if self._base.pinned_fingerprint and self._pin_still_applies():
            pin.update(
                Content.assemble(
                    ("Pinned certificate ", "bold"),
                    f"SHA-256 {clean(self._base.pinned_fingerprint)}",
                )
            )
            pin.display = True
        else:
            pin.display = False

    # ------------------------------------------------------------------ auto-filling

    def _user_owned(self, attr: str) -> bool:
        """True when the user typed this field's value, so the form must not overwrite it."""
        wid = widget_id(attr)
        value = self._input(attr).value
        return bool(value.strip()) and value != self._auto.get(wid)

    def _set_auto(self, attr: str, value: str) -> None:
        self._auto[widget_id(attr)] = value
        self._input(attr).value = value

    def _set_auto_security(self, attr: str, value: Security) -> None:
        wid = widget_id(attr)
        self._security_shown[wid] = value
        self.query_one(f"#{wid}", Select).value = value

    def _apply_preset(self, *, leaving: bool) -> None:
        """Fill the servers from a known provider and say what was filled.

        Runs as the address is typed (so the form fills as soon as the address is complete)
        and when the field is left; fields the user typed are kept.
        """
        email = self._text("email").strip()
        summary = self.query_one("#preset-summary", Static)
        if validate_email(email) is not None:
            if leaving:
                self._preset_key = None
                summary.display = False
            return
        preset = providers.lookup_known(email)
        if preset is None:
            if leaving:
                self._preset_key = None
                self._show_password_hint(None)
                if not self._user_owned("username"):
                    self._set_auto("username", email)
                domain = email.rpartition("@")[2]
                summary.update(
                    safe_content(
                        f"No built-in settings for {domain}: enter the server names your "
                        "provider gives, or ask your administrator.",
                        "$text-muted",
                    )
                )
                summary.display = True
            return
        key = (preset.name, email)
        if key == self._preset_key:
            return
        self._preset_key = key
        if self._user_owned("incoming_host"):
            kept = f"{preset.name} usually uses {preset.incoming.describe()}; kept the server "
            self._show_provider_hints(preset, [kept + "you entered."], filled=False)
            return
        current, _ = self._collect()
        filled, lines = providers.apply_preset(current, preset)
        self._set_auto("incoming_host", filled.incoming_host)
        self._set_auto("incoming_port", str(filled.incoming_port))
        self._set_auto_security("incoming_security", filled.incoming_security)
        if self._user_owned("username"):
            lines = [line for line in lines if not line.startswith("Username set to")]
            lines.append("Kept the username you entered")
        else:
            self._set_auto("username", filled.username)
        if preset.outgoing is not None and not self._user_owned("outgoing_host"):
            self._set_auto("outgoing_host", filled.outgoing_host)
            self._set_auto("outgoing_port", str(filled.outgoing_port))
            self._set_auto_security("outgoing_security", filled.outgoing_security)
            if not self._user_owned("outgoing_username"):
                self._set_auto("outgoing_username", filled.outgoing_username)
        self._sync_recent()
        self._show_provider_hints(preset, lines, filled=True)

    def _show_provider_hints(
        self, preset: providers.ProviderPreset, lines: list[str], *, filled: bool
    ) -> None:
        """What was filled in (the lines of `apply_preset`), then the provider's advice."""
        parts: list[Content] = []
        if filled:
            parts.append(Content.styled(f"Filled in for {clean(preset.name)}:", "bold"))
            parts.extend(Content(f"  • {clean(line)}") for line in lines)
        else:
            parts.extend(Content(clean(line)) for line in lines)
        if preset.oauth_only:
            parts.append(
                Content.assemble(("⚠ ", "bold"), clean(preset.note)).stylize("$text-warning")
            )
        elif preset.note:
            parts.append(Content.assemble(("Note: ", "bold"), clean(preset.note)))
        summary = self.query_one("#preset-summary", Static)
        summary.update(Content("\n").join(parts))
        summary.display = bool(parts)
        self._show_password_hint(preset)

    def _show_password_hint(self, preset: providers.ProviderPreset | None) -> None:
        hint = self.query_one("#password-hint", Static)
        name = clean(preset.name) if preset is not None else ""
        if preset is not None and preset.needs_app_password:
            hint.update(Content(f"{name} wants an app password when two-step verification is on."))
        elif preset is not None and preset.oauth_only:
            hint.update(Content(f"{name} refuses passwords for POP; a test will fail."))
        hint.display = preset is not None and (preset.needs_app_password or preset.oauth_only)

    def _fill_outgoing(self) -> None:
        """With shared credentials, the outgoing server follows the incoming one until typed."""
        if not self._same_credentials() or self._user_owned("outgoing_host"):
            return
        if not self._text("incoming_host").strip():
            return
        current, _ = self._collect()
        filled = providers.fill_outgoing_from_incoming(current)
        self._set_auto("outgoing_host", filled.outgoing_host)
        self._set_auto("outgoing_port", str(filled.outgoing_port))
        self._set_auto_security("outgoing_security", filled.outgoing_security)

    # ------------------------------------------------------------------ buttons

    @on(Button.Pressed, "#test-save")
    def _test_save_pressed(self) -> None:
        self.action_test_and_save()

    @on(Button.Pressed, "#save-anyway")
    def _save_anyway_pressed(self) -> None:
        submission = None if self._busy else self._submission()
        if submission is not None:
            self._set_busy(True, "Saving without a successful test…")
            self._save_untested(submission)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, WORKER_GROUP)
        self.dismiss(None)

    def action_test_and_save(self) -> None:
        submission = None if self._busy else self._submission()
        if submission is not None:
            self._start_test(submission)

    def _submission(self) -> _Submission | None:
        """The values to test/save, or None (with the problems shown) when they cannot be."""
        self._show_all = True
        settings, problems = self._refresh_messages()
        if has_errors(problems):
            first = next(problem for problem in problems if problem.is_error)
            self._status(
                Content.assemble(
                    ("✗ ", "bold"), "Nothing saved: fix the fields marked ✗ first."
                ).stylize("$text-error")
            )
            self._focus_field(first.field)
            return None
        outgoing_password = self._text("outgoing_password")
        if settings.same_credentials_for_outgoing:
            outgoing_password = ""
        return _Submission(settings, self._text("password"), outgoing_password)

    def _focus_field(self, attr: str) -> None:
        if attr in FORM_FIELDS:
            self.query_one(f"#{widget_id(attr)}").focus()

    # ------------------------------------------------------------------ test and save

    def _start_test(self, submission: _Submission) -> None:
        settings = submission.settings
        server = f"{settings.incoming_host}:{settings.incoming_port}"
        self._set_busy(True, f"Testing {server} ({settings.incoming_security.label})…")
        self._test_and_save(submission)

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _test_and_save(
        self, submission: _Submission
    ) -> FormOutcome | TestResult | _OutgoingFailed | None:
        """In a thread: log in (incoming, then outgoing), and save only if that worked (and
        the form is still open)."""
        password = submission.password
        if not password and self._secret_key is not None:
            password = (
                self._services.secrets.get(
                    self._secret_key, SecretKind.INCOMING, mailbox=submission.settings.name
                )
                or ""
            )
        result = self._services.tester(submission.settings, password)
        if not result.ok:
            return result
        if get_current_worker().is_cancelled:
            return None
        message = result.message
        outgoing = self._check_outgoing(submission, password)
        if outgoing is not None:
            if not outgoing.ok:
                return _OutgoingFailed(outgoing)
            message = f"{message} {outgoing.message}"
        if get_current_worker().is_cancelled:
            return None
        return self._save(submission, tested=True, message=message)

    def _check_outgoing(self, submission: _Submission, incoming_password: str) -> TestResult | None:
        """In the worker, once the incoming login worked: log in to the outgoing server (if one
        is set) with the incoming credentials when shared, else with the outgoing ones."""
        settings = submission.settings
        if not settings.outgoing_host:
            return None
        where = (settings.outgoing_host, settings.outgoing_port)
        note = ""
        if settings.same_credentials_for_outgoing:
            password = incoming_password
        else:
            password = submission.outgoing_password
            if not password and self._secret_key is not None:
                password = (
                    self._services.secrets.get(
                        self._secret_key, SecretKind.OUTGOING, mailbox=settings.name
                    )
                    or ""
                )
            if not password and settings.outgoing_username:
                # No password to try: check the connection and TLS, not the login.
                settings = dataclasses.replace(settings, outgoing_username="")
                note = " Login not checked: no outgoing password was entered."
        trusted = self._smtp_trusted
        fingerprint = trusted[2] if trusted is not None and trusted[:2] == where else ""
        self.app.call_from_thread(
            self._progress,
            f"Incoming server OK; testing {where[0]}:{where[1]} "
            f"({settings.outgoing_security.label})…",
        )
        result = self._services.outgoing_tester(settings, password, trusted_fingerprint=fingerprint)
        if result.ok and fingerprint:
            note += " Its certificate is pinned for this mailbox."
        return dataclasses.replace(result, message=result.message + note) if note else result

    def _progress(self, text: str) -> None:
        if self.is_attached and self._busy:
            self._status(Content(text))

    @work(thread=True, exclusive=True, exit_on_error=False, group=WORKER_GROUP)
    def _save_untested(self, submission: _Submission) -> FormOutcome | None:
        if get_current_worker().is_cancelled:
            return None
        return self._save(submission, tested=False, message="Saved without a successful test.")

    def _save(self, submission: _Submission, *, tested: bool, message: str) -> FormOutcome:
        """Store the settings, then the passwords (which need the account's secret key)."""
        store = self._services.accounts
        settings = submission.settings
        with database_proxy.connection_context():
            if self._editing_name is None:
                account = store.create(settings)
            else:
                account = store.update(self._editing_name, settings)
            if account.disabled and (tested or submission.password):
                # As `poptui password set` does: the fix is in, so fetching may resume.
                Account.update(
                    disabled=False,
                    disabled_reason="",
                    consecutive_auth_failures=0,
                    consecutive_connect_failures=0,
                ).where(Account.id == account.id).execute()
        password_problem = ""
        try:
            secrets = self._services.secrets
            if submission.password:
                secrets.set(
                    account.secret_key,
                    SecretKind.INCOMING,
                    submission.password,
                    mailbox=account.name,
                )
            if submission.outgoing_password:
                secrets.set(
                    account.secret_key,
                    SecretKind.OUTGOING,
                    submission.outgoing_password,
                    mailbox=account.name,
                )
        except Exception as error:  # any store failure: the settings are saved, say what is not
            password_problem = (
                f"The settings were saved, but the password could not be stored: {error}. "
                "Set it with p (password) on the mailbox list."
            )
        return FormOutcome(
            account_id=int(account.id),
            name=account.name,
            created=self._editing_name is None,
            tested=tested,
            message=message,
            password_problem=password_problem,
        )

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """One place that turns the worker's result or failure into what the user sees."""
        worker = event.worker
        if worker.group != WORKER_GROUP:
            return
        if event.state is WorkerState.SUCCESS:
            result = worker.result
            if isinstance(result, FormOutcome):
                self.dismiss(result)
            elif isinstance(result, TestResult):
                self._test_failed(result)
            elif isinstance(result, _OutgoingFailed):
                self._outgoing_failed(result.result)
            else:
                self._set_busy(False)
        elif event.state is WorkerState.ERROR:
            error = worker.error
            self._test_failed(TestResult(ok=False, message=str(error) or type(error).__name__))
        elif event.state is WorkerState.CANCELLED:
            self._set_busy(False)

    def _test_failed(self, result: TestResult) -> None:
        certificate = result.certificate
        settings, _ = self._collect()
        if certificate is not None and certificate.sha256 != settings.pinned_fingerprint:
            self._status(safe_content(result.message, "$text-warning", multiline=True))
            self._pending_fingerprint = certificate.sha256
            self.app.push_screen(
                CertificateTrustDialog(
                    certificate, host=settings.incoming_host, port=settings.incoming_port
                ),
                self._certificate_answered,
            )
            return
        self._set_busy(False)
        self._status(
            Content.assemble(("✗ Not saved: ", "bold"), clean(result.message)).stylize(
                "$text-error"
            )
        )
        save_anyway = self.query_one("#save-anyway", Button)
        save_anyway.display = True

    def _certificate_answered(self, pin: bool | None) -> None:
        fingerprint, self._pending_fingerprint = self._pending_fingerprint, ""
        if not pin or not fingerprint:
            self._set_busy(False)
            self._status(
                Content.assemble(("✗ Not saved: ", "bold"), "the certificate was refused.").stylize(
                    "$text-error"
                )
            )
            self.query_one("#save-anyway").display = True
            return
        self._base = dataclasses.replace(self._base, pinned_fingerprint=fingerprint)
        self._pin_host = self._text("incoming_host").strip()
        self._show_pin()
        submission = self._submission()
        if submission is None:
            self._set_busy(False)
            return
        self._set_busy(True, "Certificate pinned; testing again…")
        self._test_and_save(submission)

    def _outgoing_failed(self, result: TestResult) -> None:
        """The incoming side works, the outgoing does not: say which, offer the certificate."""
        certificate = result.certificate
        settings, _ = self._collect()
        if certificate is not None:
            self._status(
                safe_content(
                    f"Incoming server OK. {result.message}", "$text-warning", multiline=True
                )
            )
            host, port = settings.outgoing_host, settings.outgoing_port
            self._pending_smtp = (host, port, certificate.sha256)
            self.app.push_screen(
                CertificateTrustDialog(certificate, host=host, port=port),
                self._outgoing_certificate_answered,
            )
            return
        self._set_busy(False)
        self._status(
            Content.assemble(
                ("✗ Not saved: ", "bold"),
                "the incoming server works, but the outgoing server check failed: ",
                clean(result.message),
            ).stylize("$text-error")
        )
        self.query_one("#save-anyway").display = True

    def _outgoing_certificate_answered(self, pin: bool | None) -> None:
        pending, self._pending_smtp = self._pending_smtp, None
        if not pin or pending is None:
            self._set_busy(False)
            self._status(
                Content.assemble(
                    ("✗ Not saved: ", "bold"), "the outgoing server's certificate was refused."
                ).stylize("$text-error")
            )
            self.query_one("#save-anyway").display = True
            return
        self._smtp_trusted = pending
        submission = self._submission()
        if submission is None:
            self._set_busy(False)
            return
        self._set_busy(True, "Outgoing certificate accepted; testing again…")
        self._test_and_save(submission)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Test & save", self.action_test_and_save, "Log in, and save only if that works"
            ),
            PaletteCommand("Cancel", self.action_cancel, "Close the form without saving"),
        ]

    # ------------------------------------------------------------------ status line

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self.query_one("#test-spinner").display = busy
        self.query_one("#test-save", Button).disabled = busy
        self.query_one("#save-anyway", Button).disabled = busy
        if busy:
            self.query_one("#save-anyway").display = False
            self._status(Content(text))

    def _status(self, content: Content) -> None:
        status = self.query_one("#test-status", Static)
        status.update(content)
        status.display = bool(content.plain)
