"""Reads for ``status`` and ``history`` (and the web UI): JSON-ready dicts, few queries.

``status_rows`` lists campaigns like the campaigns page a manager knows; the sync
state of each comes from the caller (plan computes it: Synced, OutOfSync, Orphan,
Unknown). ``campaign_history`` lists a campaign's revisions with the field-level diff
from the revision before, plus its lifecycle and run events from the apply log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.jsondiff import diff
from campaign_gitops.state import tables as t

ACTIVE_RUN_STATES = ("scheduled", "running", "paused")
# every status a run can have: runs/start.py and runs/tick.py set the first four (a run
# whose deliveries keep failing pauses itself), reconcile/apply.py cancels
RUN_STATUSES = (*ACTIVE_RUN_STATES, "completed", "cancelled")
# every status a message can have (runs/tick.py, runs/delivery.py, runs/review.py):
# "sending" between its mark and its result, "unknown" when the result never came or the
# server may have accepted it (settled by an operator)
MESSAGE_STATUSES = ("pending_review", "approved", "rejected", "queued", "sending", "sent",
                    "unknown", "failed", "skipped")
STATUS_COLUMNS = ("name", "client", "status", "channel", "goal", "segment", "writer",
                  "reviewer", "active_runs", "sync", "metrics")
METRICS = ("total_leads", "leads_contacted", "leads_replied", "leads_converted", "reply_rate",
           "conversion_rate")


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _channel(spec: Mapping[str, Any]) -> str:
    allocation = spec.get("allocation")
    if allocation:
        return "+".join(allocation)
    return str(spec.get("channel") or "")


def status_rows(session: Session, sync: Mapping[str, str] | None = None, *,
                campaign: str | None = None, client: str | None = None) -> list[dict[str, Any]]:
    """One row per live campaign; ``sync`` maps ``client/Campaign/name`` to its state."""
    stmt = (select(t.Resource.id, t.Resource.client, t.Resource.name, t.Resource.spec,
                   t.Campaign.status, *(getattr(t.Campaign, m) for m in METRICS))
            .join(t.Campaign, t.Campaign.resource_id == t.Resource.id)
            .where(t.Resource.kind == "Campaign", t.Resource.deleted_at.is_(None))
            .order_by(t.Resource.client, t.Resource.name))
    if client:
        stmt = stmt.where(t.Resource.client == client)
    if campaign:
        owner, _, name = campaign.rpartition("/")
        stmt = stmt.where(t.Resource.name == name)
        if owner:
            stmt = stmt.where(t.Resource.client == owner)
    active = dict(session.execute(
        select(t.CampaignRun.campaign_id, func.count())
        .where(t.CampaignRun.status.in_(ACTIVE_RUN_STATES))
        .group_by(t.CampaignRun.campaign_id)).all())
    rows = []
    for rid, owner_name, name, spec, status, *figures in session.execute(stmt).all():
        spec = spec or {}
        key = f"{owner_name}/Campaign/{name}"
        rows.append({
            "name": name, "client": owner_name, "status": status,
            "channel": _channel(spec), "goal": spec.get("goal"),
            "segment": spec.get("segment"), "writer": spec.get("writer"),
            "reviewer": spec.get("reviewer"), "active_runs": int(active.get(rid, 0)),
            "sync": (sync or {}).get(key, "Unknown" if sync is None else "Synced"),
            "metrics": dict(zip(METRICS, figures, strict=True)),
        })
    return rows


def campaign_named(ref: str) -> ColumnElement[bool]:
    """The resources row of the campaign ``name`` or ``client/name`` (the one way a
    ``--campaign`` argument names a campaign: ``find_campaign``, runs/queries.py's
    ``check_campaign`` and ``campaign_metrics``, runs/replies.py's ``campaign_ids``)."""
    owner, _, name = ref.rpartition("/")
    named = and_(t.Resource.kind == "Campaign", t.Resource.name == name)
    return and_(named, t.Resource.client == owner) if owner else named


def find_campaign(session: Session, ref: str) -> t.Resource:
    """A campaign by ``name`` or ``client/name`` (archived ones too); errors in words."""
    found = list(session.scalars(select(t.Resource).where(campaign_named(ref))))
    if not found:
        raise CampaignGitopsError(f"no campaign {ref!r} in the database",
                                  "`campaign-gitops status` lists them")
    if len(found) > 1:
        options = ", ".join(f"{r.client}/{r.name}" for r in found)
        raise CampaignGitopsError(f"campaign {ref!r} exists in several clients: {options}",
                                  "name it as client/name")
    return found[0]


def _restore_serials(session: Session, serials: list[int | None]) -> set[int]:
    """The apply serials, of ``serials``, that restored an archived resource."""
    wanted = [s for s in serials if s is not None]
    if not wanted:
        return set()
    rows = session.execute(select(t.ApplyLog.serial, t.ApplyLog.detail).where(
        t.ApplyLog.serial.in_(wanted), t.ApplyLog.action == "create")).all()
    return {serial for serial, detail in rows if (detail or {}).get("restored")}


def campaign_history(session: Session, ref: str) -> dict[str, Any]:
    """Every revision (when, git commit, what changed) and the apply log's events."""
    row = find_campaign(session, ref)
    revisions = list(session.scalars(
        select(t.CampaignRevision).where(t.CampaignRevision.resource_id == row.id)
        .order_by(t.CampaignRevision.revision)))
    restored = _restore_serials(session, [r.apply_serial for r in revisions])
    out: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for rev in revisions:
        changes = diff(previous, rev.spec) if previous is not None else ()
        out.append({
            "revision": rev.revision, "applied_at": iso(rev.applied_at),
            "git_commit": rev.git_commit, "git_dirty": rev.git_dirty,
            "content_hash": rev.content_hash, "source_file": rev.source_file,
            "apply_serial": rev.apply_serial, "restored": rev.apply_serial in restored,
            "changes": [{"path": f.path, "old": f.old, "new": f.new} for f in changes],
        })
        previous = rev.spec
    resource = f"{row.client}/Campaign/{row.name}"
    events = [
        {"serial": log.serial, "at": iso(log.at), "action": log.action, "detail": log.detail,
         "git_commit": log.git_commit, "actor": log.actor}
        for log in session.scalars(select(t.ApplyLog).where(
            t.ApplyLog.resource == resource, t.ApplyLog.action.in_(
                ("transition", "run", "archive"))).order_by(t.ApplyLog.serial))
    ]
    campaign = session.get(t.Campaign, row.id)
    return {"campaign": resource, "status": campaign.status if campaign else None,
            "archived": row.deleted_at is not None, "revisions": out, "events": events}


def client_rows(session: Session) -> list[dict[str, Any]]:
    """Every client by name (``client list``): subscription, credits, halted, archived."""
    return [{"name": c.name, "subscription": c.subscription, "credits": c.credits,
             "halted": c.halted, "archived": c.deleted_at is not None}
            for c in session.scalars(select(t.Client).order_by(t.Client.name))]


def client_names(session: Session, *, halted: bool | None = None) -> list[str]:
    """The clients' names, sorted; ``halted=True`` only the halted ones."""
    query = select(t.Client.name).order_by(t.Client.name)
    if halted is not None:
        query = query.where(t.Client.halted.is_(halted))
    return list(session.scalars(query))
