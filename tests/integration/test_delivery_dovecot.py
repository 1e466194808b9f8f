"""Delivery targets against real readers (issue #13.1): poptui fetches from the suite's Dovecot
and hands each message on; Dovecot then serves what was delivered over POP3, Python's `mailbox`
reads the Maildir and the mbox, procmail and dovecot-lda run as MDAs, and Dovecot's own LMTP
server takes LMTP. What the readers give back must be the bytes the POP3 server held."""

from __future__ import annotations

import mailbox
import poplib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import (
    dovecot_account,
    fetch,
    make_message,
    open_test_db,
)
from tests.servers.dovecot import DovecotServer
from tui.core.delivery import add_target, list_targets
from tui.core.delivery.mbox import escape, unescape
from tui.core.settings import DeletePolicy, Security
from tui.core.storage.models import Account

LDA = "/usr/lib/dovecot/dovecot-lda"

LMTP_CONFIG = """
protocols = pop3 lmtp
lmtp_add_received_header = no
service lmtp {
  unix_listener lmtp-poptui {
    mode = 0666
  }
}
"""


def tricky_messages() -> list[bytes]:
    """Lines an mbox must escape, a dot line LMTP must stuff, 8-bit text."""
    return [
        make_message(1),
        make_message(2, body=b"From the start of a line\r\n>From quoted once\r\n"),
        make_message(3, body=b".\r\n..two dots\r\nSm\xc3\xb8rrebr\xc3\xb8d\r\n"),
        make_message(4, body=b">>From deep\r\nFrom \r\n"),
    ]


def served(dovecot: DovecotServer, user: PopUser) -> list[bytes]:
    """Every message Dovecot serves `user` over POP3, as RETR gives it (CRLF)."""
    client = poplib.POP3(dovecot.host, dovecot.plain_port, timeout=10)
    try:
        client.user(user.name)
        client.pass_(user.password)
        count = client.stat()[0]
        return [b"\r\n".join(client.retr(n)[1]) + b"\r\n" for n in range(1, count + 1)]
    finally:
        client.quit()


@pytest.fixture
def reader(dovecot: DovecotServer) -> Iterator[PopUser]:
    """A second Dovecot user whose Maildir is the delivery target."""
    user = PopUser("r" + secrets.token_hex(6), secrets.token_urlsafe(12))
    dovecot.add_user(user.name, user.password)
    try:
        yield user
    finally:
        dovecot.clear(user.name)
        dovecot.remove_user(user.name)


