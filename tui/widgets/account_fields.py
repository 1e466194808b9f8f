"""The fields of the add/edit mailbox form: filled from the address, checked as you type.

`AccountFields` holds everything typed and what the form filled in itself; the screen around it
(`tui.screens.account_form`) asks it for the settings when testing and saving. The rules behind
the checks live in `tui.core.setup` (validation, providers, form_rules); which widgets there are
and their ids, in `tui.widgets.account_field_layout`; what the form fills in by itself, in
`tui.widgets.account_autofill`.
"""

from __future__ import annotations

import asyncio
import dataclasses

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Select, Static

from tui.core.settings import (
    DEFAULT_POP3_PORTS,
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    DeletePolicy,
    Security,
)
from tui.core.setup.form_rules import (
    NumberParser,
    ServerPin,
    form_problems,
    is_gmail_recent,
    outgoing_pin,
    parse_delete_after_days,
    parse_poll_minutes,
    pin_applies,
    port_after_security_change,
)
from tui.core.setup.validation import Problem, parse_port, problems_by_field
from tui.core.text import clean
from tui.widgets.account_autofill import FormFiller
from tui.widgets.account_field_layout import (
    FORM_FIELDS,
    GMAIL_RECENT_FORCES_LEAVE,
    compose_first,
    compose_rest,
    policy_button_id,
)
from tui.widgets.form_fields import FieldMessage, attr_id
from tui.widgets.marked_choices import ChoiceRadioSet
from tui.widgets.oauth_fields import OAuthFields
from tui.widgets.outgoing_fields import OutgoingServerFields

__all__ = ["FORM_FIELDS", "GMAIL_RECENT_FORCES_LEAVE", "AccountFields"]

REST_AFTER_PAUSE = 0.6
"""Seconds without typing after which the fields below the address are mounted: mounting them
takes long enough on a busy machine that typing during it would lag."""


