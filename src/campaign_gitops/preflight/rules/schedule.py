"""Rules on sending windows: valid schedules and quiet hours for SMS and voice."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.cron import cron_problem
from campaign_gitops.config.models import CampaignSpec, ScheduleSpec
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, always, rule

QUIET_END, QUIET_START = "08:00", "21:00"  # SMS and voice only between these
PHONE_CHANNELS = {"sms", "voice"}


# Files of a system's zoneinfo folder that are no IANA zone names.
_NOT_ZONES = {"localtime", "posixrules", "Factory"}


@lru_cache(maxsize=1024)
def valid_timezone(name: str) -> bool:
    """An IANA zone name that tzdata (or the system) knows."""
    if not name or name in _NOT_ZONES or name.startswith(("/", ".", "posix/", "right/")) \
            or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _timezone(name: str) -> Iterator[Hit]:
    if not valid_timezone(name):
        yield Hit(f"unknown timezone {name!r}", ("spec", "timezone"),
                  "use an IANA name such as Europe/Oslo or Australia/Sydney", value=True)


def _runs_without_start(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A declared schedule run needs a start: its own ``at``, the Schedule's ``startAt``
    or the Schedule's ``cron`` (a recurring run starts at its next fire)."""
    spec: CampaignSpec = entry.resource.spec
    waiting = [(i, run.name) for i, run in enumerate(spec.runs)
               if run.type == "schedule" and run.at is None]
    if not waiting:
        return
    schedule = ctx.get(entry.key.client, "Schedule", spec.schedule)
    if spec.schedule is not None and schedule is None:
        return  # PF008 says the schedule is missing or does not load
    if schedule is not None and (schedule.resource.spec.start_at is not None
                                 or schedule.resource.spec.cron is not None):
        return
    why = (f"schedule {spec.schedule!r} has no startAt or cron" if schedule is not None
           else "the campaign has no schedule with a startAt or cron")
    fix = (f"or startAt (or a cron, for recurring runs) to schedule {spec.schedule!r}"
           if schedule is not None else "or a schedule whose startAt or cron says when")
    for i, name in waiting:
        yield Hit(f"schedule run {name!r} has no 'at' and {why}: it has no time to start",
                  ("spec", "runs", i),
                  f"add at: 2026-12-01T09:00:00+11:00 (with a UTC offset) to the run, {fix}")


@rule("PF017", ("Schedule", "Client", "Campaign"), always(E),
      description="schedule: invalid timezone, workHours.start >= end, bad workDays, bad cron",
      by_kind={"Campaign": {"schedule": E}})
def invalid_schedule(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A Schedule has an IANA timezone, ``workHours.start`` before ``end``, ``workDays``
    that are ISO weekdays 1-7 (at least one, none twice) and, if set, a valid ``cron``
    (five fields, one that ever fires). A Client's ``timezone`` is checked too.

    A Campaign's declared runs of type ``schedule`` need a start time: the run's ``at``,
    its Schedule's ``startAt`` or, for a recurring run, its Schedule's ``cron`` (the
    next fire); a schedule run with none of them is an error in the
    ``schedule`` column only (so ``lint`` reports it when the campaign declares one and
    is not paused or completed, and a test run or run is not blocked by it)."""
    if entry.key.kind == "Campaign":
        yield from _runs_without_start(entry, ctx)
        return
    yield from _timezone(entry.resource.spec.timezone)
    if entry.key.kind != "Schedule":
        return
    spec: ScheduleSpec = entry.resource.spec
    hours = spec.work_hours
    if hours.start >= hours.end:
        yield Hit(f"workHours start {hours.start} is not before end {hours.end}",
                  ("spec", "workHours"), "the window is one day: start < end, e.g. 09:00-17:00")
    if not spec.work_days:
        yield Hit("workDays is empty: the schedule never sends", ("spec", "workDays"),
                  "list ISO weekdays, 1 (Monday) to 7 (Sunday)", value=True)
    seen: set[int] = set()
    for i, day in enumerate(spec.work_days):
        if not 1 <= day <= 7:
            yield Hit(f"workDays has {day}, not an ISO weekday", ("spec", "workDays", i),
                      "1 is Monday, 7 is Sunday", value=True)
        elif day in seen:
            yield Hit(f"workDays lists {day} twice", ("spec", "workDays", i),
                      "remove the duplicate", value=True)
        seen.add(day)
    problem = cron_problem(spec.cron) if spec.cron is not None else None
    if problem is not None:
        yield Hit(f"invalid cron expression {spec.cron!r}: {problem}", ("spec", "cron"),
                  "five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1",
                  value=True)


@rule("PF018", ("Campaign",), always(E),
      description="SMS or voice sending window outside 08:00-21:00 (quiet hours)")
def quiet_hours(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A campaign that sends SMS or voice (its channels or its steps') may only use a
    Schedule whose ``workHours`` lie within 08:00-21:00. Reported at the Schedule."""
    spec: CampaignSpec = entry.resource.spec
    schedule = ctx.get(entry.key.client, "Schedule", spec.schedule)
    if schedule is None:
        return  # no schedule: the default 09:00-17:00; or PF008
    hours = schedule.resource.spec.work_hours
    if hours.start >= QUIET_END and hours.end <= QUIET_START:
        return
    channels = set(spec.channels()) | {s.channel for s in ctx.steps(entry)}
    if not channels & PHONE_CHANNELS:
        return
    name = schedule.key.name
    if hours.start < QUIET_END:
        yield Hit(f"schedule {name!r} sends SMS/voice from {hours.start}, before quiet hours "
                  f"end at {QUIET_END} (recipient's local time)",
                  ("spec", "workHours", "start"), f"start at {QUIET_END} or later, or use "
                  "another schedule for SMS and voice campaigns", value=True, entry=schedule)
    if hours.end > QUIET_START:
        yield Hit(f"schedule {name!r} sends SMS/voice until {hours.end}, after quiet hours "
                  f"begin at {QUIET_START} (recipient's local time)",
                  ("spec", "workHours", "end"), f"end at {QUIET_START} or earlier, or use "
                  "another schedule for SMS and voice campaigns", value=True, entry=schedule)
