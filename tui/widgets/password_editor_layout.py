"""The rows of the password editor (`tui.screens.password_editor`) that describe the servers.

The editor opens with its incoming part only and mounts `outgoing_rows` once typing pauses;
keeping the rows here lets the screen module be about behaviour (mounting, checking, saving).
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from tui.core.secrets import SecretKind
from tui.core.settings import AccountSettings
from tui.core.text import clean
from tui.widgets.password_pair import PasswordPair


def server_line(host: str, port: int, security: str, username: str) -> Content:
    """`host:port (security) as user`, cleaned: the settings may come from an imported file."""
    user = f" as {clean(username)}" if username else ""
    return Content(f"{clean(host)}:{port} ({security}){user}")


def outgoing_rows(settings: AccountSettings, *, editable: bool) -> list[Widget]:
    """The outgoing part, in order: its title, its server, why it cannot be edited (when it
    cannot), its password pair, and the editor's closing hint."""
    rows: list[Widget] = [Static("Outgoing server (SMTP)", classes="section-title")]
    if settings.outgoing_host:
        rows.append(
            Static(
                server_line(
                    settings.outgoing_host,
                    settings.outgoing_port,
                    settings.outgoing_security.label,
                    settings.effective_outgoing_username,
                ),
                classes="server-line",
            )
        )
    same = Static(id="outgoing-same")
    if settings.same_credentials_for_outgoing and settings.outgoing_host:
        same.update(
            "Uses the same credentials as the incoming server: the incoming password "
            "is used for sending too."
        )
    elif not settings.outgoing_host:
        same.update("No outgoing server is set for this mailbox (e to edit its settings).")
    same.display = not editable
    rows += [
        same,
        PasswordPair(SecretKind.OUTGOING.value, disabled=not editable),
        Static(
            "Leave a part empty to keep its password. Verify & save logs in with the new "
            "password first and saves nothing if that fails.",
            id="password-editor-hint",
        ),
    ]
    return rows
