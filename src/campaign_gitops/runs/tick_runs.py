"""What a tick does to runs as a whole, before and after it walks their steps.

Before: a note per halted client, finish the runs (and enrollments) of completed
campaigns, start the scheduled runs that came due (a due recurring series starts one
occurrence and moves on to its next fire; no run starts inside a freeze window).
After (``wrap_up``): clear a stale "no credits" reason, complete the runs with nothing
left to walk or deliver, hand their leads back to the pool, update campaign metrics.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from campaign_gitops.config.project import is_frozen
from campaign_gitops.runs import bulk
from campaign_gitops.runs.allocation import release_leads
from campaign_gitops.runs.metrics import update_metrics
from campaign_gitops.runs.start import launch, start_occurrence
from campaign_gitops.runs.tick_state import TickState
from campaign_gitops.state.db import rowcount
from campaign_gitops.state.tables import (
    ApplyLog,
    Campaign,
    CampaignRun,
    Client,
    Enrollment,
    Message,
)

enrollments = cast(Table, Enrollment.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
clients = cast(Table, Client.__table__)
messages = cast(Table, Message.__table__)
apply_log = cast(Table, ApplyLog.__table__)


def client_halts(session: Session) -> list[str]:
    """A note per halted client (with the ``halt --reason``): its delivery waits."""
    notes = []
    for name in session.execute(select(clients.c.name).where(
            clients.c.halted.is_(True), clients.c.deleted_at.is_(None))
            .order_by(clients.c.name)).scalars():
        detail = session.execute(select(apply_log.c.detail).where(
            apply_log.c.action == "halt", apply_log.c.resource == f"{name}/Client/{name}")
            .order_by(apply_log.c.serial.desc()).limit(1)).scalar()
        reason = (detail or {}).get("reason")
        notes.append(f"delivery for client {name} is halted" + (f": {reason}" if reason else "")
                     + f" (campaign-gitops resume --client {name})")
    return notes


def finish_completed_campaigns(state: TickState) -> None:
    """A completed campaign finishes its enrollments and its runs."""
    with state.db.session() as session:
        done = select(campaigns.c.resource_id).where(campaigns.c.status == "completed")
        open_runs = select(runs.c.id).where(runs.c.campaign_id.in_(done),
                                            runs.c.status.in_(("running", "paused",
                                                               "scheduled")))
        session.execute(update(enrollments).where(
            enrollments.c.state == "active", enrollments.c.run_id.in_(open_runs.scalar_subquery()))
            .values(state="finished", next_due_at=None, updated_at=state.now))
        closing = list(session.execute(open_runs).scalars())
        if not closing:
            return
        session.execute(update(runs).where(runs.c.id.in_(closing)).values(
            status="completed", finished_at=state.now, status_reason="campaign completed"))
        release_leads(session, closing + _occurrences(session, closing), now=state.now)


def _occurrences(session: Session, series_ids: list[int]) -> list[int]:
    """The occurrences of these recurring series (finished ones too)."""
    return list(session.execute(select(runs.c.id).where(
        bulk.one_of(session, runs.c.series_id, series_ids))).scalars())


def _releasable(session: Session, run_ids: list[int]) -> list[int]:
    """The finished runs whose leads go back to the pool now: an occurrence of a recurring
    series keeps them while its series goes on (so the next occurrences take fresh leads,
    not the ones already walked) and hands them back when the series ends."""
    if not run_ids:
        return []
    series = runs.alias("series")
    held = set(session.execute(
        select(runs.c.id).join(series, series.c.id == runs.c.series_id)
        .where(bulk.one_of(session, runs.c.id, run_ids), series.c.status == "scheduled"))
        .scalars())
    return [run_id for run_id in run_ids if run_id not in held]


def start_due_runs(state: TickState) -> None:
    window = is_frozen(state.config, state.now)
    if window is not None:  # a freeze window starts no run: scheduled runs wait for its end
        state.notes.append(f"scheduled runs wait: inside freeze window {window.name!r}")
        return
    with state.db.session() as session:
        query = (select(CampaignRun)
                 .join(Campaign, Campaign.resource_id == CampaignRun.campaign_id)
                 .where(CampaignRun.status == "scheduled", CampaignRun.scheduled_for <= state.now,
                        Campaign.status == "active")
                 .order_by(CampaignRun.scheduled_for, CampaignRun.id))
        if state.db.is_postgres:
            query = query.with_for_update(skip_locked=True, of=CampaignRun)
        for run in session.execute(query).scalars().all():
            where = f"{run.config['campaign']['client']}/{run.config['campaign']['name']}"
            state.touched_campaigns.add(run.campaign_id)
            if run.cron is not None and run.series_id is None:
                _start_occurrence(state, session, run, where)
                continue
            count = launch(session, run, now=state.now)
            state.started.append(f"{where}/{run.name} ({count} leads)")


def _start_occurrence(state: TickState, session: Session, series: CampaignRun,
                      where: str) -> None:
    """One occurrence of a due recurring series; the series waits for its next fire."""
    done = start_occurrence(session, series, now=state.now)
    if done.run is not None:
        state.started.append(f"{where}/{done.name} ({done.leads} leads)")
        what = f"started {done.name} for the fire at {done.fire.isoformat()}"
    else:
        what = f"run {done.name} exists already, not started again"
    if done.coalesced_since is not None:
        what += f" (fires since {done.coalesced_since.isoformat()} coalesced into it)"
    after = f"next at {done.next_fire.isoformat()}" if done.next_fire is not None else ""
    if done.next_fire is None:  # the series ended: its finished occurrences' leads go back
        after = "its cron fires no more: the series ended"
        release_leads(session, _occurrences(session, [series.id]), now=state.now)
    state.notes.append(f"series {where}/{series.name}: {what}; {after}")


def wrap_up(state: TickState) -> None:
    with state.db.session() as session:
        delivered = sorted(set(state.sent_runs) - state.blocked_runs)
        if delivered:  # credits came back: the stop reason is history
            session.execute(update(runs).where(
                runs.c.id.in_(delivered),
                runs.c.status_reason.like("delivery stopped:%")).values(status_reason=None))
        done = [run_id for run_id in sorted(state.plans)
                if _complete_if_done(session, run_id, state.now)]
        release_leads(session, _releasable(session, done), now=state.now)
        if state.touched_campaigns:
            update_metrics(session, state.touched_campaigns, state.now)


def _complete_if_done(session: Session, run_id: int, now: dt.datetime) -> bool:
    """Mark a running run completed when nothing is left to walk or deliver."""
    active = session.execute(select(enrollments.c.id).where(
        enrollments.c.run_id == run_id, enrollments.c.state == "active").limit(1)).first()
    if active:
        return False
    waiting = session.execute(select(messages.c.id).where(
        messages.c.run_id == run_id,
        or_(messages.c.status.in_(("pending_review", "approved", "queued", "sending",
                                    "unknown")),
            and_(messages.c.status == "failed", messages.c.next_attempt_at.is_not(None))))
        .limit(1)).first()
    if waiting:
        return False
    done = session.execute(update(runs).where(runs.c.id == run_id, runs.c.status == "running")
                           .values(status="completed", finished_at=now))
    return bool(rowcount(done))
