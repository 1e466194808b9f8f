"""What a fetch holds while the mail comes in, when its memory peaks (issue #11): the stored
UIDLs and the listing's UIDL index grow with the mailbox and are only read to plan the session,
so neither is alive during RETR; the outcome is the same as when they were."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fetch_helpers import make_message
from tests.servers.fake_pop3 import FakePop3Server
from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.storage.accounts import AccountStore
from tui.core.storage.db import open_database
from tui.core.storage.models import Account, Message, MessageSource, database_proxy
from tui.core.storage.source_files import read_source
from tui.core.sync import FetchOptions, engine, fetch_account
from tui.core.sync.plan import known_uidls as known_uidls_of
from tui.core.sync.plan import plan_sync as plan_sync_of
from tui.core.sync.receive import receive as receive_of


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Iterator[Any]:
    db = open_database(f"sqlite:///{tmp_path}/held.db")
    yield db
    db.close()


def test_neither_stored_uidls_nor_the_listing_index_live_through_retr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [make_message(i) for i in range(30)]
    seen: dict[str, Any] = {}
    real_known, real_plan, real_receive = known_uidls_of, plan_sync_of, receive_of

    def known_uidls(account: Account) -> Any:
        known = real_known(account)
        seen["known"] = weakref.ref(known)
        return known

    def plan_sync(account: Account, listing: Any, known: Any, *rest: Any) -> Any:
        seen["listing"] = listing
        return real_plan(account, listing, known, *rest)

    def receive(*args: Any, **kwargs: Any) -> None:
        gc.collect()
        seen["known alive"] = seen["known"]() is not None
        seen["index held"] = "listed" in vars(seen["listing"])
        real_receive(*args, **kwargs)

    monkeypatch.setattr(engine, "known_uidls", known_uidls)
    monkeypatch.setattr(engine, "plan_sync", plan_sync)
    monkeypatch.setattr(engine, "receive", receive)
    with FakePop3Server(messages[:20]) as server:
        settings = AccountSettings(
            name="Held", email="alice@example.com", incoming_host="127.0.0.1",
            incoming_port=server.port, incoming_security=Security.NONE, username="alice",
            delete_policy=DeletePolicy.LEAVE,
        )  # fmt: skip
        account = AccountStore("tester").create(settings)
        options = FetchOptions(lock_dir=tmp_path / "locks", timeout=5)
        first = fetch_account(Account.get_by_id(account.id), "secret", options=options)
        assert first.ok and first.new_messages == 20
        assert seen == seen | {"known alive": False, "index held": False}
        seen.clear()
        server.messages = messages  # ten more arrive; the twenty stored are listed again
        second = fetch_account(Account.get_by_id(account.id), "secret", options=options)
    assert second.ok and second.new_messages == 10
    assert seen == seen | {"known alive": False, "index held": False}
    assert Message.select().count() == 30
    ids = [m.id for m in Message.select(Message.id).join(MessageSource)]
    stored = [read_source(database_proxy.obj, message_id) for message_id in ids]
    assert sorted(raw or b"" for raw in stored) == sorted(messages)
