"""tick never sends an overdue step outside its sending window.

A tick that finds a step overdue at a closed window (after hours, a weekend, SMS or
voice quiet hours in the lead's own timezone) moves it to its next slot instead of
sending it; the daily limit still spreads what comes due together.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Enrollment, Message
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

UTC = dt.UTC
SMS_ONLY = [{"channel": "sms", "delayDays": 0, "template": "bye"}]
EMAIL_ONLY = [{"channel": "email", "delayDays": 0, "template": "intro"},
              {"channel": "email", "delayDays": 2, "template": "value"}]
OSLO = {"timezone": "Europe/Oslo", "workHours": {"start": "09:00", "end": "17:00"},
        "workDays": [1, 2, 3, 4, 5], "dailyLimit": 50}


def _setup(tmp_path: Path, db_url: str, *, start: dt.datetime, leads: list[dict[str, Any]],
           **kw: Any) -> Database:
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv", leads)).errors
    write_repo(tmp_path / "repo", base_resources(**kw))
    start_runs(db, tmp_path / "repo", now=start)
    return db


def _sms_setup(tmp_path: Path, db_url: str, schedule: dict[str, Any], start: dt.datetime,
               **lead: Any) -> Database:
    return _setup(tmp_path, db_url, start=start, leads=[lead_row(1, **lead)],
                  sequence=SMS_ONLY, schedule=schedule,
                  campaign={"channel": "sms", "allocation": None, "template": "bye"})


def _sent(db: Database) -> list[dt.datetime]:
    with db.session() as s:
        return [m.sent_at.astimezone(UTC) for m in s.execute(
            select(Message).where(Message.status == "sent").order_by(Message.id)).scalars()]


def _dues(db: Database) -> list[dt.datetime | None]:
    with db.session() as s:
        return [d and d.astimezone(UTC) for d in s.execute(
            select(Enrollment.next_due_at).order_by(Enrollment.id)).scalars()]


def test_sms_after_hours_tick_waits_for_the_next_morning(db_url: str, tmp_path: Path):
    # due Monday 7 Dec 09:00 Oslo (08:00Z); the first tick comes Tuesday 23:30 Oslo
    db = _sms_setup(tmp_path, db_url, OSLO, dt.datetime(2026, 12, 7, 7, 0, tzinfo=UTC))
    result = tick(db, now=dt.datetime(2026, 12, 8, 22, 30, tzinfo=UTC), config=ProjectConfig())
    assert result.total("sent") == 0 and _sent(db) == []
    assert result.counts == {"sms": {"waiting": 1}}
    assert _dues(db) == [dt.datetime(2026, 12, 9, 8, 0, tzinfo=UTC)]  # Wed 09:00 Oslo
    assert tick(db, now=dt.datetime(2026, 12, 9, 7, 59, tzinfo=UTC),
                config=ProjectConfig()).total("sent") == 0
    later = dt.datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
    assert tick(db, now=later, config=ProjectConfig()).total("sent") == 1
    assert _sent(db) == [later]


def test_email_saturday_tick_waits_then_monday_keeps_the_daily_limit(db_url: str,
                                                                      tmp_path: Path):
    # five leads due Friday 27 Nov 09:00 UTC; nobody ticks until Saturday noon
    db = _setup(tmp_path, db_url, start=dt.datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
                leads=[lead_row(i) for i in range(5)], sequence=EMAIL_ONLY,
                campaign={"allocation": None, "dailyLimit": 2})
    saturday = tick(db, now=dt.datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
                    config=ProjectConfig())
    assert saturday.total("sent") == 0 and _sent(db) == []
    assert saturday.counts == {"email": {"waiting": 5}}
    monday_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert set(_dues(db)) == {monday_9}
    assert tick(db, now=dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
                config=ProjectConfig()).total("sent") == 0  # Sunday: still nothing
    monday = tick(db, now=monday_9 + dt.timedelta(hours=3), config=ProjectConfig())
    assert monday.counts == {"email": {"sent": 2, "deferred": 3}}  # no burst
    tuesday_9 = monday_9 + dt.timedelta(days=1)
    assert sorted(d for d in _dues(db) if d and d < monday_9 + dt.timedelta(days=2)) == \
        [tuesday_9] * 3
    evening = tick(db, now=tuesday_9 + dt.timedelta(hours=10), config=ProjectConfig())
    assert evening.total("sent") == 0  # Tuesday 19:00: after hours, wait for Wednesday
    assert tick(db, now=tuesday_9 + dt.timedelta(days=1),
                config=ProjectConfig()).total("sent") == 2
    assert all(s.weekday() < 5 and 9 <= s.hour < 17 for s in _sent(db))


def test_sms_quiet_hours_follow_the_leads_own_timezone(db_url: str, tmp_path: Path):
    # the schedule allows 06:00-22:00 UTC every day; SMS is still 08:00-21:00 New York
    wide = {"timezone": "UTC", "workHours": {"start": "06:00", "end": "22:00"},
            "workDays": [1, 2, 3, 4, 5, 6, 7]}
    db = _sms_setup(tmp_path, db_url, wide, dt.datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
                    timezone="America/New_York")
    first_due = dt.datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert _dues(db) == [first_due]
    # Monday 21:30 New York is 02:30Z Tuesday: inside no window, nothing is sent
    late = tick(db, now=dt.datetime(2026, 11, 24, 2, 30, tzinfo=UTC), config=ProjectConfig())
    assert late.total("sent") == 0
    assert _dues(db) == [first_due + dt.timedelta(days=1)]
    # 12:00Z is inside the schedule's hours but 07:00 in New York: still waiting
    assert tick(db, now=dt.datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
                config=ProjectConfig()).total("sent") == 0
    assert tick(db, now=first_due + dt.timedelta(days=1, minutes=5),
                config=ProjectConfig()).total("sent") == 1
