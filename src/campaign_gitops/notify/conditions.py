"""What in the database is worth telling people about, as (event -> subject -> message).

Read after each tick by the notifier's thread; the notifier compares with the previous
read, so a condition is told once when it appears and once (``recovered``) when it
goes. Subjects: ``client/campaign/run`` for runs, the client's name otherwise,
``global`` for the global halt.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from campaign_gitops.state import kv, tables as t
from campaign_gitops.state.db import Database

CREDITS_LOW = 100  # a client at or below this many credits is told about (credits-low)
DB_EVENTS = ("run-paused", "halted", "credits-low", "review-waiting", "message-unknown")


def scan(db: Database, credits_low: int = CREDITS_LOW) -> dict[str, dict[str, str]]:
    """Every active database condition; each event present (empty: nothing active)."""
    out: dict[str, dict[str, str]] = {event: {} for event in DB_EVENTS}
    with db.reading() as session:
        runs = session.execute(
            select(t.Resource.client, t.Resource.name, t.CampaignRun.name,
                   t.CampaignRun.status_reason)
            .join(t.Resource, t.Resource.id == t.CampaignRun.campaign_id)
            .where(t.CampaignRun.status == "paused")).all()
        for client, campaign, run, reason in runs:
            out["run-paused"][f"{client}/{campaign}/{run}"] = \
                f"run {client}/{campaign}/{run} paused: {reason or 'no reason given'}"
        halt = kv.global_halt(session)
        if halt is not None:
            out["halted"]["global"] = f"delivery halted: {halt.get('reason') or 'no reason'}"
        clients = session.execute(select(t.Client.name, t.Client.halted, t.Client.credits)
                                  .where(t.Client.deleted_at.is_(None))).all()
        for name, halted, credits in clients:
            if halted:
                out["halted"][name] = f"client {name} is halted"
            if credits <= credits_low:
                out["credits-low"][name] = f"client {name} has {credits} credits left"
        waiting: dict[str, dict[str, int]] = defaultdict(dict)
        for client, status, count in session.execute(
                select(t.Message.client, t.Message.status, func.count())
                .where(t.Message.status.in_(("pending_review", "unknown")))
                .group_by(t.Message.client, t.Message.status)).all():
            waiting[status][client] = count
        for client, count in waiting["pending_review"].items():
            out["review-waiting"][client] = f"{count} message(s) of {client} wait for review"
        for client, count in waiting["unknown"].items():
            out["message-unknown"][client] = (
                f"{count} message(s) of {client} in an unknown delivery state: check the "
                "provider before settling them")
    return out
