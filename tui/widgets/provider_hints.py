"""What the account form says about a known provider: what it filled in, and password advice.

Preset names and notes come from the built-in table, but the domain is typed by the user, so
everything is cleaned and shown as `Content`.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tui.core.setup.providers import ProviderPreset
from tui.core.text import clean


class ProviderSummary(Static):
    """Below the address: the servers filled in for a known provider, and its advice."""

    DEFAULT_CSS = """
    ProviderSummary {
        width: 100%;
        height: auto;
        color: $text-muted;
        display: none;
        padding: 0 0 0 2;
    }
    """

    def show_preset(self, preset: ProviderPreset, lines: list[str], *, filled: bool) -> None:
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
        self.update(Content("\n").join(parts))
        self.display = bool(parts)

    def show_unknown(self, domain: str) -> None:
        self.update(
            Content(
                f"No built-in settings for {clean(domain)}: enter the server names your "
                "provider gives, or ask your administrator."
            ).stylize("$text-muted")
        )
        self.display = True


class PasswordHint(Static):
    """Below the password: app passwords, or that the provider refuses passwords for POP."""

    DEFAULT_CSS = """
    PasswordHint {
        width: 100%;
        height: auto;
        color: $text-muted;
        display: none;
    }
    """

    def show_for(self, preset: ProviderPreset | None) -> None:
        name = clean(preset.name) if preset is not None else ""
        if preset is not None and preset.needs_app_password:
            self.update(Content(f"{name} wants an app password when two-step verification is on."))
        elif preset is not None and preset.oauth_only:
            self.update(
                Content(
                    f"{name} refuses passwords for POP: leave the password empty; Test & save "
                    "saves the mailbox and opens the sign-in."
                )
            )
        self.display = preset is not None and (preset.needs_app_password or preset.oauth_only)
