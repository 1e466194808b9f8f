"""poptui against popa3d, an old POP3 server: no CAPA (so no pipelining), UIDL and TOP only,
replies written in several small pieces with Nagle's algorithm on.

What poptui stores must be exactly what popa3d serves, byte for byte, as a bare poplib loop
receives it too. The quick ACKs that stop each message waiting ~40 ms for a delayed ACK are
checked in tests/unit/test_wire_quickack.py; the time itself is measured by
bench/fetch_speed.py, not asserted here.
"""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench_modules import load_bench
from tests.conftest import _start_or_fail
from tests.integration.fetch_helpers import fetch, open_test_db, stored_sources
from tests.servers.popa3d import Popa3dServer, served_form
from tui.core.net.pop3 import Pop3Client
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account

corpus = load_bench("corpus")


def _messages() -> list[bytes]:
    """Realistic mail (several charsets, dot-stuffed lines, "From " lines in bodies) and two
    edge cases: a message of one header line, and one whose body is only a dot line."""
    spec = corpus.CorpusSpec(attach_share=0.05, attach_min_mb=0.2, attach_max_mb=0.6)
    mail = list(corpus.messages(60, spec))
    mail.append(b"Subject: tiny\r\n\r\n")
    mail.append(b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n")
    return mail


MESSAGES = _messages()
EXPECTED = [served_form(m) for m in MESSAGES]


@pytest.fixture(scope="module")
def popa3d() -> Iterator[Popa3dServer]:
    server = Popa3dServer()
    _start_or_fail(server, server.start)
    try:
        server.set_messages(MESSAGES)
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(tmp_path: Path) -> Any:
    db = open_test_db(tmp_path)
    yield db
    db.close()


def _account(server: Popa3dServer) -> Account:
    settings = AccountSettings(
        name="Old server",
        email=f"{server.user}@example.test",
        incoming_host=server.host,
        incoming_port=server.port,
        incoming_security=Security.NONE,
        username=server.user,
        delete_policy=DeletePolicy.LEAVE,
    )
    return AccountStore("tester").create(settings)


def test_the_client_reads_every_message_as_served_without_pipelining(
    popa3d: Popa3dServer,
) -> None:
    with Pop3Client.connect(popa3d.host, popa3d.port, Security.NONE, timeout=10) as client:
        assert not client.supports_pipelining  # popa3d has no CAPA
        client.login(popa3d.user, popa3d.password)
        count, _size = client.stat()
        sizes = client.list_sizes()
        received = [raw for _n, raw in client.retrieve(range(1, count + 1), expected_sizes=sizes)]
        client.quit()
    assert count == len(MESSAGES)
    assert received == EXPECTED


def test_a_fetch_stores_what_poplib_receives_byte_for_byte(
    popa3d: Popa3dServer, database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _account(popa3d)
    result = fetch(account, popa3d.password, tmp_path)
    assert result.new_messages == len(MESSAGES)
    assert stored_sources(account) == EXPECTED

    monkeypatch.setattr(poplib, "_MAXLINE", 1 << 20)  # its 2048 breaks on real mail
    peer = poplib.POP3(popa3d.host, popa3d.port, timeout=10)
    peer.user(popa3d.user)
    peer.pass_(popa3d.password)
    by_poplib = [b"\r\n".join(peer.retr(i)[1]) + b"\r\n" for i in range(1, len(MESSAGES) + 1)]
    peer.quit()
    assert by_poplib == EXPECTED

    again = fetch(account, popa3d.password, tmp_path)
    assert again.new_messages == 0
    assert stored_sources(account) == EXPECTED
