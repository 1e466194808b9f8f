"""What the add/edit mailbox form fills in by itself: servers from a known provider's preset,
the outgoing server guessed from the incoming one, ports that follow the security choice.

`AccountFields` owns one `FormFiller` and calls it as the user types; the filler remembers
which values it put in, so a value the user typed is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widget import Widget
from textual.widgets import Input, Select

from tui.core.settings import AccountSettings, Security
from tui.core.setup import providers
from tui.core.setup.addresses import validate_email
from tui.core.setup.form_rules import outgoing_follows_incoming
from tui.widgets.form_fields import attr_id
from tui.widgets.oauth_fields import OAuthFields
from tui.widgets.provider_hints import PasswordHint, ProviderSummary


class FormFiller:
    """The form's own values in `form`'s fields: `current` reads the settings as typed, and
    `after_preset` runs once a preset was applied (the fields' rules that depend on it)."""

    def __init__(
        self,
        form: Widget,
        base: AccountSettings,
        *,
        current: Callable[[], AccountSettings],
        after_preset: Callable[[], None],
    ) -> None:
        self._form = form
        self._current = current
        self._after_preset = after_preset
        self.auto: dict[str, str] = {}
        """Widget id → the value the form itself put there (from a preset or a default); a
        field whose value differs from this was typed by the user and is never overwritten."""
        self.security_shown: dict[str, Security] = {
            "incoming-security": base.incoming_security,
            "outgoing-security": base.outgoing_security,
        }
        self._preset_key: tuple[str, str] | None = None

    def _input(self, attr: str) -> Input:
        return self._form.query_one(f"#{attr_id(attr)}", Input)

    def _text(self, attr: str) -> str:
        return self._input(attr).value

    def user_owned(self, attr: str) -> bool:
        """True when the user typed this field's value, so the form must not overwrite it."""
        value = self._text(attr)
        return bool(value.strip()) and value != self.auto.get(attr_id(attr))

    def set_auto(self, attr: str, value: str) -> None:
        self.auto[attr_id(attr)] = value
        self._input(attr).value = value

    def _set_auto_security(self, attr: str, value: Security) -> None:
        wid = attr_id(attr)
        self.security_shown[wid] = value
        self._form.query_one(f"#{wid}", Select).value = value

    def apply_preset(self, *, leaving: bool) -> None:
        """Fill the servers from a known provider and say what was filled.

        Runs as the address is typed (so the form fills as soon as the address is complete)
        and when the field is left; fields the user typed are kept.
        """
        form = self._form
        email = self._text("email").strip()
        summary = form.query_one("#preset-summary", ProviderSummary)
        if validate_email(email) is not None:
            if leaving:
                self._preset_key = None
                summary.display = False
            return
        preset = providers.lookup_known(email)
        if preset is None:
            if leaving:
                self._preset_key = None
                form.query_one("#password-hint", PasswordHint).show_for(None)
                if not self.user_owned("username"):
                    self.set_auto("username", email)
                summary.show_unknown(email.rpartition("@")[2])
                host = self._text("incoming_host").strip()
                form.query_one(OAuthFields).follow(host, unknown_address=True)
            return
        key = (preset.name, email)
        if key == self._preset_key:
            return
        self._preset_key = key
        form.query_one("#password-hint", PasswordHint).show_for(preset)
        if self.user_owned("incoming_host"):
            kept = f"{preset.name} usually uses {preset.incoming.describe()}; kept the server "
            summary.show_preset(preset, [kept + "you entered."], filled=False)
            return
        filled, lines = providers.apply_preset(self._current(), preset)
        self.set_auto("incoming_host", filled.incoming_host)
        self.set_auto("incoming_port", str(filled.incoming_port))
        self._set_auto_security("incoming_security", filled.incoming_security)
        if self.user_owned("username"):
            lines = [line for line in lines if not line.startswith("Username set to")]
            lines.append("Kept the username you entered")
        else:
            self.set_auto("username", filled.username)
        if preset.outgoing is not None and not self.user_owned("outgoing_host"):
            self.set_auto("outgoing_host", filled.outgoing_host)
            self.set_auto("outgoing_port", str(filled.outgoing_port))
            self._set_auto_security("outgoing_security", filled.outgoing_security)
            if not self.user_owned("outgoing_username"):
                self.set_auto("outgoing_username", filled.outgoing_username)
        self._after_preset()
        form.query_one(OAuthFields).follow(filled.incoming_host)
        summary.show_preset(preset, lines, filled=True)

    def fill_outgoing(self) -> None:
        """Asked for an outgoing server: guess it from the incoming one, unless one was typed."""
        if self.user_owned("outgoing_host") or not self._text("incoming_host").strip():
            return
        filled = providers.fill_outgoing_from_incoming(self._current())
        self.set_auto("outgoing_host", filled.outgoing_host)
        self.set_auto("outgoing_port", str(filled.outgoing_port))
        self._set_auto_security("outgoing_security", filled.outgoing_security)

    def follow_incoming(self) -> None:
        """Only an outgoing server the form filled in follows; empty is "not configured"."""
        if outgoing_follows_incoming(self._text("outgoing_host"), self.auto.get("outgoing-host")):
            self.fill_outgoing()
