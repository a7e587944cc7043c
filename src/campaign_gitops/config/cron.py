"""Cron fire times in an IANA timezone, DST-safe. Pure functions, no database.

A Schedule's ``cron`` (five fields: minute hour day-of-month month day-of-week) is read
on the wall clock of its ``timezone``, the way cron on a machine in that zone would:

- a fire time that a spring-forward change skips (02:30 when clocks jump from 02:00 to
  03:00) fires at the change itself (03:00), once;
- a fire time that a fall-back change repeats (01:30 twice) fires once, at its first
  occurrence;
- elsewhere ``0 9 * * 1`` is 09:00 local on every Monday, whatever the UTC offset.

``next_fire`` and ``prev_fire`` return aware datetimes in the zone (so an ISO string
shows the local offset); None when the expression never fires (``0 0 30 2 *``).
croniter (with dateutil, ~25 ms) is imported on first use: ``lint`` of a repo whose
Schedules have no cron never needs it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = dt.UTC
_SEARCH = 1000  # candidates read past a DST change before giving up
_DST_REACH = dt.timedelta(hours=3)  # more than any clock change
_PROBE = dt.datetime(2001, 1, 1)  # a wall-clock base for the "does it ever fire" check


@lru_cache(maxsize=1024)
def cron_problem(expression: str) -> str | None:
    """What is wrong with a five-field cron expression, or None when it is usable."""
    if len(expression.split()) != 5:
        return "needs five fields"
    from croniter import croniter

    try:
        if not croniter.is_valid(expression):
            return "is not a valid cron expression"
        croniter(expression, _PROBE).get_next(dt.datetime)
    except Exception:  # croniter raises assorted errors on odd input and on dates that never come
        return "never fires"
    return None


def _instant(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant a wall-clock fire time of ``zone`` happens (see the module docstring)."""
    first = naive.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists (the first of the two when repeated)
    # Skipped by a spring-forward change: fire at the change. fold=1 reads the time with
    # the offset after the change (an instant before it), fold=0 with the offset before
    # (an instant after it); the change lies between, found to the second.
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first.astimezone(UTC)
    before = lo.astimezone(zone).utcoffset()
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi.astimezone(zone)


def _utc(moment: dt.datetime) -> dt.datetime:
    """In UTC; a naive time (a ``startAt`` without offset) is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def next_fire(expression: str, timezone: str, after: dt.datetime, *,
              inclusive: bool = False) -> dt.datetime | None:
    """The first fire strictly after ``after`` (at or after it with ``inclusive``)."""
    from croniter import croniter

    zone = ZoneInfo(timezone)
    local = _utc(after).astimezone(zone).replace(tzinfo=None, fold=0)
    base = local.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    try:
        candidates = croniter(expression, base)
        for _ in range(_SEARCH):
            moment = _instant(candidates.get_next(dt.datetime), zone)
            # compared in UTC: within one zone Python compares wall clocks, not instants
            if _utc(moment) > _utc(after) or (inclusive and _utc(moment) == _utc(after)):
                return moment
    except Exception:  # CroniterBadDateError: no such date ahead
        return None
    return None


def prev_fire(expression: str, timezone: str, at_or_before: dt.datetime) -> dt.datetime | None:
    """The latest fire at or before ``at_or_before``."""
    from croniter import croniter

    zone = ZoneInfo(timezone)
    local = _utc(at_or_before).astimezone(zone).replace(tzinfo=None, fold=0)
    # Wall-clock times up to a DST change later may still lie before it (a repeated
    # hour): walk back from past them; the first candidate at or before it is the latest.
    base = local.replace(second=0, microsecond=0) + _DST_REACH
    try:
        candidates = croniter(expression, base)
        for _ in range(_SEARCH):
            moment = _instant(candidates.get_prev(dt.datetime), zone)
            if _utc(moment) <= _utc(at_or_before):
                return moment
    except Exception:  # CroniterBadDateError: no such date behind
        return None
    return None


def first_fire(expression: str, timezone: str, start: dt.datetime | None,
               now: dt.datetime) -> dt.datetime | None:
    """The first fire of a recurring schedule: at or after its start (a run's ``at`` or
    the Schedule's ``startAt``) and not before ``now``."""
    return next_fire(expression, timezone, max(_utc(start or now), _utc(now)), inclusive=True)
