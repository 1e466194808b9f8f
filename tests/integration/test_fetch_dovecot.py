"""The fetch engine against a real Dovecot: sync, delete settings, security, failures, the lock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import (
    crlf,
    dovecot_account,
    fetch,
    make_message,
    open_test_db,
    stored_sources,
)
from tests.servers.dovecot import DovecotServer
from tui.core.net import pop3
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES
from tui.core.settings import DeletePolicy, Security
from tui.core.storage.models import Account, FetchLog, Message, utcnow
from tui.core.sync import (
    AUTH_FAILURES_BEFORE_DISABLE,
    AccountDisabled,
    AlreadyFetching,
    FetchOptions,
    account_lock,
    summary_line,
)


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Any:
    db = open_test_db(tmp_path)
    yield db
    db.close()


def deliver(dovecot: DovecotServer, user: PopUser, count: int, start: int = 0) -> list[bytes]:
    messages = [make_message(i) for i in range(start, start + count)]
    dovecot.deliver_many(user.name, messages)
    return messages


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS, Security.NONE])
def test_first_and_incremental_fetch(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, security: Security
) -> None:
    first = deliver(dovecot, pop_user, 5)
    account = dovecot_account(dovecot, pop_user.name, security=security)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok, result.error
    assert result.new_messages == 5
    assert stored_sources(account) == [crlf(m) for m in first]
    subjects = [m.subject for m in Message.select().order_by(Message.id)]
    assert subjects == [f"Message number {i}" for i in range(5)]

    again = fetch(account, pop_user.password, tmp_path)
    assert (again.ok, again.new_messages) == (True, 0)

    second = deliver(dovecot, pop_user, 3, start=5)
    third = fetch(account, pop_user.password, tmp_path)
    assert (third.ok, third.new_messages) == (True, 3)
    assert stored_sources(account) == [crlf(m) for m in first + second]
    assert len(dovecot.maildir_messages(pop_user.name)) == 8  # "leave on server"
    fresh = Account.get_by_id(account.id)
    assert (fresh.last_fetch_status, fresh.last_fetch_new) == ("ok", 3)
    assert FetchLog.select().where(FetchLog.status == "ok").count() == 3


def test_delete_after_fetch_empties_the_server(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 4)
    account = dovecot_account(dovecot, pop_user.name, delete_policy=DeletePolicy.AFTER_FETCH)
    result = fetch(account, pop_user.password, tmp_path)
    assert (result.ok, result.new_messages, result.deleted_on_server) == (True, 4, 4)
    assert dovecot.maildir_messages(pop_user.name) == []
    assert Message.select().where(Message.deleted_on_server).count() == 4


def test_delete_after_days_waits_for_the_days(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 3)
    account = dovecot_account(
        dovecot, pop_user.name, delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=7
    )
    assert fetch(account, pop_user.password, tmp_path).deleted_on_server == 0
    six_days = fetch(account, pop_user.password, tmp_path, now=lambda: utcnow() + timedelta(days=6))
    assert six_days.deleted_on_server == 0
    assert len(dovecot.maildir_messages(pop_user.name)) == 3
    eight_days = fetch(
        account, pop_user.password, tmp_path, now=lambda: utcnow() + timedelta(days=8)
    )
    assert (eight_days.ok, eight_days.deleted_on_server) == (True, 3)
    assert dovecot.maildir_messages(pop_user.name) == []


def test_delete_when_deleted_here(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    messages = deliver(dovecot, pop_user, 3)
    account = dovecot_account(dovecot, pop_user.name, delete_policy=DeletePolicy.WHEN_DELETED_HERE)
    assert fetch(account, pop_user.password, tmp_path).new_messages == 3
    assert len(dovecot.maildir_messages(pop_user.name)) == 3
    middle = Message.select().order_by(Message.id)[1]
    Message.update(deleted_here=True, deleted_here_at=utcnow()).where(
        Message.id == middle.id
    ).execute()
    result = fetch(account, pop_user.password, tmp_path)
    assert (result.ok, result.deleted_on_server) == (True, 1)
    assert [crlf(m) for m in dovecot.maildir_messages(pop_user.name)] == [
        crlf(messages[0]),
        crlf(messages[2]),
    ]


def test_wrong_password_is_a_clear_error_and_counts_towards_disabling(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 1)
    account = dovecot_account(dovecot, pop_user.name)
    result = fetch(account, "not-the-password", tmp_path)
    assert isinstance(result.error, pop3.AuthenticationFailed)
    assert "not-the-password" not in summary_line(result)
    fresh = Account.get_by_id(account.id)
    assert fresh.last_fetch_status == "error"
    assert "password" in fresh.last_fetch_error.lower()
    assert fresh.consecutive_auth_failures == 1
    Account.update(consecutive_auth_failures=AUTH_FAILURES_BEFORE_DISABLE - 1).where(
        Account.id == account.id
    ).execute()
    fetch(account, "still-wrong", tmp_path)
    fresh = Account.get_by_id(account.id)
    assert fresh.disabled and "failed logins in a row" in fresh.disabled_reason
    blocked = fetch(account, pop_user.password, tmp_path)
    assert isinstance(blocked.error, AccountDisabled)
    assert Message.select().count() == 0  # nothing was fetched while disabled


def test_success_resets_the_failure_counters(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    account = dovecot_account(dovecot, pop_user.name)
    fetch(account, "wrong", tmp_path)
    assert fetch(account, pop_user.password, tmp_path).ok
    assert Account.get_by_id(account.id).consecutive_auth_failures == 0


def test_untrusted_certificate_is_refused_and_reports_its_fingerprint(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 1)
    account = dovecot_account(dovecot, pop_user.name, pin=False)
    result = fetch(account, pop_user.password, tmp_path)
    assert isinstance(result.error, pop3.UntrustedCertificate)
    assert result.error.certificate is not None
    assert result.error.certificate.sha256 == dovecot.cert_fingerprint
    assert Message.select().count() == 0
    Account.update(pinned_fingerprint=dovecot.cert_fingerprint).where(
        Account.id == account.id
    ).execute()
    assert fetch(account, pop_user.password, tmp_path).new_messages == 1


def test_a_wrong_pin_is_refused(dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path) -> None:
    account = dovecot_account(dovecot, pop_user.name, pin=False, pinned_fingerprint="AB" * 32)
    result = fetch(account, pop_user.password, tmp_path)
    assert isinstance(result.error, pop3.UntrustedCertificate)


def test_wrong_host_name_is_refused_even_with_a_trusted_ca(
    dovecot_wrong_host: DovecotServer, tmp_path: Path
) -> None:
    account = dovecot_account(dovecot_wrong_host, "alice", pin=False)
    options = FetchOptions(lock_dir=tmp_path, timeout=10, ca_file=str(dovecot_wrong_host.cert_path))
    result = fetch(account, "secret", tmp_path, options=options)
    assert isinstance(result.error, pop3.UntrustedCertificate)
    assert "wrong.example" in " ".join(result.error.certificate.san)  # type: ignore[union-attr]


def test_ca_file_trusts_the_server(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 2)
    account = dovecot_account(dovecot, pop_user.name, pin=False, security=Security.STARTTLS)
    options = FetchOptions(lock_dir=tmp_path, timeout=10, ca_file=str(dovecot.cert_path))
    assert fetch(account, pop_user.password, tmp_path, options=options).new_messages == 2


def test_stls_stripped_by_the_network_is_refused_without_sending_the_password(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, tcp_proxy: Any
) -> None:
    proxy = tcp_proxy("127.0.0.1", dovecot.starttls_port)
    proxy.strip_capability("STLS")
    account = dovecot_account(
        dovecot, pop_user.name, security=Security.STARTTLS, port=proxy.address[1]
    )
    result = fetch(account, pop_user.password, tmp_path)
    assert isinstance(result.error, pop3.StartTlsUnavailable)
    assert pop_user.password.encode() not in proxy.client_bytes
    assert pop_user.name.encode() not in proxy.client_bytes


def test_connection_cut_mid_retr_deletes_nothing_and_resumes(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, tcp_proxy: Any
) -> None:
    body = b"".join(b"line %06d of a long message body\r\n" % i for i in range(4000))
    messages = [make_message(i, body=body) for i in range(6)]
    dovecot.deliver_many(pop_user.name, messages)
    proxy = tcp_proxy("127.0.0.1", dovecot.plain_port)
    account = dovecot_account(
        dovecot,
        pop_user.name,
        security=Security.NONE,
        port=proxy.address[1],
        delete_policy=DeletePolicy.AFTER_FETCH,
    )
    proxy.cut_after_server_bytes(len(body) * 3, after=b"octets\r\n", connections=1)
    cut = fetch(account, pop_user.password, tmp_path)
    assert not cut.ok
    assert isinstance(cut.error, (pop3.ConnectionLost, pop3.ProtocolError, pop3.Pop3Timeout))
    assert len(dovecot.maildir_messages(pop_user.name)) == 6  # nothing deleted on the server
    stored_after_cut = Message.select().count()
    assert stored_after_cut < 6
    resumed = fetch(account, pop_user.password, tmp_path)
    assert resumed.ok, resumed.error
    assert resumed.new_messages == 6 - stored_after_cut
    assert stored_sources(account) == [crlf(m) for m in messages]
    assert dovecot.maildir_messages(pop_user.name) == []


def test_long_lines_and_a_message_at_the_size_ceiling(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    long_line = make_message(1, body=b"x" * 5000 + b"\r\n.starts with a dot\r\n")
    line = b"0123456789" * 7 + b"\r\n"
    huge = make_message(2, body=line * ((MAX_MESSAGE_BYTES - 64 * 1024) // len(line)))
    # One past the ceiling: skipped as too large, so never deleted on the server either.
    over = make_message(3, body=line * ((MAX_MESSAGE_BYTES + 1024) // len(line)))
    dovecot.deliver_many(pop_user.name, [long_line, huge, over])
    account = dovecot_account(dovecot, pop_user.name, delete_policy=DeletePolicy.AFTER_FETCH)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok, result.error
    assert result.skipped_too_large == 1
    assert stored_sources(account) == [crlf(long_line), crlf(huge)]
    assert len(dovecot.maildir_messages(pop_user.name)) == 1


def test_per_fetch_limits(dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path) -> None:
    deliver(dovecot, pop_user, 5)
    dovecot.deliver(pop_user.name, make_message(99, body=b"y" * 200_000))
    account = dovecot_account(
        dovecot, pop_user.name, max_messages_per_fetch=3, max_message_bytes=100_000
    )
    first = fetch(account, pop_user.password, tmp_path)
    assert (first.new_messages, first.left_for_next_time, first.skipped_too_large) == (3, 2, 1)
    second = fetch(account, pop_user.password, tmp_path)
    assert (second.new_messages, second.left_for_next_time) == (2, 0)
    assert Message.select().count() == 5


def test_uidl_reset_neither_reimports_nor_deletes(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    messages = deliver(dovecot, pop_user, 12)
    account = dovecot_account(
        dovecot, pop_user.name, delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=1
    )
    assert fetch(account, pop_user.password, tmp_path).new_messages == 12
    # The server loses its index: the same mail comes back under new UIDLs, plus one new one.
    dovecot.clear(pop_user.name, reset_index=True)
    dovecot.deliver_many(pop_user.name, messages)
    dovecot.deliver(pop_user.name, make_message(100))
    later = fetch(account, pop_user.password, tmp_path, now=lambda: utcnow() + timedelta(days=3))
    assert later.ok, later.error
    assert later.uidl_reset_suspected
    assert later.new_messages == 1
    assert later.deleted_on_server == 0
    assert Message.select().count() == 13
    assert len(dovecot.maildir_messages(pop_user.name)) == 13


def test_malformed_mime_never_stops_a_fetch(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    broken = [
        b"Subject: =?utf-8?b?!!!notbase64?=\r\nDate: yesterday-ish\r\nContent-Type: multipart/mixed"
        b"; boundary=\r\n\r\n--\r\nno end",
        b"\xff\xfe garbage without headers \x00\x01\r\n",
        b"From: \r\nTo: <<<@@@>>>\r\nSubject: \x1b[31mred\r\n\r\nbody",
    ]
    dovecot.deliver_many(pop_user.name, broken)
    account = dovecot_account(dovecot, pop_user.name)
    result = fetch(account, pop_user.password, tmp_path)
    assert (result.ok, result.new_messages) == (True, 3)
    assert stored_sources(account) == [crlf(m) for m in broken]


def test_the_lock_keeps_a_second_fetch_out(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    deliver(dovecot, pop_user, 2)
    account = dovecot_account(dovecot, pop_user.name)
    with account_lock(account, lock_dir=tmp_path / "locks"):
        blocked = fetch(account, pop_user.password, tmp_path)
    assert isinstance(blocked.error, AlreadyFetching)
    assert "already being fetched" in summary_line(blocked)
    assert Message.select().count() == 0
    assert fetch(account, pop_user.password, tmp_path).new_messages == 2
