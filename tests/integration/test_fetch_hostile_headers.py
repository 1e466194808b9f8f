"""A stranger's header fields that no database column can hold must not stop a mailbox.

A NUL byte (PostgreSQL's text refuses it) or an RFC 2047 word that decodes to half a UTF-16
surrogate pair (UTF-7 allows it; neither SQLite nor PostgreSQL can encode it) once made the batch's
INSERT fail: the fetch failed, nothing was deleted, and the same message failed every fetch after,
so no later mail ever arrived. Anyone could send such a message. Each is now stored with the
offending characters replaced, byte for byte as sent, on both databases, small fetch and large.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PgDatabase, PopUser
from tests.integration.fetch_helpers import (
    crlf,
    dovecot_account,
    fetch,
    make_message,
    open_test_db,
    stored_sources,
)
from tests.servers.dovecot import DovecotServer
from tests.servers.fake_pop3 import FakePop3Server
from tui.core.mail.summary_process import SUMMARY_PROCESS_MESSAGES
from tui.core.net import pop3
from tui.core.settings import AccountSettings, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import FetchLog, Message

HALF_PAIR = "=?utf-7?q?+2AA-?="
"""An encoded word that decodes to U+D800 alone."""
HOSTILE = [
    b"From: Eve\x00 <eve@evil.example>\r\nTo: you@example.com\r\nSubject: nul\x00here\r\n"
    b"Message-ID: <nul\x00@evil.example>\r\n\r\nbody\r\n",
    f"From: {HALF_PAIR} <eve@evil.example>\r\nTo: {HALF_PAIR} <you@example.com>\r\n"
    f"Cc: =?utf-7?q?a+2ADcAA-b?= <c@example.com>\r\nSubject: {HALF_PAIR} and more\r\n"
    f"Message-ID: <x@evil.example>\r\n\r\nbody\r\n".encode(),
    b"Subject: =?utf-8?b?AGE=?= =?utf-7?b?K2RnQS0=?=\r\nFrom: a@b.example\r\n\r\nbody\r\n",
]


def storable(text: str) -> bool:
    return "\x00" not in text and text.encode("utf-8", "strict") is not None


def check_stored(account: Any, sent: list[bytes]) -> None:
    rows = list(Message.select().where(Message.account == account))
    assert len(rows) == len(sent)
    for row in rows:
        for text in (row.from_addr, row.to_addrs, row.subject, row.message_id):
            assert storable(text), repr(text)
    assert sorted(stored_sources(account)) == sorted(crlf(raw) for raw in sent)
    subjects = {row.subject for row in rows}
    assert "nul\ufffdhere" in subjects and "\ufffd and more" in subjects


@pytest.mark.parametrize("count", [0, SUMMARY_PROCESS_MESSAGES], ids=["small", "large"])
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_unstorable_header_text_is_replaced_and_the_mailbox_goes_on(
    dovecot: DovecotServer,
    pop_user: PopUser,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    store: str,
    count: int,
) -> None:
    sent = [make_message(index) for index in range(count)] + HOSTILE
    dovecot.deliver_many(pop_user.name, sent)
    if store == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg_database")
        db = open_database(pg.url)
    else:
        db = open_test_db(tmp_path)
    try:
        account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
        result = fetch(account, pop_user.password, tmp_path)
        assert result.ok and result.new_messages == len(sent), result
        check_stored(account, sent)
        dovecot.deliver_many(pop_user.name, [make_message(9999)])
        again = fetch(account, pop_user.password, tmp_path)
        assert again.ok and again.new_messages == 1, again
    finally:
        db.close()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_servers_error_text_with_a_nul_is_logged_not_fatal(
    tmp_path: Path, request: pytest.FixtureRequest, store: str
) -> None:
    """The fetch log keeps the server's words (cleaned); a NUL in them must not lose the row."""
    if store == "postgres":
        pg: PgDatabase = request.getfixturevalue("pg_database")
        db = open_database(pg.url)
    else:
        db = open_test_db(tmp_path)
    refusal = "-ERR [AUTH] no\x00such \x1b[31muser"
    try:
        with FakePop3Server([make_message(1)], auth_error=refusal) as server:
            settings = AccountSettings(
                name="Nul", email="alice@example.com", incoming_host="127.0.0.1",
                incoming_port=server.port, incoming_security=Security.NONE, username="alice",
            )  # fmt: skip
            account = AccountStore("tester").create(settings)
            result = fetch(account, "wrong", tmp_path)
        assert result.error is not None and result.error.kind is pop3.ErrorKind.AUTH, result
        logged = FetchLog.get(FetchLog.account == account)
        assert logged.status == "error" and storable(logged.error_message)
        assert "such" in logged.error_message and "\x1b" not in logged.error_message
    finally:
        db.close()
