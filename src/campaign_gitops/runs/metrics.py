"""Campaign metrics, recomputed from the facts (enrollments, messages, replies).

total_leads: leads enrolled by the campaign's runs; leads_contacted: leads with at
least one delivered message; leads_replied / leads_converted: leads with a reply /
conversion for the campaign; reply_rate and conversion_rate are shares of the leads
contacted. Test runs count in none of them.

The reply rate has ONE definition, ``reply_rate`` below: leads who replied / leads
contacted (a lead counts once however many messages it got or replies it sent); no rate
("-") before anyone was contacted. The run page, ``status``, ``runs show``, the campaigns
table and pane all use it (a run's rate: its own leads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, distinct, func, select, update
from sqlalchemy.orm import Session

from campaign_gitops.state.tables import Campaign, CampaignRun, Enrollment, Message, Reply

campaigns = cast(Table, Campaign.__table__)
runs = cast(Table, CampaignRun.__table__)
enrollments = cast(Table, Enrollment.__table__)
messages = cast(Table, Message.__table__)
replies = cast(Table, Reply.__table__)


def reply_rate(replied: int, contacted: int) -> float | None:
    """THE reply rate: leads replied / leads contacted (0-1); None when none contacted."""
    return round(replied / contacted, 4) if contacted else None


def percent(rate: float | None) -> str:
    """``25.0%``, or ``-`` when there is no rate (nobody contacted yet)."""
    return "-" if rate is None else f"{rate:.1%}"


def _real_runs(campaign_id: int):  # type: ignore[no-untyped-def]
    return select(runs.c.id).where(runs.c.campaign_id == campaign_id,
                                   runs.c.type != "test_run").scalar_subquery()


def _replied(session: Session, campaign_id: int, kind: str) -> int:
    query = select(func.count(distinct(replies.c.lead_id))).where(
        replies.c.campaign_id == campaign_id, replies.c.kind == kind,
        replies.c.lead_id.is_not(None),
        (replies.c.run_id.is_(None)) | (replies.c.run_id.in_(_real_runs(campaign_id))))
    return int(session.execute(query).scalar_one())


def update_metrics(session: Session, campaign_ids: Iterable[int], now: dt.datetime) -> None:
    for cid in sorted(set(campaign_ids)):
        total = session.execute(select(func.count(distinct(enrollments.c.lead_id))).where(
            enrollments.c.run_id.in_(_real_runs(cid)))).scalar_one()
        contacted = session.execute(select(func.count(distinct(messages.c.lead_id))).where(
            messages.c.campaign_id == cid, messages.c.status == "sent",
            messages.c.run_id.in_(_real_runs(cid)))).scalar_one()
        replied = _replied(session, cid, "reply")
        converted = _replied(session, cid, "converted")
        session.execute(update(campaigns).where(campaigns.c.resource_id == cid).values(
            total_leads=total, leads_contacted=contacted, leads_replied=replied,
            leads_converted=converted,
            reply_rate=reply_rate(replied, contacted) or 0.0,  # the column: 0 when none
            conversion_rate=round(converted / contacted, 4) if contacted else 0.0,
            updated_at=now))
