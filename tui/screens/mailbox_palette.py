"""The command palette's entries on the home screen: its verbs (those that apply now) and one
"Switch active mailbox" per other mailbox, so every key has a searchable name too."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from tui.commands import PaletteCommand

if TYPE_CHECKING:
    from tui.screens.mailbox_list import MailboxListScreen


def mailbox_palette(screen: MailboxListScreen) -> list[PaletteCommand]:
    """The home screen's verbs for the command palette, and one switch per mailbox."""
    commands = [
        PaletteCommand("Add account", screen.action_add_mailbox, "Set up a new mailbox"),
        PaletteCommand(
            "Import fetchmail, getmail, mpop or Thunderbird setup",
            screen.action_import_setups,
            "Take over another program's mailboxes and the mail it already fetched",
        ),
    ]
    if screen.passwords_locked:
        commands.append(
            PaletteCommand(
                "Unlock passwords",
                screen.action_unlock_passwords,
                "Enter the encrypted password file's passphrase",
            )
        )
    if screen.loose_files:
        commands.append(
            PaletteCommand(
                "Fix file permissions",
                screen.action_fix_permissions,
                "Make poptui's database and password files readable only by you",
            )
        )
    if screen.table.highlighted is not None:
        commands += [
            PaletteCommand("Fetch now", screen.action_fetch_now, "Fetch the highlighted mailbox"),
            PaletteCommand(
                "Test connection",
                screen.action_test_connection,
                "Log in to the highlighted mailbox's server",
            ),
            PaletteCommand(
                "Edit account", screen.action_edit_mailbox, "Change the highlighted mailbox"
            ),
            PaletteCommand(
                "Delete account", screen.action_delete_mailbox, "Remove the highlighted mailbox"
            ),
            PaletteCommand(
                "Change password",
                screen.action_edit_password,
                "Incoming or outgoing password of the highlighted mailbox",
            ),
            PaletteCommand("Open messages", screen.action_open_messages, "Browse the fetched mail"),
            PaletteCommand(
                "Sharing permission",
                screen.action_edit_sharing,
                "Who may see the highlighted mailbox's mail",
            ),
        ]
    for row in screen.rows:
        if not row.is_active:
            commands.append(
                PaletteCommand(
                    f"Switch active mailbox: {row.name}",
                    partial(screen.switch_active_to, row.account_id),
                    "Make it the one mailbox that is fetched",
                )
            )
    return commands
