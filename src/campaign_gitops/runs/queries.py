"""Read-only views of what runs did, for the CLI: ``show_run``, ``campaign_metrics``,
and the lookups of a ``--run`` / ``--campaign`` argument (``find_run``,
``check_campaign``). Lists (runs, messages, replies) are the keyset pages of
state/listings.py, which the web UI reads too; a run row is built in state/run_rows.py.

A recurring schedule (runs/start.py) shows as its series, with ``recurring`` (cron and
timezone) and ``next_run_at`` (the next fire, in the schedule's timezone), and its
occurrences, each with ``series`` naming the series.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state.listings import run_steps
from campaign_gitops.state.queries import campaign_named
from campaign_gitops.state.run_rows import run_rows, runs_query
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRun,
    Enrollment,
    Message,
    Resource,
)

runs = CampaignRun.__table__
resources = Resource.__table__
campaigns = Campaign.__table__
enrollments = Enrollment.__table__
messages = Message.__table__


def check_campaign(session: Session, name: str) -> None:
    """Refuse a ``--campaign`` filter naming no campaign (exit 2, like status/history),
    rather than an empty listing that reads as "nothing happened"."""
    found = session.execute(select(resources.c.id).where(campaign_named(name)).limit(1)).first()
    if found is None:
        form = "a campaign is NAME or CLIENT/NAME; " if name.count("/") > 1 else ""
        raise CampaignGitopsError(f"no campaign {name!r} in the database",
                                  f"{form}`campaign-gitops status` lists them")


def find_run(session: Session, ref: str) -> int:
    """A run id from ``ID``, ``run``, ``campaign/run`` or ``client/campaign/run``."""
    if ref.isdigit():
        if session.execute(select(runs.c.id).where(runs.c.id == int(ref))).first():
            return int(ref)
        raise CampaignGitopsError(f"no run with id {ref}")
    parts = ref.split("/")
    query = select(runs.c.id).join(resources, resources.c.id == runs.c.campaign_id).where(
        runs.c.name == parts[-1])
    if len(parts) >= 2:
        query = query.where(resources.c.name == parts[-2])
    if len(parts) >= 3:
        query = query.where(resources.c.client == parts[-3])
    found = list(session.execute(query).scalars())
    if not found:
        raise CampaignGitopsError(f"no run {ref!r}", hint="name it as client/campaign/run "
                                  "or by id (see `campaign-gitops runs`)")
    if len(found) > 1:
        raise CampaignGitopsError(f"{ref!r} names {len(found)} runs",
                                  hint="name it as client/campaign/run or by id")
    return found[0]


def _counts(session: Session, column: Any, run_id: int, table: Any) -> dict[str, int]:
    query = select(column, func.count()).where(table.c.run_id == run_id).group_by(column)
    return {str(k): int(v) for k, v in session.execute(query)}


def show_run(session: Session, run_id: int) -> dict[str, Any]:
    """One run: what it is pinned to, its enrollments by state, its messages by status."""
    (row,) = run_rows(session, runs_query().where(runs.c.id == run_id))
    by_channel: dict[str, dict[str, int]] = {}
    query = (select(messages.c.channel, messages.c.status, func.count())
             .where(messages.c.run_id == run_id)
             .group_by(messages.c.channel, messages.c.status))
    for channel, status, count in session.execute(query):
        by_channel.setdefault(channel, {})[status] = int(count)
    metrics = campaign_metrics(session, f"{row['client']}/{row['campaign']}")
    occurrences = [{k: r[k] for k in ("id", "name", "status", "scheduled_for", "started_at",
                                      "finished_at")}
                   for r in run_rows(session, runs_query().where(runs.c.series_id == run_id)
                                     .order_by(runs.c.id))]
    return {**row, "occurrences": occurrences,
            "metrics": {k: v for k, v in metrics[0].items()
                        if k not in ("client", "name", "status")} if metrics else None,
            "enrollments": _counts(session, enrollments.c.state, run_id, enrollments),
            "messages": _counts(session, messages.c.status, run_id, messages),
            "messages_by_channel": by_channel, "steps": run_steps(session, run_id)}


def campaign_metrics(session: Session, campaign: str | None = None) -> list[dict[str, Any]]:
    """The campaigns' metrics (see runs/metrics.py): total_leads, leads_contacted,
    leads_replied, leads_converted, reply_rate and conversion_rate (shares, 0-1)."""
    query = (select(resources.c.client, resources.c.name, campaigns.c.status,
                    campaigns.c.total_leads, campaigns.c.leads_contacted,
                    campaigns.c.leads_replied, campaigns.c.leads_converted,
                    campaigns.c.reply_rate, campaigns.c.conversion_rate)
             .join(resources, resources.c.id == campaigns.c.resource_id)
             .order_by(resources.c.client, resources.c.name))
    if campaign:
        query = query.where(campaign_named(campaign))
    return [dict(r) for r in session.execute(query).mappings()]


def earliest_due(session: Session) -> tuple[Any, int]:
    """(when, how many): the earliest step any active enrollment waits for, and how many
    wait for that moment; (None, 0) when none waits. Says why a tick found nothing."""
    first = session.execute(select(func.min(Enrollment.next_due_at)).where(
        Enrollment.state == "active", Enrollment.next_due_at.is_not(None))).scalar()
    if first is None:
        return None, 0
    count = session.execute(select(func.count()).where(
        Enrollment.state == "active", Enrollment.next_due_at == first)).scalar_one()
    return first, int(count)
