"""An OAuth2 mailbox has no password to fix: wherever a disabled mailbox is explained (the
engine's words, the mailbox detail), an OAuth2 one is told to sign in again."""

from __future__ import annotations

from datetime import datetime

from tui.core.settings import AUTH_OAUTH2, AUTH_PASSWORD
from tui.core.sync.outcome import enable_advice
from tui.widgets.mailbox_detail import mailbox_detail
from tui.widgets.mailbox_table import MailboxRow, MailboxState


def test_enable_advice_by_kind_of_login() -> None:
    oauth = enable_advice("Work", AUTH_OAUTH2)
    assert oauth.startswith("Sign in again")
    assert "poptui account signin 'Work'" in oauth and "Ctrl+G" in oauth
    assert "password" not in oauth
    password = enable_advice("Home", AUTH_PASSWORD)
    assert "poptui password set 'Home' --incoming" in password


def row(*, signs_in: bool) -> MailboxRow:
    return MailboxRow(
        account_id=1,
        name="Work",
        email="ana@example.test",
        server="127.0.0.1:995",
        security="SSL/TLS",
        is_active=True,
        state=MailboxState.DISABLED,
        reason="3 failed logins in a row.",
        last_fetch_at=None,
        last_fetch_new=0,
        message_count=0,
        delete_policy="leave",
        signs_in=signs_in,
    )


def test_mailbox_detail_of_a_disabled_oauth2_mailbox() -> None:
    now = datetime(2026, 1, 1)
    oauth = mailbox_detail(row(signs_in=True), now).plain
    assert "signed in again" in oauth and "Ctrl+G" in oauth
    assert "new password" not in oauth
    assert "a new password (p)" in mailbox_detail(row(signs_in=False), now).plain
