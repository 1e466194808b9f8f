"""Shared unique-ids from a real server: Dovecot told to build every UIDL from the mailbox's
UIDVALIDITY alone (`pop3_uidl_format = %08Xv`) hands out one UIDL for every message, as popa3d
does for messages whose hashed headers agree. Each is still fetched once, stored apart by
content, and deleted only when this session's bytes match exactly one stored copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _start_or_fail
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
from tui.core.settings import DeletePolicy, Security
from tui.core.storage.models import Account, Message

USER, PASSWORD = "shared", "uidl-secret"


@pytest.fixture(scope="module")
def same_uidl_dovecot() -> Iterator[DovecotServer]:
    server = DovecotServer(pop3_uidl_format="%08Xv")
    server.add_user(USER, PASSWORD)
    _start_or_fail(server, server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def database(tmp_path: Path, same_uidl_dovecot: DovecotServer) -> Iterator[Any]:
    db = open_test_db(tmp_path)
    yield db
    db.close()
    same_uidl_dovecot.clear(USER)


def server_uidls(dovecot: DovecotServer) -> list[str]:
    with pop3.Pop3Client.connect("127.0.0.1", dovecot.plain_port, Security.NONE) as client:
        client.login(USER, PASSWORD)
        return [uidl for _n, uidl in client.uidl()]


def set_policy(account: Account, policy: DeletePolicy) -> None:
    Account.update(delete_policy=policy).where(Account.id == account.id).execute()


def test_dovecot_shared_uidls_are_fetched_apart_and_deleted_when_certain(
    same_uidl_dovecot: DovecotServer, tmp_path: Path
) -> None:
    dovecot = same_uidl_dovecot
    first = [make_message(i) for i in range(3)]
    dovecot.deliver_many(USER, first)
    uidls = server_uidls(dovecot)
    assert len(uidls) == 3 and len(set(uidls)) == 1  # the real server shares one UIDL

    account = dovecot_account(dovecot, USER)
    result = fetch(account, PASSWORD, tmp_path)
    assert result.ok, result.error
    assert (result.new_messages, result.shared_uidl) == (3, 3)
    assert sorted(stored_sources(account)) == sorted(crlf(m) for m in first)

    again = fetch(account, PASSWORD, tmp_path)  # leaving mail: every copy accounted for
    assert (again.ok, again.new_messages, again.bytes_fetched) == (True, 0, 0)

    later = make_message(3)
    dovecot.deliver(USER, later)
    third = fetch(account, PASSWORD, tmp_path)
    assert (third.ok, third.new_messages) == (True, 1)
    assert Message.select().count() == 4

    set_policy(account, DeletePolicy.AFTER_FETCH)
    last = fetch(account, PASSWORD, tmp_path)
    assert (last.ok, last.new_messages, last.deleted_on_server) == (True, 0, 4)
    assert dovecot.maildir_files(USER) == []
    assert sorted(stored_sources(account)) == sorted(crlf(m) for m in [*first, later])


def test_dovecot_identical_twins_under_one_uidl_are_kept_on_the_server(
    same_uidl_dovecot: DovecotServer, tmp_path: Path
) -> None:
    dovecot = same_uidl_dovecot
    twin, other = make_message(1), make_message(2)
    dovecot.deliver_many(USER, [twin, twin, other])
    account = dovecot_account(dovecot, USER, delete_policy=DeletePolicy.AFTER_FETCH)
    result = fetch(account, PASSWORD, tmp_path)
    assert result.ok, result.error
    assert (result.new_messages, result.deleted_on_server) == (2, 1)
    assert sorted(dovecot.maildir_messages(USER)) == [twin, twin]
