"""Sending windows: when a due step may go out. Pure functions, no database.

A step is due ``delayDays`` after the previous one (same wall-clock time, counted in
the recipient's local calendar, so a DST change never shifts it by an hour), then moved
into the next sending window: the schedule's ``workHours`` on its ``workDays``, not on
its ``skipDates``, in the lead's own timezone when it is known (else the schedule's).
SMS and voice are further held to 08:00–21:00 recipient local time (quiet hours).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
QUIET_CHANNELS = frozenset({"sms", "voice"})
QUIET_START = 8 * 60  # 08:00, minutes after local midnight
QUIET_END = 21 * 60  # 21:00
_MAX_DAYS_AHEAD = 800  # a window that never opens within this is "no window"


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name``, or None when it is empty or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly sending window: minutes after local midnight, ISO weekdays, holidays."""

    timezone: str = "UTC"
    start: int = 9 * 60
    end: int = 17 * 60
    work_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    skip_dates: frozenset[dt.date] = frozenset()

    @classmethod
    def from_schedule(cls, schedule: dict[str, Any] | None) -> Window:
        """The window of a canonical Schedule spec (None: weekdays 09:00–17:00 UTC)."""
        if not schedule:
            return cls()
        hours = schedule.get("workHours") or {}
        skip = frozenset(dt.date.fromisoformat(str(d)) for d in schedule.get("skipDates") or ())
        return cls(
            timezone=schedule.get("timezone") or "UTC",
            start=_minutes(hours.get("start", "09:00")),
            end=_minutes(hours.get("end", "17:00")),
            work_days=frozenset(schedule.get("workDays") or (1, 2, 3, 4, 5)),
            skip_dates=skip,
        )

    def for_channel(self, channel: str) -> tuple[int, int]:
        """Opening minutes of the day for ``channel``: quiet hours narrow SMS and voice."""
        if channel in QUIET_CHANNELS:
            return max(self.start, QUIET_START), min(self.end, QUIET_END)
        return self.start, self.end

    def local_zone(self, lead_timezone: str | None) -> ZoneInfo:
        return zone(lead_timezone) or zone(self.timezone) or ZoneInfo("UTC")


def _at(day: dt.date, minutes: int, tz: ZoneInfo) -> dt.datetime:
    """Local wall-clock ``minutes`` after midnight of ``day`` as UTC (24:00 = next midnight).

    A wall-clock time that does not exist (spring-forward gap) lands just after the gap.
    """
    extra, minutes = divmod(minutes, 24 * 60)
    local = dt.datetime.combine(day + dt.timedelta(days=extra),
                                dt.time(minutes // 60, minutes % 60), tzinfo=tz)
    return local.astimezone(UTC)


def next_slot(earliest: dt.datetime, window: Window, channel: str,
              lead_timezone: str | None = None) -> dt.datetime | None:
    """The first instant at or after ``earliest`` inside the sending window (UTC).

    None when the window can never open (e.g. SMS with work hours outside 08:00–21:00).
    """
    tz = window.local_zone(lead_timezone)
    start, end = window.for_channel(channel)
    if start >= end or not window.work_days:
        return None
    earliest = earliest.astimezone(UTC)
    day = earliest.astimezone(tz).date()
    for _ in range(_MAX_DAYS_AHEAD):
        if day.isoweekday() in window.work_days and day not in window.skip_dates:
            opens, closes = _at(day, start, tz), _at(day, end, tz)
            candidate = max(opens, earliest)
            if candidate < closes:
                return candidate
        day += dt.timedelta(days=1)
    return None


def add_days(moment: dt.datetime, days: int, tz: ZoneInfo) -> dt.datetime:
    """``moment`` plus ``days`` local calendar days at the same wall-clock time (UTC out)."""
    local = moment.astimezone(tz)
    naive = local.replace(tzinfo=None) + dt.timedelta(days=days)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def due_at(previous: dt.datetime, delay_days: int, window: Window, channel: str,
           lead_timezone: str | None = None) -> dt.datetime | None:
    """When a step is due: ``previous`` + ``delay_days``, moved into the next window."""
    tz = window.local_zone(lead_timezone)
    return next_slot(add_days(previous, delay_days, tz), window, channel, lead_timezone)


def day_bounds(moment: dt.datetime, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    """The local day (in ``tz_name``) holding ``moment``, as a UTC half-open interval."""
    tz = zone(tz_name) or ZoneInfo("UTC")
    day = moment.astimezone(tz).date()
    return _at(day, 0, tz), _at(day + dt.timedelta(days=1), 0, tz)


def next_day_start(moment: dt.datetime, window: Window, channel: str,
                   lead_timezone: str | None = None) -> dt.datetime | None:
    """The first window opening on a later local day than ``moment`` (for deferrals)."""
    _, end_of_day = day_bounds(moment, window.timezone)
    return next_slot(end_of_day, window, channel, lead_timezone)
