"""The service's scheduler on a hand-turned clock, and its journald-friendly log lines."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from tui.core.net import pop3
from tui.core.service.journal import ServiceLog, in_words, under_journald
from tui.core.service.scheduler import BACKOFF_CAP, BUSY_RETRY, Scheduler, backoff
from tui.core.sync import AlreadyFetching, FetchCancelled, FetchResult

T0 = datetime(2026, 1, 1, 12, 0, 0)
MIN = timedelta(minutes=1)


def account(key: int, name: str, poll: int, **fields: Any) -> Any:
    values = {"last_fetch_at": None, "disabled": False, **fields}
    return SimpleNamespace(id=key, name=name, poll_minutes=poll, **values)


def failed(error: Exception | None = None) -> FetchResult:
    result = FetchResult(account="x")
    result.error = error or pop3.ConnectFailed("refused")  # type: ignore[assignment]
    return result


def test_a_mailbox_is_due_its_interval_after_its_last_fetch_by_anyone() -> None:
    scheduler = Scheduler()
    fresh = account(1, "Fresh", 5)
    recent = account(2, "Recent", 10, last_fetch_at=T0 - 3 * MIN)
    scheduler.sync([fresh, recent], T0)
    assert [p.name for p in scheduler.due(T0)] == ["Fresh"]
    assert scheduler.next_wake(T0) == T0
    scheduler.started(1)
    assert scheduler.next_wake(T0) == T0 + 7 * MIN  # the running one is not waited for
    scheduler.finished(1, FetchResult(account="Fresh"), T0 + timedelta(seconds=4))
    assert scheduler.plans[1].next_at == T0 + timedelta(seconds=4) + 5 * MIN
    assert [p.name for p in scheduler.due(T0 + 6 * MIN)] == ["Fresh"]
    assert [p.name for p in scheduler.due(T0 + 7 * MIN)] == ["Fresh", "Recent"]  # soonest first


def test_failures_double_the_wait_up_to_the_cap_and_a_success_resets_it() -> None:
    scheduler = Scheduler()
    scheduler.sync([account(1, "Box", 5)], T0)
    waits = []
    now = T0
    for _ in range(6):
        scheduler.started(1)
        plan = scheduler.finished(1, failed(), now)
        assert plan is not None
        waits.append(plan.next_at - now)
        now = plan.next_at
    assert waits == [5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN, BACKOFF_CAP, BACKOFF_CAP]
    scheduler.started(1)
    plan = scheduler.finished(1, FetchResult(account="Box"), now)
    assert plan is not None and plan.failures == 0 and plan.next_at == now + 5 * MIN
    assert backoff(timedelta(hours=3), 4) == timedelta(hours=3)  # never under the interval


def test_a_stop_keeps_the_failure_count_and_a_busy_mailbox_is_tried_again_soon() -> None:
    scheduler = Scheduler()
    scheduler.sync([account(1, "Box", 5)], T0)
    scheduler.started(1)
    scheduler.finished(1, failed(), T0)
    scheduler.started(1)
    plan = scheduler.finished(1, failed(FetchCancelled("stopped")), T0)
    assert plan is not None and plan.failures == 1
    scheduler.started(1)
    plan = scheduler.finished(1, failed(AlreadyFetching("the app has it")), T0)
    assert plan is not None and plan.next_at == T0 + BUSY_RETRY


def test_login_delay_is_honoured_over_the_back_off() -> None:
    scheduler = Scheduler()
    scheduler.sync([account(1, "Box", 1)], T0)
    scheduler.started(1)
    delay = pop3.LoginDelay("-ERR [LOGIN-DELAY] wait", delay_seconds=900)
    plan = scheduler.finished(1, failed(delay), T0)
    assert plan is not None and plan.next_at == T0 + timedelta(seconds=900)


def test_disabled_and_removed_mailboxes_drop_out_and_a_changed_interval_applies() -> None:
    scheduler = Scheduler()
    a, b = account(1, "A", 5), account(2, "B", 5)
    scheduler.sync([a, b], T0)
    scheduler.started(1)
    scheduler.finished(1, FetchResult(account="A"), T0)
    scheduler.sync([account(1, "A", 15), account(2, "B", 5, disabled=True)], T0)
    assert set(scheduler.plans) == {1}
    assert scheduler.plans[1].next_at == T0 + 15 * MIN
    scheduler.started(1)
    scheduler.sync([], T0)  # removed while running: kept until it ends, then forgotten
    assert 1 in scheduler.plans
    scheduler.finished(1, FetchResult(account="A"), T0)
    scheduler.sync([], T0)
    assert scheduler.plans == {}


def test_a_fix_by_the_user_retries_failing_mailboxes_even_one_failing_right_now() -> None:
    scheduler = Scheduler()
    scheduler.sync([account(1, "Idle", 5), account(2, "Busy", 5)], T0)
    for key in (1, 2):
        scheduler.started(key)
    scheduler.finished(1, failed(), T0)
    scheduler.retry_failing(T0 + MIN)
    assert scheduler.plans[1].next_at == T0 + MIN
    plan = scheduler.finished(2, failed(), T0 + 2 * MIN)  # failed with the old settings
    assert plan is not None and plan.next_at == T0 + 2 * MIN


def test_log_lines_under_journald_carry_a_priority_and_no_timestamp() -> None:
    out = io.StringIO()
    log = ServiceLog(out, journald=True)
    ok = FetchResult(account="Work\x1b[31m", new_messages=2, bytes_fetched=2048, seconds=0.5)
    log.fetched(ok, next_in=in_words(300))
    log.fetched(failed())
    lines = out.getvalue().splitlines()
    assert lines[0] == "<6>fetched Work: 2 new messages, 2.0 KB in 0.5s (next in 5 min)"
    assert lines[1].startswith("<4>fetched x: ")
    assert "\x1b" not in out.getvalue()


def test_log_lines_elsewhere_start_with_a_utc_timestamp() -> None:
    out = io.StringIO()
    ServiceLog(out, journald=False, clock=lambda: T0).info("poptui service started")
    assert out.getvalue() == "2026-01-01T12:00:00Z poptui service started\n"
    assert under_journald({"JOURNAL_STREAM": "8:123"}) and not under_journald({})
    assert [in_words(s) for s in (40, 300, 7200)] == ["in 40 s", "in 5 min", "in 2 h"]


def test_the_crontab_lines_start_the_service_once_and_quote_the_path() -> None:
    from pathlib import Path

    from tui.core.service.unit import crontab_line

    lines = crontab_line(Path("/opt/my tools/poptui"), "sqlite:////srv/mail.db").splitlines()
    assert lines[0].startswith("@reboot '/opt/my tools/poptui' --database sqlite:////srv/mail.db ")
    assert lines[1].startswith("*/10 * * * * '/opt/my tools/poptui' ")
    assert all("service run --ensure >>" in line for line in lines)
