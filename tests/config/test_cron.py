"""Cron fire times in a schedule's timezone: DST changes, a future start, missed fires."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaign_gitops.config.cron import cron_problem, first_fire, next_fire, prev_fire

SYDNEY = "Australia/Sydney"
SYD = ZoneInfo(SYDNEY)
UTC = dt.UTC


def _fires(cron: str, tz: str, after: dt.datetime, n: int) -> list[str]:
    out = []
    for _ in range(n):
        fire = next_fire(cron, tz, after)
        assert fire is not None
        out.append(fire.isoformat())
        after = fire
    return out


def test_weekly_fires_at_local_wall_clock_across_a_dst_change() -> None:
    # Sydney moves from +10:00 to +11:00 on Sunday 2026-10-04.
    fires = _fires("0 9 * * 1", SYDNEY, dt.datetime(2026, 9, 20, tzinfo=UTC), 3)
    assert fires == ["2026-09-21T09:00:00+10:00", "2026-09-28T09:00:00+10:00",
                     "2026-10-05T09:00:00+11:00"]


def test_a_fire_skipped_by_spring_forward_fires_once_at_the_change() -> None:
    after = dt.datetime(2026, 10, 3, 12, tzinfo=SYD)
    assert _fires("30 2 * * *", SYDNEY, after, 2) == [
        "2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"]
    # 02:00 and 02:30 do not exist that night: both fire at 03:00, once, with 03:00's own
    assert _fires("*/30 * * * *", SYDNEY, dt.datetime(2026, 10, 4, 1, 0, tzinfo=SYD), 3) == [
        "2026-10-04T01:30:00+10:00", "2026-10-04T03:00:00+11:00", "2026-10-04T03:30:00+11:00"]


def test_a_fire_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    # Sydney moves from +11:00 back to +10:00 on Sunday 2026-04-05 at 03:00.
    after = dt.datetime(2026, 4, 4, 12, tzinfo=SYD)
    assert _fires("30 2 * * *", SYDNEY, after, 2) == [
        "2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"]
    # inside the repeated hour (second pass): the last fire was in the first pass
    # (compared in UTC: Python never calls a time of a repeated hour equal to another zone's)
    second_pass = dt.datetime(2026, 4, 5, 2, 10, tzinfo=SYD, fold=1)
    latest = prev_fire("* * * * *", SYDNEY, second_pass)
    assert latest is not None and latest.isoformat() == "2026-04-05T02:59:00+11:00"
    upcoming = next_fire("*/30 * * * *", SYDNEY, second_pass)
    assert upcoming is not None and upcoming.isoformat() == "2026-04-05T03:00:00+10:00"


def test_first_fire_is_at_or_after_the_start_and_never_before_now() -> None:
    now = dt.datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    start = dt.datetime(2026, 12, 7, 9, 0, tzinfo=SYD)  # a Monday, exactly a fire
    assert first_fire("0 9 * * 1", SYDNEY, start, now) == start
    assert first_fire("0 9 * * 1", SYDNEY, start + dt.timedelta(minutes=1), now) == \
        start + dt.timedelta(days=7)
    # a start in the past (or none): the first fire after now
    assert first_fire("0 9 * * 1", SYDNEY, dt.datetime(2026, 1, 1, tzinfo=UTC), now) == \
        dt.datetime(2026, 11, 30, 9, 0, tzinfo=SYD)
    assert first_fire("0 9 * * 1", SYDNEY, None, now) == dt.datetime(2026, 11, 30, 9, 0,
                                                                     tzinfo=SYD)
    # a startAt without an offset reads as UTC
    assert first_fire("0 * * * *", "UTC", dt.datetime(2027, 1, 1, 0, 30), now) == \
        dt.datetime(2027, 1, 1, 1, 0, tzinfo=UTC)


def test_missed_fires_coalesce_into_the_latest_and_the_next_is_after_now() -> None:
    due = dt.datetime(2026, 12, 7, 9, 0, tzinfo=SYD)
    now = dt.datetime(2026, 12, 23, 12, 0, tzinfo=SYD)  # three Mondays later, a Wednesday
    assert prev_fire("0 9 * * 1", SYDNEY, now) == dt.datetime(2026, 12, 21, 9, 0, tzinfo=SYD)
    assert next_fire("0 9 * * 1", SYDNEY, now) == dt.datetime(2026, 12, 28, 9, 0, tzinfo=SYD)
    assert prev_fire("0 9 * * 1", SYDNEY, due) == due  # at the fire itself: that fire
    assert next_fire("0 9 * * 1", SYDNEY, due) == due + dt.timedelta(days=7)


@pytest.mark.parametrize(("cron", "problem"), [
    ("0 9 * * 1", None), ("*/15 9-17 * * 1-5", None), ("0 0 29 2 *", None),
    ("0 9 * * 1 2026", "needs five fields"), ("@weekly", "needs five fields"),
    ("61 * * * *", "is not a valid cron expression"), ("0 9 31 4 *", "never fires")])
def test_cron_problem(cron: str, problem: str | None) -> None:
    assert cron_problem(cron) == problem
    if problem == "never fires":
        assert next_fire(cron, "UTC", dt.datetime(2026, 1, 1, tzinfo=UTC)) is None

