"""Delivery targets as written (`maildir:PATH` …) and as stored per mailbox (issue #13.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.fetch_helpers import open_test_db
from tests.unit.cli_helpers import PoptuiRunner
from tui.core.delivery import (
    DeliveryTarget,
    TargetInvalid,
    TargetKind,
    add_target,
    list_targets,
    parse_target,
    remove_target,
    set_targets,
)
from tui.core.settings import AccountSettings
from tui.core.storage.accounts import AccountStore
from tui.core.storage.models import Message


@pytest.mark.parametrize(
    ("spec", "kind", "address", "recipient"),
    [
        ("maildir:~/Mail/inbox", TargetKind.MAILDIR, "~/Mail/inbox", ""),
        ("mbox:/var/mail/alice", TargetKind.MBOX, "/var/mail/alice", ""),
        ("MDA:procmail -d alice", TargetKind.MDA, "procmail -d alice", ""),
        ("lmtp:/run/dovecot/lmtp", TargetKind.LMTP, "/run/dovecot/lmtp", ""),
        ("lmtp:127.0.0.1:24", TargetKind.LMTP, "127.0.0.1:24", ""),
        ("lmtp:a@b.example@[::1]:24", TargetKind.LMTP, "[::1]:24", "a@b.example"),
        ("lmtp:alice@/run/dovecot/lmtp", TargetKind.LMTP, "/run/dovecot/lmtp", "alice"),
    ],
)
def test_specs_parse_and_round_trip(
    spec: str, kind: TargetKind, address: str, recipient: str
) -> None:
    target = parse_target(spec)
    assert (target.kind, target.address, target.recipient) == (kind, address, recipient)
    assert parse_target(target.spec).same_place(target)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "maildir:",
        "imap:foo",
        "/home/alice/Mail",
        "mda:'unterminated",
        "lmtp:localhost",
        "lmtp:host:99999",
        "mbox:/tmp/a\x1b[31mred",
        "maildir:" + "x" * 5000,
    ],
)
def test_bad_specs_are_refused_in_words(spec: str) -> None:
    with pytest.raises(TargetInvalid) as caught:
        parse_target(spec)
    assert caught.value.message
    assert "\x1b" not in caught.value.message


def test_describe_removes_escape_sequences() -> None:
    target = DeliveryTarget(TargetKind.MDA, "procmail \x1b]0;owned\x07")
    assert "\x1b" not in target.describe() and "\x07" not in target.describe()


def test_targets_are_stored_per_mailbox_idempotently(tmp_path: Path) -> None:
    open_test_db(tmp_path)
    store = AccountStore("tester")
    one = store.create(AccountSettings(name="One", email="a@example.com", incoming_host="h"))
    two = store.create(AccountSettings(name="Two", email="b@example.com", incoming_host="h"))
    Message.create(account=one, uidl="u1", size=1)
    first = add_target(one, "maildir:~/Mail")
    again = add_target(one, parse_target("maildir:~/Mail"))
    assert first.id == again.id
    add_target(one, "mda:procmail")
    assert [t.spec for t in list_targets(one)] == ["maildir:~/Mail", "mda:procmail"]
    assert list_targets(two) == []
    assert remove_target(one, "maildir:~/Mail")
    assert not remove_target(one, "maildir:~/Mail")
    kept = set_targets(one, [parse_target("mda:procmail"), parse_target("mbox:/tmp/x")])
    assert [t.spec for t in kept] == ["mda:procmail", "mbox:/tmp/x"]
    assert kept[0].id == list_targets(one)[0].id  # the kept target keeps its state


def test_cli_adds_shows_and_removes_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    poptui = PoptuiRunner(tmp_path, monkeypatch)
    added = poptui(
        *("account", "add", "Work", "--email", "me@example.com", "--incoming-host", "pop.h"),
        *("--deliver-to", "maildir:~/Mail", "--deliver-to", "mda:procmail -d me"),
    )
    assert added.code == 0, added.err
    shown = poptui("account", "show", "Work")
    assert "deliver to: maildir:~/Mail\n" in shown.out
    assert "deliver to: mda:procmail -d me\n" in shown.out
    dropped = poptui("account", "edit", "Work", "--no-deliver-to", "maildir:~/Mail")
    assert dropped.code == 0, dropped.err
    data = json.loads(poptui("account", "show", "Work", "--json").out)
    assert data["deliver_to"] == [{"target": "mda:procmail -d me", "error": None}]
    missing = poptui("account", "edit", "Work", "--no-deliver-to", "mbox:/nowhere")
    assert missing.code == 1 and "does not deliver to mbox:/nowhere" in missing.err
    bad = poptui("account", "edit", "Work", "--deliver-to", "imap:x")
    assert bad.code == 1 and "is not a delivery target" in bad.err
    cleared = poptui("account", "edit", "Work", "--no-deliver-to", "all")
    assert cleared.code == 0
    assert json.loads(poptui("account", "show", "Work", "--json").out)["deliver_to"] == []
