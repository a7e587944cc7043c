"""The daily limits and the client's credits: how many messages may still go out.

The daily limit is the campaign's (``dailyLimit``, else its schedule's), counted per
local day of the schedule's timezone over every non-test run of the campaign, and
split across channels by the campaign's ``allocation`` when set. Credits: one per
delivered message, reserved when a message is queued (refunded if it fails for good).
Test runs count against neither.

``Budget`` is loaded under lock (``FOR UPDATE`` on the campaign and client rows on
PostgreSQL; SQLite's transaction already holds the write lock), so two ticks never
both spend the last slot.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from campaign_gitops.runs.calendar import day_bounds
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
clients = cast(Table, Client.__table__)
campaigns = cast(Table, Campaign.__table__)
# Messages that used a slot of the day.
COUNTED = ("queued", "sending", "sent", "unknown", "failed")


@dataclass
class Budget:
    """What is left today for the campaigns and clients of one batch (mutable, one txn)."""

    used: Counter[tuple[int, str]] = field(default_factory=Counter)  # (campaign, channel)
    used_total: Counter[int] = field(default_factory=Counter)
    credits: dict[str, int] = field(default_factory=dict)
    charged: Counter[str] = field(default_factory=Counter)

    def admit(self, plan: RunPlan, channel: str) -> str | None:
        """Take one slot for ``channel`` of ``plan``; why not when it cannot."""
        room, refused = self.room(plan, channel)
        if room <= 0:
            return refused
        self.take(plan, channel, 1)
        return None

    def room(self, plan: RunPlan, channel: str) -> tuple[int, str | None]:
        """How many ``channel`` messages of ``plan`` may still go (test runs: no bound),
        and why no more than that: ``daily_limit`` or ``credits``. Pure, shared with the
        forecast (``reconcile/forecast.py``) so the two cannot count differently."""
        if plan.is_test:
            return 1 << 62, None
        cid = plan.campaign_id
        limit = min(plan.daily_limit - self.used_total[cid],
                    plan.channel_limit(channel) - self.used[(cid, channel)])
        if limit <= 0:
            return 0, "daily_limit"
        credits = self.credits.get(plan.client, 0) - self.charged[plan.client]
        if credits <= 0:
            return 0, "credits"
        return (limit, "daily_limit") if limit < credits else (credits, "credits")

    def take(self, plan: RunPlan, channel: str, count: int) -> None:
        """Spend ``count`` slots (and credits) that ``room`` allowed."""
        if plan.is_test or count <= 0:
            return
        self.used_total[plan.campaign_id] += count
        self.used[(plan.campaign_id, channel)] += count
        self.charged[plan.client] += count


def load_budget(session: Session, plans: list[RunPlan], now: dt.datetime, *,
                lock: bool) -> Budget:
    """Today's usage of every campaign and the credits of every client in ``plans``."""
    budget = Budget()
    real = [p for p in plans if not p.is_test]
    if not real:
        return budget
    campaign_ids = sorted({p.campaign_id for p in real})
    client_names = sorted({p.client for p in real})
    if lock:
        session.execute(select(campaigns.c.resource_id).where(
            campaigns.c.resource_id.in_(campaign_ids)).order_by(campaigns.c.resource_id)
            .with_for_update())
    credits = select(clients.c.name, clients.c.credits).where(clients.c.name.in_(client_names))
    if lock:
        credits = credits.order_by(clients.c.name).with_for_update()
    budget.credits = {name: int(value) for name, value in session.execute(credits)}
    seen: set[int] = set()
    for plan in real:
        if plan.campaign_id in seen:
            continue
        seen.add(plan.campaign_id)
        start, end = day_bounds(now, plan.window.timezone)
        query = (select(messages.c.channel, func.count())
                 .join(runs, runs.c.id == messages.c.run_id)
                 .where(messages.c.campaign_id == plan.campaign_id,
                        runs.c.type != "test_run",
                        messages.c.status.in_(COUNTED),
                        messages.c.scheduled_for >= start, messages.c.scheduled_for < end)
                 .group_by(messages.c.channel))
        for channel, count in session.execute(query):
            budget.used[(plan.campaign_id, channel)] += count
            budget.used_total[plan.campaign_id] += count
    return budget


def charge(session: Session, budget: Budget) -> None:
    """Spend the credits the admitted messages reserved."""
    for client, count in budget.charged.items():
        if count:
            session.execute(update(clients).where(clients.c.name == client)
                            .values(credits=clients.c.credits - count))


def refund(session: Session, per_client: Counter[str]) -> None:
    for client, count in per_client.items():
        if count:
            session.execute(update(clients).where(clients.c.name == client)
                            .values(credits=clients.c.credits + count))
