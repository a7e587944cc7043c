"""Read-only views of what runs did, shared by the CLI and the web UI.

Each returns plain JSON-ready dicts with stable keys (documented in the README):
``list_runs``, ``show_run``, ``communications``, ``list_replies``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state.queries import iso
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Enrollment,
    Lead,
    Message,
    Reply,
    Resource,
)

runs = CampaignRun.__table__
resources = Resource.__table__
campaigns = Campaign.__table__
revisions = CampaignRevision.__table__
enrollments = Enrollment.__table__
messages = Message.__table__
replies = Reply.__table__
leads = Lead.__table__
DEFAULT_LIMIT = 200


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


def _run_row(row: Any) -> dict[str, Any]:
    return {"id": row.id, "client": row.client, "campaign": row.campaign, "name": row.name,
            "type": row.type, "status": row.status, "status_reason": row.status_reason,
            "revision": row.revision, "content_hash": row.content_hash,
            "git_commit": row.git_commit, "scheduled_for": iso(row.scheduled_for),
            "started_at": iso(row.started_at), "finished_at": iso(row.finished_at)}


def _runs_query() -> Any:
    return (select(runs.c.id, resources.c.client, resources.c.name.label("campaign"),
                   runs.c.name, runs.c.type, runs.c.status, runs.c.status_reason,
                   revisions.c.revision, revisions.c.content_hash, runs.c.git_commit,
                   runs.c.scheduled_for, runs.c.started_at, runs.c.finished_at)
            .join(resources, resources.c.id == runs.c.campaign_id)
            .outerjoin(revisions, revisions.c.id == runs.c.revision_id)
            .order_by(runs.c.id))


def list_runs(session: Session, campaign: str | None = None) -> list[dict[str, Any]]:
    query = _runs_query()
    if campaign:
        check_campaign(session, campaign)
        query = query.where(_campaign_filter(campaign))
    return [_run_row(r) for r in session.execute(query)]


def _counts(session: Session, column: Any, run_id: int, table: Any) -> dict[str, int]:
    query = select(column, func.count()).where(table.c.run_id == run_id).group_by(column)
    return {str(k): int(v) for k, v in session.execute(query)}


def show_run(session: Session, run_id: int) -> dict[str, Any]:
    """One run: what it is pinned to, its enrollments by state, its messages by status."""
    row = session.execute(_runs_query().where(runs.c.id == run_id)).one()
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
    metrics = campaign_metrics(session, f"{row.client}/{row.campaign}")
    return {**_run_row(row),
            "metrics": {k: v for k, v in metrics[0].items()
                        if k not in ("client", "name", "status")} if metrics else None,
            "enrollments": _counts(session, enrollments.c.state, run_id, enrollments),
            "messages": _counts(session, messages.c.status, run_id, messages),
            "messages_by_channel": by_channel, "steps": steps}


def communications(session: Session, *, run: int | None = None, status: str | None = None,
                   campaign: str | None = None, limit: int = DEFAULT_LIMIT
                   ) -> list[dict[str, Any]]:
    query = (select(messages.c.id, resources.c.client, resources.c.name.label("campaign"),
                    runs.c.name.label("run"), messages.c.step_index, messages.c.channel,
                    leads.c.email.label("lead"), messages.c.recipient, messages.c.status,
                    messages.c.status_reason, messages.c.subject, messages.c.attempts,
                    messages.c.scheduled_for, messages.c.sent_at, messages.c.transport,
                    messages.c.idempotency_key)
             .join(runs, runs.c.id == messages.c.run_id)
             .join(resources, resources.c.id == messages.c.campaign_id)
             .outerjoin(leads, leads.c.id == messages.c.lead_id)
             .order_by(messages.c.id).limit(limit))
    if run is not None:
        query = query.where(messages.c.run_id == run)
    if status:
        query = query.where(messages.c.status == status)
    if campaign:
        check_campaign(session, campaign)
        query = query.where(_campaign_filter(campaign))
    out = []
    for r in session.execute(query).mappings():
        item = dict(r)
        item["step"] = item.pop("step_index") + 1
        item["scheduled_for"] = iso(r["scheduled_for"])
        item["sent_at"] = iso(r["sent_at"])
        out.append(item)
    return out


def list_replies(session: Session, *, campaign: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    query = (select(replies.c.id, replies.c.client, resources.c.name.label("campaign"),
                    replies.c.contact, replies.c.kind, replies.c.message_id,
                    replies.c.lead_id, replies.c.body, replies.c.received_at)
             .outerjoin(resources, resources.c.id == replies.c.campaign_id)
             .order_by(replies.c.id).limit(limit))
    if campaign:
        check_campaign(session, campaign)
        query = query.where(_campaign_filter(campaign))
    return [{**dict(r), "received_at": iso(r["received_at"])}
            for r in session.execute(query).mappings()]


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
