"""A new message listed under the UIDL of one stored here and since gone (issue #9, item 2).

GNU Mailutils pop3d takes a message's UIDL from an ``X-UIDL:`` header already in the mail, so
after a stored message left the server, a different one can arrive under its UIDL. It must be
fetched and stored apart (never hidden as "already here"), and the old copy's age must never
delete it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PopUser
from tests.integration.fetch_helpers import fetch, make_message, open_test_db, stored_sources
from tests.integration.test_mailutils import mailutils_account, stored_uidls
from tests.servers.mailutils import MailutilsServer
from tui.core.settings import DeletePolicy
from tui.core.storage.models import Message, utcnow
from tui.core.sync import summary_line
from tui.core.sync.plan import KEY_SEPARATOR


@pytest.fixture
def database(tmp_path: Path) -> Any:
    db = open_test_db(tmp_path)
    yield db
    db.close()


@pytest.mark.usefixtures("database")
def test_a_new_message_under_a_gone_messages_uidl_is_fetched_and_not_deleted(
    mailutils: MailutilsServer, mailutils_user: PopUser, tmp_path: Path
) -> None:
    mailutils.deliver(mailutils_user.name, make_message(1))
    account = mailutils_account(
        mailutils, mailutils_user, delete_policy=DeletePolicy.AFTER_DAYS, delete_after_days=7
    )
    password = mailutils_user.password
    first = fetch(account, password, tmp_path)
    assert (first.ok, first.new_messages) == (True, 1), first.error
    [uidl] = stored_uidls(account)
    [old_copy] = stored_sources(account)

    # Behind poptui's back: message 1 goes, a different (longer) one comes with its UIDL.
    [gone] = mailutils.maildir_files(mailutils_user.name)
    gone.unlink()
    newcomer = make_message(
        2,
        body=b"A different message, longer than the first.\r\n",
        extra_headers=f"X-UIDL: {uidl}\r\n",
    )
    mailutils.deliver(mailutils_user.name, newcomer)

    # Eight days on: message 1 was stored eight days ago (the new one is stored now).
    eight_days_ago = utcnow() - timedelta(days=8)
    Message.update(first_seen_at=eight_days_ago).where(Message.account == account).execute()
    second = fetch(account, password, tmp_path)
    assert second.ok, second.error
    assert second.deleted_on_server == 0
    assert len(mailutils.maildir_files(mailutils_user.name)) == 1  # still on the server
    assert (second.new_messages, second.shared_uidl) == (1, 1)
    assert "shared a unique-id with another on the server" in summary_line(second)
    keys = stored_uidls(account)
    assert keys[0] == uidl and keys[1].startswith(uidl + KEY_SEPARATOR), keys
    sources = stored_sources(account)
    assert sources[0] == old_copy
    assert b"A different message, longer than the first." in sources[1]

    for _ in range(2):
        again = fetch(account, password, tmp_path)
        assert again.ok, again.error
        assert (again.new_messages, again.bytes_fetched, again.deleted_on_server) == (0, 0, 0)
        assert stored_uidls(account) == keys
        assert len(mailutils.maildir_files(mailutils_user.name)) == 1
