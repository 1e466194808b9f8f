"""The words for fetch outcomes, shared by `poptui fetch` and the app, and the poll schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from tui.core.errors import PoptuiError
from tui.core.net import pop3
from tui.core.secrets import SecretStoreError
from tui.core.storage.accounts import AccountNotFound
from tui.core.storage.models import Account
from tui.core.sync import AlreadyFetching, FetchResult, PollSchedule, UidlRequired
from tui.core.sync.errors import FetchCancelled, MissingPassword
from tui.core.sync.outcome import describe_failure, describe_success, error_text, summary_line

NOW = datetime(2025, 3, 1, 12, 0)


def test_summary_line_says_everything_a_fetch_did() -> None:
    result = FetchResult(
        "Box",
        new_messages=3,
        bytes_fetched=1536,
        deleted_on_server=2,
        skipped_too_large=1,
        left_for_next_time=1200,
        duplicates_by_message_id=4,
        uidl_reset_suspected=True,
        seconds=0.42,
    )
    assert summary_line(result) == (
        "Box: 3 new messages, 1.5 KB, 2 deleted on the server, 1 skipped as too large, "
        "1,200 left for the next fetch by the per-fetch limit, "
        "4 already here under the same Message-ID, "
        "the server renumbered its messages, so nothing was deleted in 0.4s"
    )
    assert summary_line(FetchResult("Box", new_messages=1)) == "Box: 1 new message in 0.0s"


def test_the_app_and_the_command_line_name_the_same_details() -> None:
    result = FetchResult("Box", new_messages=2, bytes_fetched=100, deleted_on_server=2)
    notice = describe_success("Box", result, None, manual=True)
    assert notice.text == "Box: 2 new messages (2 deleted on the server)"
    assert notice.status == "2 new, 100 B"
    assert "2 deleted on the server" in summary_line(result)


def test_a_quiet_background_fetch_raises_no_notification() -> None:
    notice = describe_success("Box", FetchResult("Box"), None, manual=False)
    assert (notice.text, notice.status) == ("", "no new mail")
    asked = describe_success("Box", FetchResult("Box"), None, manual=True)
    assert asked.text == "Box: no new mail"


def test_error_text_adds_the_hint_after_a_dash() -> None:
    assert error_text(PoptuiError("It broke.", hint="Fix it.")) == "It broke. — Fix it."
    assert error_text(UidlRequired("No UIDL.")) == "No UIDL."
    assert error_text(ValueError("plain")) == "plain"
    failed = FetchResult("Box", error=AlreadyFetching("Box is already being fetched"))
    assert summary_line(failed) == "Box: Box is already being fetched"


def test_a_generic_server_error_says_when_the_next_try_is() -> None:
    account = Account(name="Box", is_active=True, poll_minutes=5)
    error = pop3.ConnectFailed("Could not connect to pop.example.com:995: connection refused")
    notice = describe_failure("Box", error, account, polling=True)
    assert notice.text == f"Box: {error.message} Trying again in 5 min."
    assert notice.status == error.message and notice.severity == "error"


def test_fixed_failures_name_the_mailbox_and_keep_braces_literal() -> None:
    """The table of fixed sentences: the name and the error go in as text, never as format."""
    cases = [
        (MissingPassword("x"), "error", "no password stored, set it with p"),
        (AlreadyFetching("x"), "warning", "being fetched elsewhere"),
        (FetchCancelled("stopped {here}"), "warning", "stopped"),
        (SecretStoreError("locked {0}"), "error", "password store unavailable"),
        (AccountNotFound("x"), "warning", "removed"),
    ]
    for error, severity, status in cases:
        notice = describe_failure("Wo{rk}", error, None, polling=False)
        assert notice.text.startswith("Wo{rk}")
        assert (notice.severity, notice.status) == (severity, status)
    cancelled = describe_failure("Box", FetchCancelled("stopped {here}"), None, polling=False)
    assert cancelled.text == "Box: stopped {here}"
    store = describe_failure("Box", SecretStoreError("locked {0}"), None, polling=False)
    assert store.text == "Box: the password could not be read from the password store: locked {0}"


def test_the_schedule_waits_the_poll_interval_and_a_login_delay() -> None:
    schedule = PollSchedule()
    account = Account(id=1, name="Box", poll_minutes=5, last_fetch_at=NOW - timedelta(minutes=4))
    assert schedule.next_fetch_at(account, NOW) == NOW + timedelta(minutes=1)
    assert not schedule.is_due(account, NOW)
    assert schedule.is_due(account, NOW + timedelta(minutes=1))
    schedule.retry_after(1, NOW, 15 * 60)  # the server said LOGIN-DELAY 900
    assert schedule.next_fetch_at(account, NOW) == NOW + timedelta(minutes=15)
    assert not schedule.is_due(account, NOW + timedelta(minutes=14))
    never = Account(id=2, name="New", poll_minutes=0, last_fetch_at=None)
    assert schedule.is_due(never, NOW)
    never.disabled = True
    assert not schedule.is_due(never, NOW)