class AccountFields(VerticalScroll):
    """Every field of one mailbox; `editing_name` set means editing (empty passwords: unchanged)."""

    DEFAULT_CSS = """
    AccountFields > #form-intro {
        color: $text-muted;
        margin-bottom: 1;
    }
    AccountFields .field-hint {
        width: 100%;
        height: auto;
        color: $text-muted;
    }
    AccountFields #delete-explanation {
        width: 100%;
        height: auto;
        display: none;
        color: $text-warning;
    }
    AccountFields > #pin-summary {
        display: none;
        margin-left: 18;
        color: $text-muted;
    }
    AccountFields > #other-problems {
        margin-top: 1;
    }
    """

    def __init__(
        self,
        base: AccountSettings,
        *,
        editing_name: str | None,
        existing_names: list[str],
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._base = base
        self._editing_name = editing_name
        self._existing_names = existing_names
        self._touched: set[str] = set()
        self._show_all = False
        self._filler = FormFiller(
            self, base, current=lambda: self.settings()[0], after_preset=self._sync_recent
        )
        self._pin_host = base.incoming_host if base.pinned_fingerprint else ""
        self._building = False
        self._extra: list[Widget] = []
        self._built = asyncio.Event()
        self._rest_timer: Timer
        self.accepted_outgoing: ServerPin | None = None
        """The outgoing certificate the user accepted: for this form only, because an account
        keeps one pin, the incoming server's (the same certificate on both is accepted anyway)."""

    @property
    def editing(self) -> bool:
        return self._editing_name is not None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield from compose_first(self._base, editing=self.editing)

    def on_mount(self) -> None:
        # A form composed ahead (tui.screens.ready) waits until it is shown: mounting the rest
        # off screen would make its first frame lay out every field.
        self._rest_timer = self.set_timer(
            REST_AFTER_PAUSE, self.ensure_built, pause=not self.screen.is_current
        )

    def shown(self, existing_names: list[str]) -> None:
        """The form is on screen (perhaps composed ahead): the names taken now, and the
        rest follows once typing pauses."""
        self._existing_names = existing_names
        if not self._building:
            self._rest_timer.reset()
            self._rest_timer.resume()

    @property
    def ready(self) -> bool:
        """True once every field is mounted (until then only the name and address are)."""
        return self._built.is_set()

    async def ensure_built(self) -> None:
        """Mount the fields after the address (at most once), and wait until they are.

        Called when typing pauses, and by every verb that needs the whole form (Tab out of
        the address, Test & save): keys are handed over one at a time, so none overtakes it.
        """
        if not self._building:
            self._building = True
            self._rest_timer.stop()
            for section in [*compose_rest(self._base, editing=self.editing), self._extra]:
                for widget in section:
                    # One row at a time, so keys typed meanwhile are handled in between.
                    await self.mount(widget)
                    await asyncio.sleep(0)
            self._rest_mounted()
            self._built.set()
        await self._built.wait()

    def add_section(self, widget: Widget) -> None:
        """A section another part of poptui adds after the form's own rows (e.g. delivery
        targets): mounted with the rest, last."""
        if self._building:
            self.mount(widget)
        else:
            self._extra.append(widget)

    def _rest_mounted(self) -> None:
        if not self.editing:
            self._filler.auto = {
                "incoming-port": str(self._base.incoming_port),
                "outgoing-port": str(self._base.outgoing_port),
            }
        self._show_days(self._base.delete_policy is DeletePolicy.AFTER_DAYS)
        self._sync_recent()
        self._show_pin()
        self._oauth_toggled()
        if self._text("email").strip():
            self._filler.apply_preset(leaving="email" in self._touched)
        self.refresh_messages()

    # ------------------------------------------------------------------ reading the form

    def _input(self, attr: str) -> Input:
        return self.query_one(f"#{attr_id(attr)}", Input)

    def _text(self, attr: str) -> str:
        return self._input(attr).value

    @property
    def password(self) -> str:
        """The typed password; "" for a mailbox that signs in (the field is hidden then)."""
        return "" if self.query_one(OAuthFields).signs_in else self._text("password")

    @property
    def outgoing_password(self) -> str:
        return self.query_one(OutgoingServerFields).password

    def _security(self, attr: str) -> Security:
        value = self.query_one(f"#{attr_id(attr)}", Select).value
        return value if isinstance(value, Security) else Security.SSL

    def _policy(self) -> DeletePolicy:
        policies: ChoiceRadioSet[DeletePolicy] = self.query_one("#delete-policy", ChoiceRadioSet)
        return policies.chosen

    def _same_credentials(self) -> bool:
        return self.query_one(OutgoingServerFields).same_credentials

    def settings(self) -> tuple[AccountSettings, list[Problem]]:
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
            poll_minutes=number("poll_minutes", base.poll_minutes, parse_poll_minutes),
            pinned_fingerprint=base.pinned_fingerprint if self._pin_still_applies() else "",
        )
        settings.outgoing_pinned_fingerprint = outgoing_pin(
            settings.outgoing_host,
            settings.outgoing_port,
            accepted=self.accepted_outgoing,
            saved=base,
        )
        if policy is DeletePolicy.AFTER_DAYS:
            settings.delete_after_days = number(
                "delete_after_days", base.delete_after_days, parse_delete_after_days
            )
        if settings.same_credentials_for_outgoing:
            # The hidden outgoing username follows the incoming one (without Gmail's recent:).
            settings.outgoing_username = settings.effective_outgoing_username
        return self.query_one(OAuthFields).settings_with(settings), problems

    def _pin_still_applies(self) -> bool:
        return pin_applies(
            self._base.pinned_fingerprint, self._pin_host, self._text("incoming_host")
        )

    def pin_incoming(self, fingerprint: str) -> None:
        """The user trusted the incoming server's certificate: pin it for the typed host."""
        self._base = dataclasses.replace(self._base, pinned_fingerprint=fingerprint)
        self._pin_host = self._text("incoming_host").strip()
        self._show_pin()

    # ------------------------------------------------------------------ showing problems

    def check_all(self) -> tuple[AccountSettings, list[Problem]]:
        """Before testing: every problem shown, also in fields not visited yet."""
        self._show_all = True
        return self.refresh_messages()

    def refresh_messages(self) -> tuple[AccountSettings, list[Problem]]:
        """Show each field's problems beside it: warnings at once, errors once it was left."""
        settings, unparsed = self.settings()
        problems = form_problems(
            settings,
            unparsed,
            existing_names=self._existing_names,
            editing_name=self._editing_name,
            password_missing=not self.password,
            order=FORM_FIELDS,
        )
        grouped = problems_by_field(problems)
        for attr in FORM_FIELDS:
            self.query_one(f"#{attr_id(attr)}-message", FieldMessage).show_problems(
                (problem.is_error, problem.message)
                for problem in grouped.get(attr, [])
                if not problem.is_error or self._show_all or attr in self._touched
            )
        self.query_one("#other-problems", FieldMessage).show_problems(
            (problem.is_error, problem.message)
            for field, found in grouped.items()
            if field not in FORM_FIELDS
            for problem in found
        )
        return settings, problems

    def focus_field(self, attr: str) -> None:
        if attr in FORM_FIELDS:
            self.query_one(f"#{attr_id(attr)}").focus()

    # ------------------------------------------------------------------ reacting to input

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if not self.ready:
            self._rest_timer.reset()  # still typing: the rest waits for a pause
            return
        wid = event.input.id or ""
        if wid == "email":
            self._filler.apply_preset(leaving=False)
        elif wid == "incoming-host":
            self._filler.follow_incoming()
            self.query_one(OAuthFields).follow(self._text("incoming_host").strip())
            self._show_pin()
        elif wid == "username":
            self._sync_recent()
        self.refresh_messages()

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        wid = event.input.id or ""
        self._touched.add(wid.replace("-", "_"))
        if not self.ready:
            return  # the preset and the messages follow once the rest is mounted
        if wid == "email":
            self._filler.apply_preset(leaving=True)
        self.refresh_messages()

    @on(Select.Changed)
    def _security_changed(self, event: Select.Changed) -> None:
        if not self.ready:
            return  # a field being mounted: `_rest_mounted` brings everything in line
        wid = event.select.id or ""
        new = event.value if isinstance(event.value, Security) else Security.SSL
        old = self._filler.security_shown.get(wid, new)
        self._filler.security_shown[wid] = new
        if new is not old:
            self._touched.add(wid.replace("-", "_"))
            incoming = wid == "incoming-security"
            side, defaults = (
                ("incoming", DEFAULT_POP3_PORTS) if incoming else ("outgoing", DEFAULT_SMTP_PORTS)
            )
            port = port_after_security_change(
                self._text(f"{side}_port"), defaults[old], defaults[new]
            )
            if port is not None:
                self._filler.set_auto(f"{side}_port", port)
            if incoming:
                self._filler.follow_incoming()
        self.refresh_messages()

    @on(Checkbox.Changed, "#same-credentials")
    def _same_credentials_changed(self) -> None:
        if not self.ready:
            return
        # Choosing how the outgoing server logs in is asking for one: fill it if it is empty.
        self._filler.fill_outgoing()
        self.refresh_messages()

    @on(Checkbox.Changed, "#oauth2")
    def _oauth_toggled(self) -> None:
        """Signing in takes no password: its field goes while the choice is on."""
        self.query_one("#field-password").display = not self.query_one(OAuthFields).signs_in
        if self.ready:
            self.refresh_messages()

    @on(RadioSet.Changed, "#delete-policy")
    def _policy_changed(self) -> None:
        if not self.ready:
            return
        self._touched.add("delete_policy")
        self._show_days(self._policy() is DeletePolicy.AFTER_DAYS)
        self.refresh_messages()

    def _show_days(self, shown: bool) -> None:
        self.query_one("#field-delete-after-days").display = shown

    def _sync_recent(self) -> None:
        """Gmail's recent: mode needs "Leave messages on the server": force it and say why."""
        recent = is_gmail_recent(self._text("username"))
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
