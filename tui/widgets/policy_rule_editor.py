"""The rule part of a sharing policy as form fields: User's choice or a fixed permission, locked
or not, and for Public the domains whose mail stays private.

The administrators' policy editor (`tui.screens.sharing_admin`) shows one of these for the user
or role under its cursor and saves what `policy()` reads from it.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet

from tui.core.settings import SharingPermission
from tui.core.sharing.rules import MAX_EXCLUDED_DOMAINS, Policy, PolicyMode, normalize_domains
from tui.widgets.marked_choices import MarkedCheckbox, MarkedRadioButton

USERS_CHOICE = "users-choice"
"""The radio value for User's choice; the other values are permissions."""


def choice_button_id(value: str) -> str:
    return f"policy-choice-{value}"


class PolicyRuleEditor(Vertical):
    """Radio buttons for the rule, a Locked box and the excluded domains (Public only)."""

    DEFAULT_CSS = """
    PolicyRuleEditor {
        height: auto;
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
    }
    """

    def compose(self) -> ComposeResult:
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

    def show(self, policy: Policy) -> None:
        """Fill the fields from `policy` (dropping whatever was typed)."""
        if policy.mode is PolicyMode.USERS_CHOICE:
            choice = USERS_CHOICE
        else:
            choice = (policy.permission or SharingPermission.PRIVATE).value
        self.query_one(f"#{choice_button_id(choice)}", RadioButton).value = True
        self.query_one("#policy-locked", Checkbox).value = policy.locked
        self.query_one("#policy-domains", Input).value = " ".join(policy.excluded_domains)
        self._sync_domains()

    def policy(self) -> Policy:
        """The policy the fields say (its source empty: it is not set yet).

        Raises `SharingError` when the excluded domains are not valid.
        """
        choice = self._choice()
        permission = None if choice == USERS_CHOICE else SharingPermission(choice)
        domains: tuple[str, ...] = ()
        if permission is SharingPermission.PUBLIC:
            domains = normalize_domains([self.query_one("#policy-domains", Input).value])
        return Policy(
            PolicyMode.USERS_CHOICE if permission is None else PolicyMode.FIXED,
            permission,
            self.query_one("#policy-locked", Checkbox).value,
            domains,
            source="",
        )

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
