"""The domains a message involves, as a sharing exclusion matches them: every address header,
each domain with its parents, normalised, and a mark when the addresses cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.core.mail.blocks import MAX_HEADER_BYTES
from tui.core.mail.parse import domains_of, normalize_domain, summarize
from tui.core.mail.summary import UNREADABLE_DOMAINS
from tui.core.sharing.rules import SharingError, normalize_domains


def party(headers: str) -> set[str]:
    return set(summarize((headers + "Subject: s\r\n\r\nbody\r\n").encode()).party_domains.split())


@pytest.mark.parametrize("header", ["From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Resent-To"])
def test_every_address_header_counts(header: str) -> None:
    assert "rival.example" in party(f"{header}: Someone <x@rival.example>\r\n")


def test_domains_carry_their_parents_normalised() -> None:
    found = party("From: a@Sub.RIVAL.Example.\r\nTo: b@B\u00fccher.example\r\n")
    assert {"sub.rival.example", "rival.example", "xn--bcher-kva.example"} <= found
    assert normalize_domain("B\u00fccher.Example.") == normalize_domain("xn--bcher-kva.example")


@pytest.mark.parametrize(
    "headers",
    [
        "From: a@ok.example\r\nTo : x@rival.example\r\n",  # the parser ends the block early
        "From: a@ok.example\r\nCc: <<@@>>\r\n",
        "From: a@[192.0.2.1]\r\n",
        "From: a@ok.example\r\nX-Pad: " + "a" * (MAX_HEADER_BYTES + 1) + "\r\n",
    ],
)
def test_unreadable_addresses_are_marked(headers: str) -> None:
    assert summarize((headers + "\r\nbody").encode()).party_domains == UNREADABLE_DOMAINS


def test_no_address_is_not_unreadable() -> None:
    assert summarize(b"Subject: x\r\n\r\nbody").party_domains == ""
    assert domains_of(["undisclosed-recipients:;"]) == ""
    assert summarize(b"From: a@ok.example\r\nTo: undisclosed-recipients:;\r\n\r\nx").party_domains


def test_a_lookalike_is_not_the_domain() -> None:
    assert "rival.example" not in party("To: x@notrival.example, y@rival.example.org\r\n")


def test_excluded_domains_are_normalised_like_the_messages() -> None:
    assert normalize_domains(["RIVAL.example.", "B\u00fccher.example"]) == (
        "rival.example",
        "xn--bcher-kva.example",
    )
    with pytest.raises(SharingError, match="not a domain"):
        normalize_domains(["b\u00fc cher!.example"])


def test_the_migration_recomputes_stored_domains(tmp_path: Path) -> None:
    from tui.core.settings import AccountSettings
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database
    from tui.core.storage.dialect import dialect_of
    from tui.core.storage.migrations import m0007_party_domains
    from tui.core.storage.models import Message, MessageSource

    db = open_database(f"sqlite:///{tmp_path}/m.db")
    try:
        account = AccountStore("me").create(
            AccountSettings(name="a", email="a@b.example", incoming_host="h", username="u")
        )
        raw = b"From: a@ok.example\r\nBcc: x@sub.rival.example\r\n\r\nbody"
        message = Message.create(account=account, uidl="1", size=len(raw), party_domains="")
        MessageSource.create(message=message, raw=raw)
        m0007_party_domains.apply(db, dialect_of(db))
        stored = Message.get_by_id(message.id).party_domains
        assert " rival.example " in stored and " sub.rival.example " in stored
    finally:
        db.close()
