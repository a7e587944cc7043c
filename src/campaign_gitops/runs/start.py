"""Starting a run: freeze its audience and enrol it in the pinned sequence.

``apply`` inserts the CampaignRun row (with the resolved ``config`` snapshot) and calls
``start_run`` in the same transaction; ``tick`` calls ``launch`` for scheduled runs
that have come due, so both take the same path.

- ``run``: allocate the audience now (exclusive, best first) and enrol every lead,
  its first step due in the first sending window.
- ``schedule``: stays ``scheduled`` until its ``at`` (or the schedule's ``startAt``).
- ``test_run``: enrol a sample of the segment's matching leads (default 5) without
  taking them from the pool, or fixed sample data when nothing matches; delivered
  only to ``testRecipients``, at once, outside every window, limit and metric.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from campaign_gitops.runs.allocation import allocate_for_run, matching_ids
from campaign_gitops.runs.calendar import Window, due_at
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


def start_run(session: Session, run: CampaignRun, *, now: dt.datetime) -> None:
    """Start ``run`` (just inserted by apply) or, for a schedule, set when it starts."""
    if run.type == "schedule":
        run.status = "scheduled"
        if run.scheduled_for is None:
            run.scheduled_for = scheduled_time(run.config, run.name) or now
        return
    launch(session, run, now=now)


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
    table = Enrollment.__table__
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(insert(table), rows[start:start + _INSERT_CHUNK])
