"""A known UIDL listed with a size its stored copy cannot have (issue #9 item 2).

pop3d takes a UIDL from an ``X-UIDL:`` header in the mail, so a new message can be listed under
the UIDL of one stored here and gone from the server since. It is a different message: fetched
and stored apart, never hidden as "already here", never deleted by the old copy's age. A size
that differs only as a server counting bare LF line ends would list it is still the same copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers.fake_pop3 import FakePop3Server
from tests.unit.test_fetch_hostile_listing import account_for, run_fetch, sized, stored_bodies
from tui.core.settings import DeletePolicy
from tui.core.storage.db import open_database
from tui.core.storage.models import Message, utcnow
from tui.core.sync import summary_line
from tui.core.sync.plan import KEY_SEPARATOR


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/reuse.db")
    yield db
    db.close()


def age_everything(days: int) -> None:
    Message.update(first_seen_at=utcnow() - timedelta(days=days)).execute()


def test_a_gone_messages_uidl_on_a_new_message_fetches_it_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    old = sized(1)
    with FakePop3Server([old], uids={1: "reused"}) as server:
        account = account_for(server, DeletePolicy.AFTER_DAYS)
        assert run_fetch(account, tmp_path).new_messages == 1
        age_everything(30)  # the policy (7 days by default) now wants the stored copy gone
        newcomer = sized(4)  # another message, another size, the same UIDL
        server.messages = [newcomer]
        result = run_fetch(account, tmp_path)
        assert result.ok, result.error
        assert (result.new_messages, result.shared_uidl, result.deleted_on_server) == (1, 1, 0)
        assert not server.last.deleted and "RETR 1" in server.last.commands
        assert "stored apart by content" in summary_line(result)
        assert stored_bodies() == sorted([old, newcomer])
        keys = [m.uidl for m in Message.select().order_by(Message.id)]
        assert keys[0] == "reused" and keys[1].startswith("reused" + KEY_SEPARATOR)
        # Next time: nothing downloaded, nothing stored twice, still nothing deleted.
        again = run_fetch(account, tmp_path)
        assert (again.ok, again.new_messages, again.deleted_on_server) == (True, 0, 0)
        assert "RETR" not in server.last.verbs and not server.last.deleted
        assert Message.select().count() == 2


def test_same_uidl_same_size_is_already_here(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(3)]
    with FakePop3Server(messages) as server:
        account = account_for(server, DeletePolicy.AFTER_DAYS)
        assert run_fetch(account, tmp_path).new_messages == 3
        again = run_fetch(account, tmp_path)
        assert (again.ok, again.new_messages, again.shared_uidl) == (True, 0, 0)
        assert "RETR" not in server.last.verbs
        age_everything(30)
        due = run_fetch(account, tmp_path)
        assert (due.ok, due.deleted_on_server) == (True, 3)
        assert "RETR" not in server.last.verbs


def test_a_size_counted_with_bare_lf_line_ends_is_the_same_copy(tmp_path: Path) -> None:
    messages = [sized(i) for i in range(2)]
    with FakePop3Server(messages) as server:
        account = account_for(server, DeletePolicy.LEAVE)
        assert run_fetch(account, tmp_path).new_messages == 2
        server.list_sizes = {1: len(messages[0]) - messages[0].count(b"\n")}
        again = run_fetch(account, tmp_path)
        assert (again.ok, again.new_messages, again.shared_uidl) == (True, 0, 0)
        assert "RETR" not in server.last.verbs
