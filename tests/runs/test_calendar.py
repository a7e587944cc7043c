"""Sending windows: work hours, work days, holidays, lead timezones, quiet hours, DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from campaign_gitops.runs.calendar import (
    Window,
    add_days,
    day_bounds,
    due_at,
    next_day_start,
    next_slot,
)

UTC = dt.UTC
SYDNEY = ZoneInfo("Australia/Sydney")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def sydney_window(**kw) -> Window:
    spec = {"timezone": "Australia/Sydney", "workHours": {"start": "09:00", "end": "17:00"},
            "workDays": [1, 2, 3, 4, 5], "skipDates": ["2026-12-25"]}
    spec.update(kw)
    return Window.from_schedule(spec)


def test_inside_the_window_is_now():
    # Tuesday 2026-11-24 10:00 Sydney (AEDT, UTC+11) = 23:00 UTC Monday
    moment = utc(2026, 11, 23, 23, 0)
    assert next_slot(moment, sydney_window(), "email") == moment


def test_after_hours_moves_to_next_morning():
    # Tuesday 18:00 Sydney -> Wednesday 09:00 Sydney = Tuesday 22:00 UTC
    assert next_slot(utc(2026, 11, 24, 7, 0), sydney_window(), "email") == utc(2026, 11, 24,
                                                                              22, 0)


def test_weekend_moves_to_monday():
    # Saturday 2026-11-28 12:00 Sydney -> Monday 30th 09:00 Sydney
    assert next_slot(utc(2026, 11, 28, 1, 0), sydney_window(), "email") == utc(2026, 11, 29,
                                                                              22, 0)


def test_skip_dates_are_holidays():
    # Christmas (Friday) 10:00 Sydney -> Monday 28th 09:00
    got = next_slot(dt.datetime(2026, 12, 25, 10, tzinfo=SYDNEY), sydney_window(), "email")
    assert got == dt.datetime(2026, 12, 28, 9, tzinfo=SYDNEY)


def test_end_of_window_is_exclusive():
    got = next_slot(dt.datetime(2026, 11, 24, 17, 0, tzinfo=SYDNEY), sydney_window(), "email")
    assert got == dt.datetime(2026, 11, 25, 9, tzinfo=SYDNEY)


def test_the_leads_own_timezone_wins():
    # Monday 09:00 Sydney is Sunday 17:00 in New York: the New York lead waits for Monday
    moment = dt.datetime(2026, 11, 30, 9, tzinfo=SYDNEY)
    got = next_slot(moment, sydney_window(), "email", "America/New_York")
    assert got == dt.datetime(2026, 11, 30, 9, tzinfo=NEW_YORK)


def test_unknown_lead_timezone_falls_back_to_the_schedule():
    moment = dt.datetime(2026, 11, 30, 8, tzinfo=SYDNEY)
    assert next_slot(moment, sydney_window(), "email", "Mars/Olympus") == dt.datetime(
        2026, 11, 30, 9, tzinfo=SYDNEY)


def test_quiet_hours_narrow_sms_and_voice():
    window = sydney_window(workHours={"start": "07:00", "end": "22:00"})
    early = dt.datetime(2026, 11, 30, 7, 30, tzinfo=SYDNEY)
    assert next_slot(early, window, "email") == early
    assert next_slot(early, window, "sms") == dt.datetime(2026, 11, 30, 8, tzinfo=SYDNEY)
    late = dt.datetime(2026, 11, 30, 21, 30, tzinfo=SYDNEY)
    assert next_slot(late, window, "voice") == dt.datetime(2026, 12, 1, 8, tzinfo=SYDNEY)
    assert next_slot(late, window, "email") == late


def test_quiet_hours_in_the_recipients_time():
    # 10:00 Sydney is 18:00 the day before in New York: an SMS there is fine until 21:00
    window = Window(timezone="Australia/Sydney", start=0, end=24 * 60,
                    work_days=frozenset(range(1, 8)))
    moment = dt.datetime(2026, 11, 30, 14, tzinfo=SYDNEY)  # 22:00 in New York
    got = next_slot(moment, window, "sms", "America/New_York")
    assert got == dt.datetime(2026, 11, 30, 8, tzinfo=NEW_YORK)


def test_a_window_that_never_opens():
    window = sydney_window(workHours={"start": "21:00", "end": "23:00"})
    assert next_slot(utc(2026, 11, 24, 0, 0), window, "sms") is None
    assert Window(work_days=frozenset()).for_channel("email") == (540, 1020)
    assert next_slot(utc(2026, 11, 24), Window(work_days=frozenset()), "email") is None


def test_work_hours_until_midnight():
    window = Window(timezone="UTC", start=20 * 60, end=24 * 60,
                    work_days=frozenset(range(1, 8)))
    assert next_slot(utc(2026, 11, 24, 23, 30), window, "email") == utc(2026, 11, 24, 23, 30)
    assert next_slot(utc(2026, 11, 25, 0, 30), window, "email") == utc(2026, 11, 25, 20, 0)


def test_delay_days_keep_the_wall_clock_across_dst():
    # Sydney leaves daylight saving on 2027-04-04: 10:00 stays 10:00 local, not 09:00
    before = dt.datetime(2027, 4, 2, 10, tzinfo=SYDNEY)  # Friday, UTC+11
    after = add_days(before, 3, SYDNEY)
    assert after == dt.datetime(2027, 4, 5, 10, tzinfo=SYDNEY)  # Monday, UTC+10
    assert after - before == dt.timedelta(days=3, hours=1)


def test_spring_forward_gap_lands_after_the_gap():
    # New York skips 02:00-03:00 on 2027-03-14; a window opening at 02:30 opens at 03:30
    window = Window(timezone="America/New_York", start=150, end=600,
                    work_days=frozenset(range(1, 8)))
    got = next_slot(dt.datetime(2027, 3, 14, 0, 0, tzinfo=NEW_YORK), window, "email")
    assert got.astimezone(NEW_YORK).hour == 3
    assert got == utc(2027, 3, 14, 7, 30)


def test_due_at_adds_delay_then_finds_the_window():
    window = sydney_window()
    sent = dt.datetime(2026, 11, 26, 16, 30, tzinfo=SYDNEY)  # Thursday
    assert due_at(sent, 2, window, "email") == dt.datetime(2026, 11, 30, 9, tzinfo=SYDNEY)
    assert due_at(sent, 0, window, "email") == sent
    assert due_at(sent, 5, window, "email") == dt.datetime(2026, 12, 1, 16, 30, tzinfo=SYDNEY)


def test_day_bounds_and_next_day_start():
    start, end = day_bounds(utc(2026, 11, 24, 3, 0), "Australia/Sydney")
    assert start == dt.datetime(2026, 11, 24, 0, 0, tzinfo=SYDNEY)
    assert end - start == dt.timedelta(days=1)
    window = sydney_window()
    got = next_day_start(dt.datetime(2026, 11, 24, 10, tzinfo=SYDNEY), window, "email")
    assert got == dt.datetime(2026, 11, 25, 9, tzinfo=SYDNEY)


@pytest.mark.parametrize("channel", ["email", "sms", "voice", "linkedin"])
@given(moment=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2028, 1, 1),
                           timezones=st.just(UTC)),
       lead_tz=st.sampled_from([None, "America/New_York", "Europe/London", "Asia/Kolkata",
                                "Australia/Lord_Howe"]))
def test_every_slot_is_inside_the_window(channel: str, moment: dt.datetime,
                                         lead_tz: str | None):
    window = sydney_window(workHours={"start": "07:30", "end": "21:30"})
    got = next_slot(moment, window, channel, lead_tz)
    assert got is not None and got >= moment
    local = got.astimezone(ZoneInfo(lead_tz or "Australia/Sydney"))
    minutes = local.hour * 60 + local.minute
    start, end = window.for_channel(channel)
    assert start <= minutes < end or local.fold  # a repeated hour keeps its wall clock
    assert local.isoweekday() in window.work_days
    assert local.date() not in window.skip_dates
    # nothing earlier qualifies: the minute before is outside (or before `moment`)
    assert got == moment or next_slot(got - dt.timedelta(minutes=1), window, channel,
                                      lead_tz) == got
