"""STAT, LIST and UIDL pipelined against the real Dovecot: the same listings as in lock-step,
and the session stays in step for what follows."""

from __future__ import annotations

import pytest

from tests.conftest import PopUser
from tests.servers.dovecot import DovecotServer
from tui.core.net.pop3 import Pop3Client
from tui.core.settings import Security

pytestmark = pytest.mark.dovecot


def message(n: int) -> bytes:
    return f"From: s{n}@example.org\nSubject: message {n}\nMessage-ID: <l{n}@x>\n\nHi.\n".encode()


@pytest.mark.parametrize("security", [Security.NONE, Security.SSL], ids=["plain", "tls"])
def test_pipelined_listings_equal_lock_step(
    dovecot: DovecotServer, pop_user: PopUser, security: Security
) -> None:
    dovecot.deliver_many(pop_user.name, [message(n) for n in range(1, 301)])
    port = dovecot.tls_port if security is Security.SSL else dovecot.plain_port
    pin = dovecot.cert_fingerprint if security is Security.SSL else ""

    def session() -> Pop3Client:
        client = Pop3Client.connect(
            dovecot.host, port, security, pinned_fingerprint=pin, timeout=10
        )
        client.login(*pop_user)
        return client

    with session() as client:
        assert client.supports_pipelining  # Dovecot announces it: the one-write path is taken
        listings = client.listings()
        got = list(client.retrieve([1, 300], expected_sizes=client.list_sizes()))
        client.quit()
    with session() as client:
        count, octets = client.stat()
        sizes, uids = client.list_listing(count), client.uidl_listing(count)
        client.quit()
    assert (listings.count, listings.octets) == (count, octets) == (300, octets)
    assert listings.sizes == sizes and listings.uids == uids
    assert not sizes.malformed and len(uids.entries) == 300
    assert [n for n, _ in got] == [1, 300]
    assert [len(raw) for _, raw in got] == [int(sizes.entries[1]), int(sizes.entries[300])]
