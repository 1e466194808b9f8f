"""A message at the size ceiling is fetched, stored and deleted within the memory bound (issue
#9's 100 MB): the storing path holds no more copies of a message than it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import make_message
from tests.integration.test_hostile_memory import Expect, S, T, check_attack
from tests.servers.certs import CertMaterial, make_self_signed
from tests.servers.hostile_pop3 import HostilePop3Server
from tui.core.net.pop3.limits import MAX_MESSAGE_BYTES


@pytest.fixture
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertMaterial:
    return make_self_signed(tmp_path_factory.mktemp("ceiling-certs"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(
        os.environ,
        POPTUI_DATABASE=f"sqlite:///{tmp_path}/ceiling.db",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
    )


def test_a_message_at_the_ceiling_is_stored_within_the_memory_bound(
    env: dict[str, str], cert: CertMaterial
) -> None:
    line = b"x" * 76 + b"\r\n"
    head = make_message(1, body=b"")
    big = make_message(1, body=line * ((MAX_MESSAGE_BYTES - len(head) - 1024) // len(line)))
    assert MAX_MESSAGE_BYTES - 2048 < len(big) <= MAX_MESSAGE_BYTES
    with HostilePop3Server(S("NONE", T.FLOOD), [big, make_message(2)]) as server:
        check_attack(env, server, cert, Expect(0, ""))  # asserts peak RSS < 100 MB
        assert sorted(server.committed_deletions) == [1, 2]