@pytest.fixture(scope="module")
def lmtp_dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot with its LMTP server on a unix socket of its own."""
    server = DovecotServer(extra_config=LMTP_CONFIG)
    server.add_user("bob", "bob-password")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _account(dovecot: DovecotServer, user: PopUser, target: str) -> Account:
    account = dovecot_account(
        dovecot, user.name, security=Security.NONE, delete_policy=DeletePolicy.AFTER_FETCH
    )
    add_target(account, target)
    return account


def test_maildir_target_is_served_by_dovecot_byte_for_byte(
    dovecot: DovecotServer, pop_user: PopUser, reader: PopUser, tmp_path: Path
) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    original = served(dovecot, pop_user)
    account = _account(dovecot, pop_user, f"maildir:{dovecot.maildir(reader.name)}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok, result.error
    assert result.delivery is not None and result.delivery.delivered == 4
    assert result.deleted_on_server == 4
    assert dovecot.maildir_messages(pop_user.name) == []
    folder = mailbox.Maildir(dovecot.maildir(reader.name), create=False)
    assert sorted(folder.get_bytes(key) for key in folder.keys())  # noqa: SIM118 == sorted(messages)
    assert sorted(served(dovecot, reader)) == sorted(original)
    again = fetch(account, pop_user.password, tmp_path)
    assert again.ok and again.delivery is not None and again.delivery.delivered == 0
    assert len(dovecot.maildir_files(reader.name)) == 4


def test_mbox_target_reads_back_with_python_mailbox(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    path = tmp_path / "mail" / "inbox.mbox"
    path.parent.mkdir()
    account = _account(dovecot, pop_user, f"mbox:{path}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 4
    box = mailbox.mbox(path, create=False)
    assert [unescape(box.get_bytes(key)) for key in box.keys()]  # noqa: SIM118 == messages
    assert b"\n>From the start" in path.read_bytes()
    assert b"\n>>From quoted once" in path.read_bytes()
    assert not path.with_name("inbox.mbox.lock").exists()


def test_procmail_as_mda(dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    rc = tmp_path / "procmailrc"
    rc.write_text(f"DEFAULT={tmp_path}/pm/\n")
    account = _account(dovecot, pop_user, f"mda:procmail -m '{rc}'")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 4, result.error
    folder = mailbox.Maildir(tmp_path / "pm", create=False)
    assert sorted(folder.get_bytes(key) for key in folder.keys())  # noqa: SIM118 == sorted(messages)


def test_dovecot_lda_as_mda(
    dovecot: DovecotServer, pop_user: PopUser, reader: PopUser, tmp_path: Path
) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    original = served(dovecot, pop_user)
    account = _account(dovecot, pop_user, f"mda:{LDA} -c '{dovecot.conf_path}' -d {reader.name}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 4, result.error
    assert sorted(served(dovecot, reader)) == sorted(original)


def test_lmtp_into_dovecot(
    dovecot: DovecotServer, lmtp_dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    original = served(dovecot, pop_user)
    socket_path = lmtp_dovecot.conf_path.parent / "run" / "lmtp-poptui"
    account = _account(dovecot, pop_user, f"lmtp:bob@{socket_path}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 4, result.error
    got = served(lmtp_dovecot, PopUser("bob", "bob-password"))
    lmtp_dovecot.clear("bob")
    assert len(got) == 4
    for delivered in got:
        # Dovecot's LMTP puts its trace headers on top; below them are the original bytes.
        head, _, rest = delivered.partition(b"Delivered-To: bob\r\n")
        assert head.startswith(b"Return-Path: <>\r\n") and head.count(b"\r\n") == 1
        assert rest in original


def test_lmtp_unknown_recipient_keeps_the_mail_on_the_server(
    dovecot: DovecotServer, lmtp_dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    open_test_db(tmp_path)
    messages = tricky_messages()[:2]
    dovecot.deliver_many(pop_user.name, messages)
    socket_path = lmtp_dovecot.conf_path.parent / "run" / "lmtp-poptui"
    account = _account(dovecot, pop_user, f"lmtp:nobody-here@{socket_path}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 0
    assert result.delivery is not None and result.delivery.held == 2
    [words] = result.delivery.warnings()
    assert "Could not deliver to LMTP" in words and "550" in words
    assert "2 messages kept on the server" in words
    assert len(dovecot.maildir_files(pop_user.name)) == 2
    [target] = list_targets(account)
    assert "550" in target.last_error


def test_mbox_target_is_served_by_dovecot(
    dovecot: DovecotServer, pop_user: PopUser, reader: PopUser, tmp_path: Path
) -> None:
    """Dovecot reading our mbox as a user's INBOX: the same bytes, except that Dovecot, like
    every mboxo reader, shows the `>` mboxrd put before `From ` lines (it never removes one)."""
    open_test_db(tmp_path)
    messages = tricky_messages()
    dovecot.deliver_many(pop_user.name, messages)
    original = served(dovecot, pop_user)
    home = dovecot.home(reader.name)
    inbox = home / "mbox"
    # The reader's mail becomes an mbox (a userdb `mail` field; the suite's helper writes it).
    dovecot._write_auth(
        "userdb",
        reader.name,
        {
            "uid": str(home.stat().st_uid),
            "gid": str(home.stat().st_gid),
            "home": str(home),
            "mail": f"mbox:{home}/mail:INBOX={inbox}",
        },
    )
    account = _account(dovecot, pop_user, f"mbox:{inbox}")

    result = fetch(account, pop_user.password, tmp_path)

    assert result.ok and result.deleted_on_server == 4, result.error
    got = served(dovecot, reader)
    assert got[0] == original[0] and got[2] == original[2]  # no From lines: byte for byte
    assert got[1] == escape(original[1]) and got[3] == escape(original[3])
    assert unescape(got[1]) == original[1] and unescape(got[3]) == original[3]
