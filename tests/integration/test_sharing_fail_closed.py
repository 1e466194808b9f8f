""" "Public except these domains" fails closed: attacks on the exclusion, on SQLite and PostgreSQL.

A message is hidden from everyone but the owner when ANY address in From, Sender, Reply-To, To,
Cc or Bcc is in an excluded domain or one of its subdomains (case, a trailing dot and IDNA forms
normalised), and when its addresses cannot be read at all.
"""

from __future__ import annotations

import pytest

from tests.integration.test_sharing import (  # noqa: F401  (fixtures)
    ALL,
    Team,
    bob_sets,
    postgres_team,
    raw_subjects,
    sqlite_team,
    team,
)
from tui.core.mail.blocks import MAX_HEADER_BYTES
from tui.core.mail.parse import summarize
from tui.core.settings import SharingPermission
from tui.core.storage.models import Account, Message, MessageSource

BASE = "From: friend@ok.example\r\nTo: bob@corp.example\r\n"
HOSTILE = {
    "bcc only": BASE + "Bcc: spy@rival.example\r\n",
    "sender only": "From: friend@ok.example\r\nSender: s@rival.example\r\n",
    "reply-to only": BASE + "Reply-To: answers@rival.example\r\n",
    "a subdomain": BASE + "Cc: x@sub.rival.example\r\n",
    "upper case, trailing dot": "From: Boss <boss@RIVAL.EXAMPLE.>\r\nTo: bob@corp.example\r\n",
    "encoded word": BASE + "Cc: =?utf-8?q?x=40rival.example?=\r\n",
    "in a display name": BASE + 'Cc: "ceo@rival.example" <ceo@ok.example>\r\n',
    "a second To header": BASE + "To: x@rival.example\r\n",
    "punycode of the excluded IDNA": BASE + "Cc: x@xn--bcher-kva.example\r\n",
    "IDNA of the excluded IDNA": BASE + "Cc: x@B\u00fccher.example\r\n",
    "a header the parser gives up on": BASE + "To : x@rival.example\r\n",
    "garbled address": BASE + "Cc: <<@@>>\r\n",
    "too big to parse": BASE + "X-Pad: " + "a" * (MAX_HEADER_BYTES + 10) + "\r\n",
}
SAFE = {
    "lookalike suffix": BASE + "Cc: x@notrival.example\r\n",
    "rival as a subdomain elsewhere": BASE + "Cc: x@rival.example.org\r\n",
}


def _add(box: Team, key: str, headers: str) -> None:
    raw = (headers + f"Subject: {key}\r\n\r\nbody\r\n").encode()
    box.connect("bob")
    account = Account.get_by_id(box.account_id)
    message = Message.create(
        account=account,
        uidl=key,
        size=len(raw),
        subject=key,
        from_addr="friend@ok.example",
        party_domains=summarize(raw).party_domains,
    )
    MessageSource.create(message=message, raw=raw)


@pytest.fixture
def hostile_team(team: Team) -> Team:  # noqa: F811
    for key, headers in {**HOSTILE, **SAFE}.items():
        _add(team, key, headers)
    bob_sets(
        team,
        SharingPermission.PUBLIC,
        excluded_domains=["Rival.Example.", "b\u00fccher.example"],
    )
    return team


def test_any_address_in_an_excluded_domain_hides_the_message(hostile_team: Team) -> None:
    visible = ALL | set(SAFE)
    assert hostile_team.subjects_seen_by("bob") == ALL | set(HOSTILE) | set(SAFE)
    assert hostile_team.subjects_seen_by("carol") == visible


def test_row_level_security_hides_excluded_domains_and_subdomains(postgres_team: Team) -> None:  # noqa: F811
    """Raw SQL as another role: the stored domains carry their parents, so the database's own
    substring match hides subdomains too; unreadable addresses are hidden as well."""
    for key, headers in {**HOSTILE, **SAFE}.items():
        _add(postgres_team, key, headers)
    bob_sets(
        postgres_team,
        SharingPermission.PUBLIC,
        excluded_domains=["rival.example", "b\u00fccher.example"],
    )
    assert raw_subjects(postgres_team, "carol") == ALL | set(SAFE)


def test_excluding_nothing_hides_nothing(team: Team) -> None:  # noqa: F811
    for key, headers in HOSTILE.items():
        _add(team, key, headers)
    bob_sets(team, SharingPermission.PUBLIC)
    assert team.subjects_seen_by("carol") == ALL | set(HOSTILE)


def test_owner_sees_the_unreadable_mail(team: Team) -> None:  # noqa: F811
    _add(team, "too big to parse", HOSTILE["too big to parse"])
    bob_sets(team, SharingPermission.PUBLIC, excluded_domains=["rival.example"])
    assert "too big to parse" in team.subjects_seen_by("bob")
    assert "too big to parse" not in team.subjects_seen_by("carol")
