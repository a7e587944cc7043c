"""Read-only views of what runs did, shared by the CLI and the web UI.

Each returns plain JSON-ready dicts with stable keys (documented in the README):
``list_runs``, ``show_run``, ``campaign_metrics``. Messages and replies are paged by
state/listings.py (``communications_page``, ``replies_page``) for both.

A recurring schedule (runs/start.py) shows as its series, with ``recurring`` (cron and
timezone) and ``next_run_at`` (the next fire, in the schedule's timezone), and its
occurrences, each with ``series`` naming the series.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.runs.calendar import zone
from campaign_gitops.state.queries import iso
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Enrollment,
    Message,
    Resource,
)

runs = CampaignRun.__table__
resources = Resource.__table__
campaigns = Campaign.__table__
revisions = CampaignRevision.__table__
enrollments = Enrollment.__table__
messages = Message.__table__
series_runs = runs.alias("series_runs")


def _campaign_filter(name: str) -> Any:
    client, _, short = name.rpartition("/")
    cond = resources.c.name == short
    return cond & (resources.c.client == client) if client else cond


def check_campaign(session: Session, name: str) -> None:
    """Refuse a ``--campaign`` filter naming no campaign (exit 2, like status/history),
    rather than an empty listing that reads as "nothing happened"."""
    found = session.execute(select(resources.c.id).where(
        resources.c.kind == "Campaign", _campaign_filter(name)).limit(1)).first()
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


def _run_row(row: Any, timezones: dict[int, str]) -> dict[str, Any]:
    recurring = None
    next_run_at = row.scheduled_for if row.status == "scheduled" else None
    if row.cron is not None and row.series_id is None:
        timezone = timezones.get(row.id, "UTC")
        recurring = {"cron": row.cron, "timezone": timezone}
        if next_run_at is not None:
            next_run_at = next_run_at.astimezone(zone(timezone) or dt.UTC)
    return {"id": row.id, "client": row.client, "campaign": row.campaign, "name": row.name,
            "type": row.type, "status": row.status, "status_reason": row.status_reason,
            "revision": row.revision, "content_hash": row.content_hash,
            "git_commit": row.git_commit, "scheduled_for": iso(row.scheduled_for),
            "started_at": iso(row.started_at), "finished_at": iso(row.finished_at),
            "next_run_at": iso(next_run_at), "recurring": recurring, "series": row.series,
            "series_id": row.series_id}


def _runs_query() -> Any:
    return (select(runs.c.id, resources.c.client, resources.c.name.label("campaign"),
                   runs.c.name, runs.c.type, runs.c.status, runs.c.status_reason,
                   revisions.c.revision, revisions.c.content_hash, runs.c.git_commit,
                   runs.c.scheduled_for, runs.c.started_at, runs.c.finished_at,
                   runs.c.cron, runs.c.series_id, series_runs.c.name.label("series"))
            .join(resources, resources.c.id == runs.c.campaign_id)
            .outerjoin(revisions, revisions.c.id == runs.c.revision_id)
            .outerjoin(series_runs, series_runs.c.id == runs.c.series_id)
            .order_by(runs.c.id))


def _series_timezones(session: Session, rows: list[Any]) -> dict[int, str]:
    """The schedule timezone of each recurring series among ``rows`` (few: one read)."""
    ids = [r.id for r in rows if r.cron is not None and r.series_id is None]
    if not ids:
        return {}
    query = select(runs.c.id, runs.c.config).where(runs.c.id.in_(ids))
    return {run_id: str(((config or {}).get("schedule") or {}).get("timezone") or "UTC")
            for run_id, config in session.execute(query)}


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    rows = list(session.execute(query))
    timezones = _series_timezones(session, rows)
    return [_run_row(r, timezones) for r in rows]


def list_runs(session: Session, campaign: str | None = None) -> list[dict[str, Any]]:
    query = _runs_query()
    if campaign:
        check_campaign(session, campaign)
        query = query.where(_campaign_filter(campaign))
    return _rows(session, query)


def _counts(session: Session, column: Any, run_id: int, table: Any) -> dict[str, int]:
    query = select(column, func.count()).where(table.c.run_id == run_id).group_by(column)
    return {str(k): int(v) for k, v in session.execute(query)}


def show_run(session: Session, run_id: int) -> dict[str, Any]:
    """One run: what it is pinned to, its enrollments by state, its messages by status."""
    (row,) = _rows(session, _runs_query().where(runs.c.id == run_id))
    config = session.execute(select(runs.c.config).where(runs.c.id == run_id)).scalar_one()
    by_channel: dict[str, dict[str, int]] = {}
    query = (select(messages.c.channel, messages.c.status, func.count())
             .where(messages.c.run_id == run_id)
             .group_by(messages.c.channel, messages.c.status))
    for channel, status, count in session.execute(query):
        by_channel.setdefault(channel, {})[status] = int(count)
    steps = [{"step": i + 1, "channel": s["channel"], "delayDays": s.get("delayDays", 0),
              "template": s.get("template"), "purpose": s.get("purpose")}
             for i, s in enumerate(config.get("steps") or [])]
    metrics = campaign_metrics(session, f"{row['client']}/{row['campaign']}")
    occurrences = [{k: r[k] for k in ("id", "name", "status", "scheduled_for", "started_at",
                                      "finished_at")}
                   for r in _rows(session, _runs_query().where(runs.c.series_id == run_id))]
    return {**row, "occurrences": occurrences,
            "metrics": {k: v for k, v in metrics[0].items()
                        if k not in ("client", "name", "status")} if metrics else None,
            "enrollments": _counts(session, enrollments.c.state, run_id, enrollments),
            "messages": _counts(session, messages.c.status, run_id, messages),
            "messages_by_channel": by_channel, "steps": steps}


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
        query = query.where(_campaign_filter(campaign))
    return [dict(r) for r in session.execute(query).mappings()]
