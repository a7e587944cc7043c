"""Starting a run: freeze its audience and enrol it in the pinned sequence.

``apply`` inserts the CampaignRun row (with the resolved ``config`` snapshot) and calls
``start_run`` in the same transaction; ``tick`` calls ``launch`` for scheduled runs
that have come due, so both take the same path.

- ``run``: allocate the audience now (exclusive, best first) and enrol every lead,
  its first step due in the first sending window.
- ``schedule``: stays ``scheduled`` until its ``at`` (or the schedule's ``startAt``).
  When the Schedule has a ``cron`` the run is a recurring *series*: it stays
  ``scheduled``, ``scheduled_for`` its next fire (in the schedule's timezone, at or
  after the ``at``/``startAt`` and the apply), and at each fire tick starts one
  *occurrence* (``start_occurrence``): a run named ``<series>-<YYYYMMDD-HHMM>``, pinned
  to the series' revision and config, that allocates and enrols like a ``run``. Fires
  missed while nothing ticked (or the campaign was paused) start one occurrence, not
  a burst.
- ``test_run``: enrol a sample of the segment's matching leads (default 5) without
  taking them from the pool, or fixed sample data when nothing matches; delivered
  only to ``testRecipients``, at once, outside every window, limit and metric.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_gitops.config.cron import cron_problem, first_fire, next_fire, prev_fire
from campaign_gitops.runs.allocation import allocate_for_run, matching_ids
from campaign_gitops.runs.calendar import Window, due_at, zone
from campaign_gitops.state.db import rowcount
from campaign_gitops.state.tables import CampaignRun, Enrollment

TEST_SAMPLE_SIZE = 5
SAMPLE_LEAD: dict[str, Any] = {
    "email": "alex.sample@example.com",
    "phone": "+15555550100",
    "linkedin_url": "https://www.linkedin.com/in/alex-sample",
    "first_name": "Alex",
    "last_name": "Sample",
    "title": "Head of Operations",
    "seniority": "head",
    "company": "Example Industries",
    "company_industry": "software",
    "company_country": "US",
    "company_employee_count": 120,
    "company_technologies": ["salesforce"],
    "timezone": None,
}
_INSERT_CHUNK = 5000
_NAME_MAX = 63  # a run name is a resource name: ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$


def start_run(session: Session, run: CampaignRun, *, now: dt.datetime) -> None:
    """Start ``run`` (just inserted by apply) or, for a schedule, set when it starts."""
    if run.type == "schedule":
        run.status = "scheduled"
        recurring = recurrence(run.config)
        if recurring is not None:
            cron, timezone = recurring
            run.cron = cron
            run.scheduled_for = first_fire(cron, timezone,
                                           scheduled_time(run.config, run.name), now)
            if run.scheduled_for is None:
                _end_series(run, now, f"cron {cron!r} never fires")
            return
        if run.scheduled_for is None:
            run.scheduled_for = scheduled_time(run.config, run.name) or now
        return
    launch(session, run, now=now)


def recurrence(config: dict[str, Any]) -> tuple[str, str] | None:
    """(cron, timezone) when the pinned Schedule of ``config`` has a usable ``cron``."""
    schedule = config.get("schedule") or {}
    cron = schedule.get("cron")
    timezone = schedule.get("timezone") or "UTC"
    if not cron or cron_problem(cron) is not None or zone(timezone) is None:
        return None
    return str(cron), str(timezone)


def occurrence_name(series: str, fire: dt.datetime, timezone: str) -> str:
    """``<series>-<YYYYMMDD-HHMM>`` of the fire in the schedule's timezone, the series
    part cut so the name stays a valid resource name (63 characters at most)."""
    suffix = "-" + fire.astimezone(zone(timezone)).strftime("%Y%m%d-%H%M")
    return series[:_NAME_MAX - len(suffix)].rstrip("-") + suffix


@dataclass(frozen=True, slots=True)
class Occurrence:
    """What ``start_occurrence`` did: the run it started (None when a run of that name
    already existed), the fire it stands for, the earliest fire it coalesced (None
    when it is the only one) and the series' next fire (None: the series ended)."""

    name: str
    fire: dt.datetime
    run: CampaignRun | None
    leads: int
    coalesced_since: dt.datetime | None
    next_fire: dt.datetime | None


