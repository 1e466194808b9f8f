"""The outgoing-server (SMTP) part of the account form: shared credentials or separate ones.

With "Use the same credentials" ticked only the server is asked for and the incoming login is
used; unticked, a username and password of its own appear. The section is optional: an empty
server means the mailbox only fetches, and the form fills it only when the user asks.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Static

from tui.core.settings import AccountSettings
from tui.widgets.form_fields import attr_field, security_select
from tui.widgets.marked_choices import MarkedCheckbox


class OutgoingServerFields(Vertical):
    """Server, port and security of the outgoing server, and its own login when not shared."""

    DEFAULT_CSS = """
    OutgoingServerFields {
        height: auto;
    }
    OutgoingServerFields > #same-credentials {
        margin: 0 0 0 1;
    }
    OutgoingServerFields > #outgoing-credentials {
        height: auto;
    }
    """

    def __init__(self, base: AccountSettings, *, password_placeholder: str) -> None:
        super().__init__()
        self._base = base
        self._password_placeholder = password_placeholder

    def compose(self) -> ComposeResult:
        base = self._base
        yield Static("Outgoing server (SMTP)", classes="section-title")
        yield MarkedCheckbox(
            "Use the same credentials for the outgoing server",
            base.same_credentials_for_outgoing,
            id="same-credentials",
            compact=True,
        )
        yield attr_field(
            "outgoing_host", "Server", Input(base.outgoing_host, placeholder="smtp.example.com")
        )
        yield attr_field("outgoing_port", "Port", Input(str(base.outgoing_port), classes="short"))
        yield attr_field("outgoing_security", "Security", security_select(base.outgoing_security))
        with Vertical(id="outgoing-credentials"):
            yield attr_field("outgoing_username", "Username", Input(base.outgoing_username))
            yield attr_field(
                "outgoing_password",
                "Password",
                Input(password=True, placeholder=self._password_placeholder),
            )

    def on_mount(self) -> None:
        self._show_credentials(self._base.same_credentials_for_outgoing)

    @property
    def same_credentials(self) -> bool:
        return self.query_one("#same-credentials", Checkbox).value

    @property
    def password(self) -> str:
        """The typed outgoing password; "" with shared credentials (the field is hidden)."""
        return "" if self.same_credentials else self.query_one("#outgoing-password", Input).value

    @on(Checkbox.Changed, "#same-credentials")
    def _same_credentials_changed(self, event: Checkbox.Changed) -> None:
        self._show_credentials(event.value)

    def _show_credentials(self, shown_same: bool) -> None:
        self.query_one("#outgoing-credentials").display = not shown_same
