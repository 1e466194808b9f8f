"""poptui against a second real POP3 server, GNU Mailutils pop3d, so it is not tuned to Dovecot.

The same sync, delete-setting, STARTTLS and login checks as test_fetch_dovecot.py and
test_pop3_dovecot.py, plus pop3d's own habits: it adds an ``X-UIDL:`` header to every
message it serves (counted in LIST only from the second session on), its UIDLs are
``<md5>.<time>.<n>``, and it takes a UIDL from an ``X-UIDL:`` header already in the mail.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import fetch, make_message, open_test_db, stored_sources
from tests.servers.certs import another_fingerprint
from tests.servers.mailutils import MailutilsServer, served_form, without_x_uidl
from tests.servers.tcp_proxy import TcpProxy
from tui.core.net import pop3
from tui.core.net.pop3 import Pop3Client
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, Message, utcnow
from tui.core.sync import AUTH_FAILURES_BEFORE_DISABLE, AccountDisabled, FetchOptions, summary_line

MAILUTILS_UIDL = re.compile(r"[0-9a-f]{32}\.[0-9]+\.[0-9]+")
"""pop3d's UIDL: MD5 of the message's headers, the mailbox's UIDVALIDITY, the message's UID."""


@pytest.fixture
def database(tmp_path: Path) -> Any:
    db = open_test_db(tmp_path)
    yield db
    db.close()


def mailutils_account(
    server: MailutilsServer,
    user: PopUser,
    *,
    security: Security = Security.SSL,
    port: int | None = None,
    pin: bool = True,
    **changes: Any,
) -> Account:
    ports = {
        Security.SSL: server.tls_port,
        Security.STARTTLS: server.starttls_port,
        Security.NONE: server.plain_port,
    }
    settings = AccountSettings(
        name="Mailutils",
        email=user.name,
        incoming_host=server.host,
        incoming_port=port or ports[security],
        incoming_security=security,
        username=user.name,
        pinned_fingerprint=changes.pop(
            "pinned_fingerprint",
            server.cert_fingerprint if pin and security is not Security.NONE else "",
        ),
        delete_policy=changes.pop("delete_policy", DeletePolicy.LEAVE),
        **changes,
    )
    return AccountStore("tester").create(settings)


def deliver(server: MailutilsServer, user: PopUser, count: int, start: int = 0) -> list[bytes]:
    messages = [make_message(i) for i in range(start, start + count)]
    server.deliver_many(user.name, messages)
    return messages


def pinned(server: MailutilsServer, security: Security = Security.SSL) -> Pop3Client:
    port = server.tls_port if security is Security.SSL else server.starttls_port
    return Pop3Client.connect(
        server.host, port, security, pinned_fingerprint=server.cert_fingerprint, timeout=10
    )


def stored_uidls(account: Account) -> list[str]:
    return [m.uidl for m in Message.select().where(Message.account == account).order_by(Message.id)]


def on_server(server: MailutilsServer, user: PopUser) -> list[bytes]:
    """What the server still holds, as delivered (less the header pop3d wrote into it)."""
    return [without_x_uidl(raw) for raw in server.maildir_messages(user.name)]


def lf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


# ------------------------------------------------------------------------ sync


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS, Security.NONE])
def test_fetch_all_then_nothing_twice_and_leave_on_server(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path, security: Security
) -> None:
    first = deliver(mailutils, mailutils_user, 5)
    account = mailutils_account(mailutils, mailutils_user, security=security)
    result = fetch(account, mailutils_user.password, tmp_path)
    assert (result.ok, result.new_messages) == (True, 5), result.error
    uidls = stored_uidls(account)
    assert all(MAILUTILS_UIDL.fullmatch(uidl) for uidl in uidls), uidls
    assert len(set(uidls)) == 5
    # Stored byte for byte as served: with the X-UIDL header pop3d added.
    assert stored_sources(account) == [served_form(m, u) for m, u in zip(first, uidls, strict=True)]
    subjects = [m.subject for m in Message.select().order_by(Message.id)]
    assert subjects == [f"Message number {i}" for i in range(5)]

    again = fetch(account, mailutils_user.password, tmp_path)
    assert (again.ok, again.new_messages) == (True, 0)

    second = deliver(mailutils, mailutils_user, 3, start=5)
    third = fetch(account, mailutils_user.password, tmp_path)
    assert (third.ok, third.new_messages) == (True, 3)
    uidls = stored_uidls(account)
    assert stored_sources(account) == [
        served_form(m, u) for m, u in zip(first + second, uidls, strict=True)
    ]
    assert on_server(mailutils, mailutils_user) == [lf(m) for m in first + second]
    fresh = Account.get_by_id(account.id)
    assert (fresh.last_fetch_status, fresh.last_fetch_new) == ("ok", 3)


@pytest.mark.usefixtures("database")
def test_delete_after_fetch_empties_the_server(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    deliver(mailutils, mailutils_user, 4)
    account = mailutils_account(mailutils, mailutils_user, delete_policy=DeletePolicy.AFTER_FETCH)
    result = fetch(account, mailutils_user.password, tmp_path)
    # pop3d's first LIST leaves out the X-UIDL header it then adds to RETR: the stored size
    # does not match the listed one, so the check before DELE holds the deletes back.
    assert (result.ok, result.new_messages, result.deleted_on_server) == (True, 4, 0)
    assert len(mailutils.maildir_messages(mailutils_user.name)) == 4
    # From the next session on, LIST counts the header: sizes agree, the stored mail goes.
    again = fetch(account, mailutils_user.password, tmp_path)
    assert (again.ok, again.new_messages, again.deleted_on_server) == (True, 0, 4)
    assert mailutils.maildir_messages(mailutils_user.name) == []
    assert Message.select().where(Message.deleted_on_server).count() == 4


@pytest.mark.usefixtures("database")
def test_delete_after_days_waits_for_the_days(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    deliver(mailutils, mailutils_user, 3)
    account = mailutils_account(
        mailutils, mailutils_user, delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=7
    )
    password = mailutils_user.password
    assert fetch(account, password, tmp_path).deleted_on_server == 0
    six_days = fetch(account, password, tmp_path, now=lambda: utcnow() + timedelta(days=6))
    assert six_days.deleted_on_server == 0
    assert len(mailutils.maildir_messages(mailutils_user.name)) == 3
    eight_days = fetch(account, password, tmp_path, now=lambda: utcnow() + timedelta(days=8))
    assert (eight_days.ok, eight_days.deleted_on_server) == (True, 3)
    assert mailutils.maildir_messages(mailutils_user.name) == []


@pytest.mark.usefixtures("database")
def test_delete_when_deleted_here(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    messages = deliver(mailutils, mailutils_user, 3)
    account = mailutils_account(
        mailutils, mailutils_user, delete_policy=DeletePolicy.WHEN_DELETED_HERE
    )
    assert fetch(account, mailutils_user.password, tmp_path).new_messages == 3
    assert len(mailutils.maildir_messages(mailutils_user.name)) == 3
    middle = Message.select().order_by(Message.id)[1]
    Message.update(deleted_here=True, deleted_here_at=utcnow()).where(
        Message.id == middle.id
    ).execute()
    result = fetch(account, mailutils_user.password, tmp_path)
    assert (result.ok, result.deleted_on_server) == (True, 1)
    assert on_server(mailutils, mailutils_user) == [lf(messages[0]), lf(messages[2])]


@pytest.mark.usefixtures("database")
def test_wrong_password_is_a_clear_error_and_counts_towards_disabling(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    deliver(mailutils, mailutils_user, 1)
    account = mailutils_account(mailutils, mailutils_user)
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
    blocked = fetch(account, mailutils_user.password, tmp_path)
    assert isinstance(blocked.error, AccountDisabled)
    assert Message.select().count() == 0


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_untrusted_certificate_is_refused_until_pinned(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path, security: Security
) -> None:
    deliver(mailutils, mailutils_user, 1)
    account = mailutils_account(mailutils, mailutils_user, security=security, pin=False)
    result = fetch(account, mailutils_user.password, tmp_path)
    assert isinstance(result.error, pop3.UntrustedCertificate)
    assert result.error.certificate is not None
    assert result.error.certificate.sha256 == mailutils.cert_fingerprint
    assert Message.select().count() == 0
    Account.update(pinned_fingerprint=mailutils.cert_fingerprint).where(
        Account.id == account.id
    ).execute()
    assert fetch(account, mailutils_user.password, tmp_path).new_messages == 1


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_a_wrong_pin_is_refused_before_login(
    mailutils: MailutilsServer, security: Security
) -> None:
    port = mailutils.tls_port if security is Security.SSL else mailutils.starttls_port
    wrong = another_fingerprint(mailutils.cert_fingerprint)
    with pytest.raises(pop3.UntrustedCertificate) as info:
        Pop3Client.connect(mailutils.host, port, security, pinned_fingerprint=wrong, timeout=10)
    assert info.value.certificate is not None
    assert info.value.certificate.problem is pop3.CertificateProblem.PIN_MISMATCH


@pytest.mark.usefixtures("database")
def test_ca_file_verifies_over_starttls(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    deliver(mailutils, mailutils_user, 2)
    account = mailutils_account(mailutils, mailutils_user, security=Security.STARTTLS, pin=False)
    options = FetchOptions(lock_dir=tmp_path, timeout=10, ca_file=str(mailutils.cert_path))
    assert fetch(account, mailutils_user.password, tmp_path, options=options).new_messages == 2


@pytest.mark.usefixtures("database")
def test_starttls_required_on_a_port_without_it_sends_no_password(
    mailutils: MailutilsServer,
    mailutils_user: PopUser,
    tmp_path: Path,
    tcp_proxy: Callable[[str, int], TcpProxy],
) -> None:
    proxy = tcp_proxy(mailutils.host, mailutils.plain_port)
    account = mailutils_account(
        mailutils, mailutils_user, security=Security.STARTTLS, port=proxy.port
    )
    result = fetch(account, mailutils_user.password, tmp_path)
    assert isinstance(result.error, pop3.StartTlsUnavailable)
    assert mailutils_user.password.encode() not in proxy.client_bytes
    assert mailutils_user.name.encode() not in proxy.client_bytes


@pytest.mark.usefixtures("database")
def test_stls_stripped_by_the_network_is_refused_without_sending_the_password(
    mailutils: MailutilsServer,
    mailutils_user: PopUser,
    tmp_path: Path,
    tcp_proxy: Callable[[str, int], TcpProxy],
) -> None:
    proxy = tcp_proxy(mailutils.host, mailutils.starttls_port)
    proxy.strip_capability("STLS")
    account = mailutils_account(
        mailutils, mailutils_user, security=Security.STARTTLS, port=proxy.port
    )
    result = fetch(account, mailutils_user.password, tmp_path)
    assert isinstance(result.error, pop3.StartTlsUnavailable)
    assert mailutils_user.password.encode() not in proxy.client_bytes
    assert mailutils_user.name.encode() not in proxy.client_bytes


# --------------------------------------------------------------- the client


def test_capabilities_and_stls_only_where_offered(
    mailutils: MailutilsServer, mailutils_user: PopUser
) -> None:
    with Pop3Client.connect(mailutils.host, mailutils.plain_port, Security.NONE) as plain:
        assert "STLS" not in plain.capabilities
        plain.quit()
    client = Pop3Client.connect(mailutils.host, mailutils.starttls_port, Security.NONE)
    assert "STLS" in client.capabilities
    client.login(*mailutils_user)
    assert {"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"} <= set(client.capabilities)
    assert client.supports_pipelining and client.supports_uidl
    client.quit()


def test_wrong_password_keeps_the_session_usable(
    mailutils: MailutilsServer, mailutils_user: PopUser
) -> None:
    with pinned(mailutils) as client:
        with pytest.raises(pop3.AuthenticationFailed) as info:
            client.login(mailutils_user.name, "not-" + mailutils_user.password)
        assert "[AUTH]" in info.value.server_text
        assert mailutils_user.password not in str(info.value)
        assert client.usable
        client.quit()


def test_x_uidl_header_list_sizes_and_stable_uidls(
    mailutils: MailutilsServer, mailutils_user: PopUser
) -> None:
    delivered = [
        b"Subject: tiny\n\nhi\n",  # the added header is several times this message's size
        b"Subject: no final newline\n\nlast line",
        make_message(3, body=b".leading dot\r\n..two\r\n.\r\nlast\r\n"),
    ]
    mailutils.deliver_many(mailutils_user.name, delivered)
    sessions = []
    for _ in range(2):
        with pinned(mailutils, Security.STARTTLS) as client:
            client.login(*mailutils_user)
            sizes = client.list_sizes()  # before UIDL, as the sync engine asks
            uidls = dict(client.uidl())
            got = dict(client.retrieve(sorted(sizes), expected_sizes=sizes, batch=2))
            client.quit()
        sessions.append((uidls, sizes, got))
    (uidls, first_sizes, first_got), (again_uidls, sizes, got) = sessions
    assert uidls == again_uidls  # the same UIDLs in every session
    assert all(MAILUTILS_UIDL.fullmatch(u) for u in uidls.values()), uidls
    expected = {n: served_form(raw, uidls[n]) for n, raw in enumerate(delivered, 1)}
    assert first_got == got == expected
    # First session: LIST (asked before UIDL) counts the file as delivered, while RETR
    # serves it with the header -- longer than announced, several times over for the tiny
    # one, which the size check accepts (it refuses only a message shorter than announced).
    as_delivered = {n: len(lf(raw)) + lf(raw).count(b"\n") for n, raw in enumerate(delivered, 1)}
    assert first_sizes == as_delivered
    assert len(first_got[1]) > 3 * first_sizes[1]
    # pop3d wrote the header into the file at QUIT: from then on LIST counts it (RETR still
    # adds the final CRLF a file without one lacks).
    assert sizes[1] == len(got[1]) and sizes[3] == len(got[3])
    assert sizes[2] == len(got[2]) - 2
    assert mailutils.maildir_messages(mailutils_user.name)[0] == lf(expected[1])


@pytest.mark.usefixtures("database")
def test_a_uidl_forged_by_an_x_uidl_header_hides_and_deletes_nothing_unstored(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    """pop3d takes a message's UIDL from an X-UIDL header already in it, so a sender can
    give two messages the same UIDL. Both are still fetched, each stored under a key that
    tells them apart, and nothing is deleted before that is certain."""
    forged = [make_message(i, extra_headers="X-UIDL: forged\r\n") for i in (1, 2)]
    mailutils.deliver_many(mailutils_user.name, forged)
    account = mailutils_account(mailutils, mailutils_user, delete_policy=DeletePolicy.AFTER_FETCH)
    with pinned(mailutils) as client:
        client.login(*mailutils_user)
        assert [uidl for _, uidl in client.uidl()] == ["forged", "forged"]
        client.quit()
    result = fetch(account, mailutils_user.password, tmp_path)
    assert result.ok, result.error
    stored = Message.select().where(Message.account == account).order_by(Message.id)
    assert sorted(m.subject for m in stored) == ["Message number 1", "Message number 2"]
    assert len({m.uidl for m in stored}) == 2  # stored apart, by content
    # Each was downloaded this session and its bytes match exactly one stored copy (the
    # header is already there, so pop3d adds none and the sizes agree): certain, so deleted.
    assert result.deleted_on_server == 2
    assert mailutils.maildir_messages(mailutils_user.name) == []
    again = fetch(account, mailutils_user.password, tmp_path)
    assert again.ok and again.new_messages == 0
    assert Message.select().where(Message.account == account).count() == 2


def test_abort_after_dele_removes_nothing(
    mailutils: MailutilsServer, mailutils_user: PopUser
) -> None:
    delivered = [make_message(n) for n in range(1, 4)]
    mailutils.deliver_many(mailutils_user.name, delivered)
    client = pinned(mailutils)
    client.login(*mailutils_user)
    list(client.retrieve([1, 2, 3]))
    client.dele_many([1, 2, 3])
    client.abort()
    assert on_server(mailutils, mailutils_user) == [lf(m) for m in delivered]
    with pinned(mailutils) as again:
        again.login(*mailutils_user)
        assert again.stat()[0] == 3
        again.quit()


# ----------------------------------------------------------------- the harness


def test_users_change_at_the_next_login(
    mailutils: MailutilsServer, mailutils_user: PopUser
) -> None:
    mailutils.add_user(mailutils_user.name, "changed")
    with pinned(mailutils) as client:
        with pytest.raises(pop3.AuthenticationFailed):
            client.login(*mailutils_user)
        client.login(mailutils_user.name, "changed")
        client.quit()
    mailutils.remove_user(mailutils_user.name)
    with pinned(mailutils) as client:
        with pytest.raises(pop3.AuthenticationFailed):
            client.login(mailutils_user.name, "changed")
        client.quit()


def test_the_server_dies_with_the_test_process() -> None:
    starter = (
        "from tests.servers.mailutils import MailutilsServer\n"
        "server = MailutilsServer().start()\n"
        "print(server.plain_port, server.workdir, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", starter], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port_text, workdir = proc.stdout.readline().split()
        socket.create_connection(("127.0.0.1", int(port_text)), timeout=5).close()
        pop3d = int((Path(workdir) / "pop3d.pid").read_text())
    finally:
        proc.kill()  # SIGKILL: no cleanup code of the test process runs
        proc.wait()
    started = time.monotonic()
    while Path(f"/proc/{pop3d}").exists():
        assert time.monotonic() - started < 10, "pop3d outlived the test process"
        time.sleep(0.05)
    print(f"pop3d gone {time.monotonic() - started:.2f}s after the test process")