def start_occurrence(session: Session, series: CampaignRun, *, now: dt.datetime) -> Occurrence:
    """Start one occurrence of a due series and move the series to its next fire.

    The occurrence stands for the latest fire at or before ``now``: fires missed since
    the series' ``scheduled_for`` coalesce into it. The unique (campaign, name) of runs
    makes a second start of the same fire a no-op (the caller holds the series row).
    """
    recurring = recurrence(series.config)
    assert recurring is not None and series.scheduled_for is not None
    cron, timezone = recurring
    due = series.scheduled_for
    fire = max(prev_fire(cron, timezone, now) or due, due)
    name = occurrence_name(series.name, fire, timezone)
    run: CampaignRun | None = CampaignRun(
        campaign_id=series.campaign_id, name=name, type=series.type, status="running",
        revision_id=series.revision_id, config=series.config, config_hash=series.config_hash,
        git_commit=series.git_commit, scheduled_for=fire, started_at=now, created_at=now,
        series_id=series.id)
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        run = None
    leads = launch(session, run, now=now) if run is not None else 0
    following = next_fire(cron, timezone, now)
    series.scheduled_for = following
    if following is None:
        _end_series(series, now, f"cron {cron!r} fires no more")
    return Occurrence(name=name, fire=fire, run=run, leads=leads,
                      coalesced_since=due.astimezone(zone(timezone)) if due < fire else None,
                      next_fire=following)


def _end_series(run: CampaignRun, now: dt.datetime, reason: str) -> None:
    run.status = "completed"
    run.finished_at = now
    run.status_reason = reason


def scheduled_time(config: dict[str, Any], run_name: str) -> dt.datetime | None:
    """The declared ``at`` of the run, else the schedule's ``startAt``."""
    for decl in config["campaign"]["spec"].get("runs") or ():
        if decl.get("name") == run_name and decl.get("at"):
            return _parse_time(decl["at"])
    start = (config.get("schedule") or {}).get("startAt")
    return _parse_time(start) if start else None


def _parse_time(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def launch(session: Session, run: CampaignRun, *, now: dt.datetime) -> int:
    """Enrol the run's audience and mark it running; the number of enrollments."""
    config = run.config
    steps = config.get("steps") or []
    if run.type == "test_run":
        count = _enrol_test_sample(session, run, now=now)
    else:
        audience = allocate_for_run(session, config, now=now)
        count = _enrol(session, run, audience, steps, now=now)
    run.status = "running" if steps and count else "completed"
    run.started_at = now
    if run.status == "completed":
        run.finished_at = now
        run.status_reason = "no steps to walk" if not steps else "no matching leads in the pool"
    return count


def _enrol(session: Session, run: CampaignRun, audience: list[tuple[int, str | None]],
           steps: list[dict[str, Any]], *, now: dt.datetime) -> int:
    if not steps or not audience:
        return 0
    window = Window.from_schedule(run.config.get("schedule"))
    first = steps[0]
    due_by_tz: dict[str | None, dt.datetime | None] = {}
    rows: list[dict[str, Any]] = []
    for lead_id, tz in audience:
        if tz not in due_by_tz:
            due_by_tz[tz] = due_at(now, int(first.get("delayDays") or 0), window,
                                   first["channel"], tz)
        rows.append({"run_id": run.id, "lead_id": lead_id, "state": "active", "next_step": 0,
                     "next_due_at": due_by_tz[tz], "created_at": now, "updated_at": now})
    _insert(session, rows)
    return len(rows)


def _enrol_test_sample(session: Session, run: CampaignRun, *, now: dt.datetime) -> int:
    config = run.config
    if not config.get("steps"):
        return 0
    sample = matching_ids(session, config.get("segment"), config["campaign"]["client"],
                          TEST_SAMPLE_SIZE) if config.get("segment") else []
    base = {"run_id": run.id, "state": "active", "next_step": 0, "next_due_at": now,
            "created_at": now, "updated_at": now}
    if sample:
        rows = [{**base, "lead_id": lead_id, "sample": None} for lead_id, _tz in sample]
    else:
        rows = [{**base, "lead_id": None, "sample": dict(SAMPLE_LEAD)}]
    _insert(session, rows)
    return len(rows)


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    table = cast(Table, Enrollment.__table__)
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(insert(table), rows[start:start + _INSERT_CHUNK])


def resume_run(session: Session, run_id: int) -> bool:
    """Resume a run that paused itself (``runs resume``): paused -> running, reason
    'resumed'. False when the run is not paused (nothing changed)."""
    done = session.execute(update(CampaignRun).where(
        CampaignRun.id == run_id, CampaignRun.status == "paused").values(
        status="running", status_reason="resumed"))
    return bool(rowcount(done))
