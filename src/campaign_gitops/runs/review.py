"""The human reviewer's decisions on messages waiting as ``pending_review``.

The queue itself is ``state.listings.review_queue`` (``review list`` and the web UI's
review page read it).

``approve`` moves a message to ``approved`` (the next tick delivers it, within the
daily limits and credits) and its enrollment on to the next step; ``reject`` records
the reason, delivers nothing, and moves the enrollment on too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from campaign_gitops.runs.decisions import Decided, locked
from campaign_gitops.runs.enrollments import advance_values
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.state.listings import review_queue
from campaign_gitops.state.tables import CampaignRun, Enrollment, Lead, Message

messages = cast(Table, Message.__table__)
enrollments = cast(Table, Enrollment.__table__)
runs = cast(Table, CampaignRun.__table__)
leads = cast(Table, Lead.__table__)


def pending(session: Session, campaign_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The whole queue (of these campaigns), for ``review list``."""
    return [{k: v for k, v in row.items() if k != "run_id"}
            for row in review_queue(session, campaign_ids=campaign_ids)]


def decide(session: Session, ids: list[int], *, approve: bool, now: dt.datetime,
           reason: str = "") -> list[Decided]:
    """Approve or reject pending messages; one result per id, in order."""
    return [_decide_one(session, mid, approve, now, reason) for mid in ids]


def _decide_one(session: Session, message_id: int, approve: bool, now: dt.datetime,
                reason: str) -> Decided:
    row = locked(session, select(
        messages.c.status, messages.c.enrollment_id, messages.c.step_index,
        runs.c.id.label("run_id"), runs.c.name, runs.c.type, runs.c.campaign_id,
        runs.c.config, leads.c.timezone)
        .join(runs, runs.c.id == messages.c.run_id)
        .outerjoin(leads, leads.c.id == messages.c.lead_id), message_id, "pending_review")
    if isinstance(row, Decided):
        return row
    status = "approved" if approve else "rejected"
    why = reason or ("approved by a reviewer" if approve else "rejected by a reviewer")
    session.execute(update(messages).where(messages.c.id == message_id).values(
        status=status, status_reason=why, updated_at=now))
    plan = RunPlan.from_config(row.run_id, row.name, row.type, row.campaign_id, row.config)
    state = session.execute(select(enrollments.c.state, enrollments.c.next_step).where(
        enrollments.c.id == row.enrollment_id)).one()
    if state.state == "active" and state.next_step == row.step_index:
        session.execute(update(enrollments).where(enrollments.c.id == row.enrollment_id)
                        .values(updated_at=now, **advance_values(
                            plan, row.step_index, now, row.timezone)))
    return Decided(message_id, status, why)
