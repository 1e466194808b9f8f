"""A real fetch from Dovecot whose header blocks are read by the summary process.

Every stored message's list fields must be what the in-process reader gives for its stored bytes,
whether the child does all the work, dies in the middle of the fetch, or is never there; and a
fetch leaves no child behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PgDatabase, PopUser
from tests.integration.fetch_helpers import (
    dovecot_account,
    fetch,
    open_test_db,
    stored_sources,
)
from tests.servers.dovecot import DovecotServer
from tests.unit.test_summary_process import messages
from tui.core.mail.headers import summarize_fast
from tui.core.mail.summary_process import SUMMARY_PROCESS_MESSAGES, SummaryProcess
from tui.core.settings import Security
from tui.core.storage.db import open_database
from tui.core.storage.models import Message

COUNT = SUMMARY_PROCESS_MESSAGES + 40


@pytest.fixture(autouse=True)
def database(tmp_path: Path) -> Any:
    db = open_test_db(tmp_path)
    yield db
    db.close()


def stored_summaries_are_the_in_process_ones(account: Any) -> int:
    rows = list(Message.select().where(Message.account == account).order_by(Message.id))
    sources = stored_sources(account)
    assert len(rows) == len(sources) == COUNT
    for row, raw in zip(rows, sources, strict=True):
        expected = summarize_fast(raw)
        got = (row.from_addr, row.to_addrs, row.subject, row.date, row.message_id,
               bool(row.has_attachments), row.party_domains)  # fmt: skip
        assert got == (
            expected.from_addr, expected.to_addrs, expected.subject, expected.date,
            expected.message_id, expected.has_attachments, expected.party_domains,
        ), raw[:200]  # fmt: skip
    return len(rows)


class Watched:
    """Counts the children started and the header blocks sent; kills the child (and waits
    until it is gone) just before the `kill_at`-th block is sent (None: never). The code under
    test runs unchanged."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kill_at: int | None) -> None:
        self.started: list[SummaryProcess] = []
        self.sent = 0
        start, send = SummaryProcess.start.__func__, SummaryProcess.send  # type: ignore[attr-defined]
        watched = self

        def start_watched(cls: type[SummaryProcess]) -> SummaryProcess | None:
            process: SummaryProcess | None = start(cls)
            if process is not None:
                watched.started.append(process)
            return process

        def send_watched(self: SummaryProcess, raw: bytes) -> bool | None:
            watched.sent += 1
            if watched.sent == kill_at:
                self._child.kill()
                self._child.wait()
            return send(self, raw)

        monkeypatch.setattr(SummaryProcess, "start", classmethod(start_watched))
        monkeypatch.setattr(SummaryProcess, "send", send_watched)


@pytest.mark.parametrize("security", [Security.NONE, Security.SSL])
def test_a_large_fetch_has_its_headers_read_by_the_child(
    dovecot: DovecotServer,
    pop_user: PopUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    security: Security,
) -> None:
    dovecot.deliver_many(pop_user.name, messages(COUNT))
    watched = Watched(monkeypatch, kill_at=None)
    account = dovecot_account(dovecot, pop_user.name, security=security)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok and result.new_messages == COUNT, result
    assert len(watched.started) == 1 and watched.sent == COUNT
    assert not watched.started[0].broken
    assert watched.started[0]._child.wait(timeout=5) == 0, "the child outlived its fetch"
    stored_summaries_are_the_in_process_ones(account)


def test_a_child_killed_mid_fetch_costs_nothing(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot.deliver_many(pop_user.name, messages(COUNT))
    watched = Watched(monkeypatch, kill_at=COUNT // 2)
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok and result.new_messages == COUNT, result
    assert watched.started[0].broken  # "it ended" or "its input failed": whichever side saw it
    stored_summaries_are_the_in_process_ones(account)


def test_without_a_child_the_fetch_reads_headers_itself(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot.deliver_many(pop_user.name, messages(COUNT))
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok and result.new_messages == COUNT, result
    stored_summaries_are_the_in_process_ones(account)


def test_into_postgresql_the_headers_are_read_in_process(
    dovecot: DovecotServer,
    pop_user: PopUser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_database: PgDatabase,
) -> None:
    """There the server needs the other core (the child measured 1.09x the time): no child."""
    dovecot.deliver_many(pop_user.name, messages(COUNT))
    watched = Watched(monkeypatch, kill_at=None)
    db = open_database(pg_database.url)
    try:
        account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
        result = fetch(account, pop_user.password, tmp_path)
        assert result.ok and result.new_messages == COUNT, result
        assert watched.started == [] and watched.sent == 0
        stored_summaries_are_the_in_process_ones(account)
    finally:
        db.close()


def test_with_one_cpu_the_headers_are_read_in_process(
    dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child would only take turns with the fetch on the one CPU."""
    dovecot.deliver_many(pop_user.name, messages(COUNT))
    watched = Watched(monkeypatch, kill_at=None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    account = dovecot_account(dovecot, pop_user.name, security=Security.NONE)
    result = fetch(account, pop_user.password, tmp_path)
    assert result.ok and result.new_messages == COUNT, result
    assert watched.started == []
    stored_summaries_are_the_in_process_ones(account)
