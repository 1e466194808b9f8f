"""The delivery run and its gate, on a real SQLite database: what counts as delivered, what
holds mail on the server, and the repair of a delivery a crash cut short (issue #13.1)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.fetch_helpers import make_message, open_test_db
from tui.core.delivery import add_target, list_targets, remove_target
from tui.core.delivery.models import DeliveryRow
from tui.core.delivery.run import deliver_pending, undelivered
from tui.core.settings import AccountSettings
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Account, Message, MessageSource


def _store(account: Account, count: int, start: int = 0) -> list[int]:
    ids = []
    for i in range(start, start + count):
        raw = make_message(i)
        message = Message.create(account=account, uidl=f"u{i}", size=len(raw))
        MessageSource.create(message=message, raw=raw)
        ids.append(message.id)
    return ids


def _account(tmp_path: Path) -> Account:
    open_test_db(tmp_path)
    settings = AccountSettings(name="Run", email="me@example.com", incoming_host="h")
    return AccountStore("tester").create(settings)


def test_a_new_target_gets_only_mail_stored_after_it(tmp_path: Path) -> None:
    account = _account(tmp_path)
    old = _store(account, 3)
    add_target(account, f"maildir:{tmp_path}/Mail")
    new = _store(account, 2, start=3)
    assert undelivered(account, old + new) == set(new)
    outcome = deliver_pending(account)
    assert outcome.delivered == 2 and not outcome.failures
    assert undelivered(account, old + new) == set()
    assert len(os.listdir(tmp_path / "Mail/new")) == 2


def test_one_failing_target_holds_the_mail_the_other_got(tmp_path: Path) -> None:
    account = _account(tmp_path)
    add_target(account, f"maildir:{tmp_path}/Mail")
    add_target(account, "mda:sh -c 'exit 75'")
    ids = _store(account, 3)
    outcome = deliver_pending(account)
    assert outcome.delivered == 3  # the Maildir's
    assert list(outcome.failures) == ["MDA sh -c 'exit 75'"]
    assert undelivered(account, ids) == set(ids)
    assert outcome.hold(account, {1: ids[0], 2: ids[1]}) == {}
    assert outcome.warnings() == [
        "Could not deliver to MDA sh -c 'exit 75': it asked to try again later (exit status "
        "75, EX_TEMPFAIL) (2 messages kept on the server)"
    ]
    assert "EX_TEMPFAIL" in list_targets(account)[1].last_error
    # The MDA stopped at its first failure: one attempt, not three.
    assert DeliveryRow.select().where(DeliveryRow.state == "failed").count() == 1
    remove_target(account, "mda:sh -c 'exit 75'")
    assert undelivered(account, ids) == set()  # nothing waits for a target that is gone
    assert list_targets(account)[0].last_error == ""


def test_a_delivery_cut_short_is_not_repeated_into_the_maildir(tmp_path: Path) -> None:
    account = _account(tmp_path)
    add_target(account, f"maildir:{tmp_path}/Mail")
    _store(account, 4)
    assert deliver_pending(account).delivered == 4
    # As if the process died after writing the files but before recording them; a reader
    # has moved two of them to cur/ meanwhile.
    DeliveryRow.update(state="trying").execute()
    new = tmp_path / "Mail/new"
    for name in sorted(os.listdir(new))[:2]:
        os.rename(new / name, tmp_path / "Mail/cur" / f"{name}:2,S")
    assert deliver_pending(account).delivered == 4
    files = os.listdir(new) + os.listdir(tmp_path / "Mail/cur")
    assert len(files) == 4
    assert DeliveryRow.select().where(DeliveryRow.state == "delivered").count() == 4
