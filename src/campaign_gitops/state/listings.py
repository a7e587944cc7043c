"""Paginated reads for the web UI, its JSON API and the CLI's ``communications`` and
``replies``.

Every function returns JSON-ready dicts and reads one page: LIMIT on an indexed order
(campaigns by client/name, messages and replies by id descending, keyset with
``before``), counts only for the rows of the page, never a whole table. ``newest``
reads as many pages as a caller asks for (the CLI's ``--limit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Date, String, cast, distinct, func, select
from sqlalchemy.orm import Session

from campaign_gitops.runs.metrics import reply_rate
from campaign_gitops.state import kv
from campaign_gitops.state.queries import ACTIVE_RUN_STATES, iso
from campaign_gitops.state.run_rows import run_rows, runs_query, series_runs
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Client,
    Enrollment,
    Lead,
    Message,
    Reply,
    Resource,
)

resources = Resource.__table__
campaigns = Campaign.__table__
runs = CampaignRun.__table__
revisions = CampaignRevision.__table__
messages = Message.__table__
replies = Reply.__table__
enrollments = Enrollment.__table__
leads = Lead.__table__
MAX_PAGE = 200


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _channel_expr() -> Any:
    return resources.c.spec["channel"].as_string()


# ---------------------------------------------------------------- header


def header(session: Session) -> dict[str, Any]:
    """Whether delivery is halted (globally, per client) and the daemon's last reconcile."""
    halted_clients = list(session.execute(
        select(Client.name).where(Client.halted.is_(True), Client.deleted_at.is_(None))
        .order_by(Client.name)).scalars())
    value = kv.read(session, kv.RECONCILE_LAST)
    reconcile = None
    if value is not None:
        reconcile = {"at": value.get("at"), "commit": value.get("commit"),
                     "ok": value.get("ok"), "mode": value.get("mode"),
                     "applied": value.get("applied"),
                     "failing_files": list(value.get("failing_files") or []),
                     "errors": len(value.get("errors") or [])}
    return {"halted": kv.global_halt(session) is not None,
            "halted_clients": halted_clients, "last_reconcile": reconcile}


# ---------------------------------------------------------------- campaigns


def campaign_filters(*, client: str | None = None, status: str | None = None,
                     channel: str | None = None, q: str | None = None) -> list[Any]:
    conds: list[Any] = [resources.c.kind == "Campaign", resources.c.deleted_at.is_(None)]
    if client:
        conds.append(resources.c.client == client)
    if status:
        conds.append(campaigns.c.status == status)
    if channel:
        conds.append(_channel_expr() == channel)
    if q:
        conds.append(resources.c.name.ilike(_like(q), escape="\\"))
    return conds


def campaigns_page(session: Session, *, client: str | None = None, status: str | None = None,
                   channel: str | None = None, q: str | None = None, page: int = 1,
                   per_page: int = 50) -> dict[str, Any]:
    """One page of campaigns (by client, name) with their active runs counted."""
    per_page = max(1, min(per_page, MAX_PAGE))
    page = max(1, page)
    conds = campaign_filters(client=client, status=status, channel=channel, q=q)
    base = resources.outerjoin(campaigns, campaigns.c.resource_id == resources.c.id)
    total = int(session.execute(select(func.count()).select_from(base).where(*conds))
                .scalar_one())
    query = (select(resources.c.id, resources.c.client, resources.c.name,
                    resources.c.spec, resources.c.source_file, resources.c.source_commit,
                    campaigns.c.status, campaigns.c.reply_rate, campaigns.c.total_leads,
                    campaigns.c.leads_contacted, campaigns.c.leads_replied)
             .select_from(base).where(*conds)
             .order_by(resources.c.client, resources.c.name)
             .limit(per_page).offset((page - 1) * per_page))
    rows = list(session.execute(query).mappings())
    active = _active_runs(session, [r["id"] for r in rows])
    items = [{"id": r["id"], "client": r["client"], "name": r["name"],
              "status": r["status"] or (r["spec"] or {}).get("status"),
              "desired_status": (r["spec"] or {}).get("status"),
              "channel": (r["spec"] or {}).get("channel"),
              "channels": sorted((r["spec"] or {}).get("allocation") or {})
              or [(r["spec"] or {}).get("channel")],
              "active_runs": active.get(r["id"], 0),
              "reply_rate": reply_rate(int(r["leads_replied"] or 0),
                                       int(r["leads_contacted"] or 0)),
              "leads": int(r["total_leads"] or 0),
              "contacted": int(r["leads_contacted"] or 0),
              "replied": int(r["leads_replied"] or 0),
              "file": r["source_file"], "commit": r["source_commit"]} for r in rows]
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": max(1, -(-total // per_page))}


def _active_runs(session: Session, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = (select(runs.c.campaign_id, func.count()).where(
        runs.c.campaign_id.in_(ids), runs.c.status.in_(ACTIVE_RUN_STATES))
        .group_by(runs.c.campaign_id))
    return {int(k): int(v) for k, v in session.execute(query)}


def campaign_choices(session: Session) -> dict[str, list[str]]:
    """The values the filters offer: clients, statuses and channels in use."""
    clients = list(session.execute(select(resources.c.client).where(
        resources.c.kind == "Client", resources.c.deleted_at.is_(None))
        .order_by(resources.c.client)).scalars())
    statuses = ["draft", "active", "paused", "completed"]
    channels = ["email", "sms", "voice", "linkedin", "mail"]
    return {"clients": clients, "statuses": statuses, "channels": channels}


def _resource_spec(session: Session, client: str, kind: str, name: str | None
                   ) -> dict[str, Any] | None:
    if not name:
        return None
    row = session.execute(select(resources.c.spec, resources.c.source_file).where(
        resources.c.client == client, resources.c.kind == kind, resources.c.name == name,
        resources.c.deleted_at.is_(None))).first()
    if row is None:
        return None
    return {"name": name, "spec": row.spec or {}, "file": row.source_file}


def campaign_detail(session: Session, client: str, name: str) -> dict[str, Any] | None:
    """A campaign with the specs it references (as applied), its revisions and runs."""
    row = session.execute(
        select(resources.c.id, resources.c.spec, resources.c.labels,
               resources.c.source_file, resources.c.source_commit, resources.c.generation,
               resources.c.updated_at, campaigns.c.status, campaigns.c.reply_rate,
               campaigns.c.conversion_rate, campaigns.c.total_leads,
               campaigns.c.leads_contacted, campaigns.c.leads_replied,
               campaigns.c.leads_converted)
        .select_from(resources.outerjoin(campaigns,
                                         campaigns.c.resource_id == resources.c.id))
        .where(resources.c.client == client, resources.c.kind == "Campaign",
               resources.c.name == name, resources.c.deleted_at.is_(None))).mappings().first()
    if row is None:
        return None
    spec = row["spec"] or {}
    refs = {field: _resource_spec(session, client, kind, spec.get(field))
            for field, kind in (("goal", "Goal"), ("segment", "Segment"),
                                ("writer", "Writer"), ("reviewer", "Reviewer"),
                                ("template", "Template"), ("sequence", "Sequence"),
                                ("schedule", "Schedule"))}
    revision = session.execute(
        select(revisions.c.revision, revisions.c.git_commit, revisions.c.applied_at)
        .where(revisions.c.resource_id == row["id"])
        .order_by(revisions.c.revision.desc()).limit(1)).first()
    return {
        "id": row["id"], "client": client, "name": name, "spec": spec,
        "labels": row["labels"] or {}, "status": row["status"],
        "file": row["source_file"], "commit": row["source_commit"],
        "generation": row["generation"], "updated_at": iso(row["updated_at"]),
        "revision": revision.revision if revision else None,
        "revision_commit": revision.git_commit if revision else None,
        "metrics": {"leads": row["total_leads"] or 0, "contacted": row["leads_contacted"] or 0,
                    "replied": row["leads_replied"] or 0,
                    "converted": row["leads_converted"] or 0,
                    "reply_rate": reply_rate(int(row["leads_replied"] or 0),
                                             int(row["leads_contacted"] or 0)),
                    "conversion_rate": float(row["conversion_rate"] or 0.0)},
        "refs": refs,
        "runs": runs_page(session, campaign_id=row["id"], limit=50)["items"],
    }


# ---------------------------------------------------------------- runs


def runs_page(session: Session, *, campaign_id: int | None = None, client: str | None = None,
              campaign: str | None = None, status: str | None = None,
              series: str | None = None, before: int | None = None,
              limit: int = 50) -> dict[str, Any]:
    """Runs, newest first; ``series``: the occurrences of the recurring series of that
    name."""
    limit = max(1, min(limit, MAX_PAGE))
    query = runs_query().order_by(runs.c.id.desc()).limit(limit + 1)
    if campaign_id is not None:
        query = query.where(runs.c.campaign_id == campaign_id)
    if client:
        query = query.where(resources.c.client == client)
    if campaign:
        query = query.where(resources.c.name == campaign)
    if status:
        query = query.where(runs.c.status == status)
    if series:
        query = query.where(series_runs.c.name == series)
    if before is not None:
        query = query.where(runs.c.id < before)
    return _keyset(run_rows(session, query), limit)


def _keyset(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "limit": limit,
            "next_before": rows[-1]["id"] if more and rows else None}


def newest(page: Callable[..., dict[str, Any]], *, limit: int, before: int | None = None
           ) -> tuple[list[dict[str, Any]], int | None]:
    """The newest ``limit`` rows (any number) of a keyset-paged ``page`` function, read
    page by page, oldest first, and the ``before`` that continues with older rows
    (None: there are none)."""
    rows: list[dict[str, Any]] = []
    cursor = before
    while len(rows) < limit:
        got = page(before=cursor, limit=min(MAX_PAGE, limit - len(rows)))
        rows.extend(got["items"])
        cursor = got["next_before"]
        if cursor is None:
            break
    rows.reverse()
    return rows, cursor


def _day_expr(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    # A UTC day whatever the session's TimeZone setting.
    return cast(cast(func.timezone("UTC", column), Date), String)


def run_detail(session: Session, run_id: int) -> dict[str, Any] | None:
    """One run: pinned revision, enrollments by state, messages by day and status, replies."""
    found = run_rows(session, runs_query().where(runs.c.id == run_id))
    if not found:
        return None
    by_state = {str(k): int(v) for k, v in session.execute(
        select(enrollments.c.state, func.count()).where(enrollments.c.run_id == run_id)
        .group_by(enrollments.c.state))}
    by_status = {str(k): int(v) for k, v in session.execute(
        select(messages.c.status, func.count()).where(messages.c.run_id == run_id)
        .group_by(messages.c.status))}
    day = _day_expr(session, func.coalesce(messages.c.sent_at, messages.c.created_at))
    by_day: dict[str, dict[str, int]] = {}
    for d, status, n in session.execute(
            select(day, messages.c.status, func.count()).where(messages.c.run_id == run_id)
            .group_by(day, messages.c.status).order_by(day)):
        by_day.setdefault(str(d), {})[str(status)] = int(n)
    by_kind = {str(k): int(v) for k, v in session.execute(
        select(replies.c.kind, func.count()).where(replies.c.run_id == run_id)
        .group_by(replies.c.kind))}
    enrolled = sum(by_state.values())
    sent = by_status.get("sent", 0)
    replied = by_kind.get("reply", 0) + by_kind.get("converted", 0)
    contacted = int(session.execute(select(func.count(distinct(messages.c.lead_id))).where(
        messages.c.run_id == run_id, messages.c.status == "sent")).scalar_one())
    leads_replied = int(session.execute(select(func.count(distinct(replies.c.lead_id))).where(
        replies.c.run_id == run_id, replies.c.kind == "reply",
        replies.c.lead_id.is_not(None))).scalar_one())
    return {**found[0],
            "enrollments": by_state, "messages": by_status, "messages_by_day": by_day,
            "replies": by_kind, "steps": run_steps(session, run_id),
            "metrics": {"enrolled": enrolled, "sent": sent, "replies": replied,
                        "contacted": contacted, "replied": leads_replied,
                        "reply_rate": reply_rate(leads_replied, contacted)}}


def run_steps(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The steps of the sequence a run is pinned to (from its resolved config)."""
    config = session.execute(select(runs.c.config).where(runs.c.id == run_id)).scalar()
    return [{"step": i + 1, "channel": s.get("channel"), "delayDays": s.get("delayDays", 0),
             "template": s.get("template"), "purpose": s.get("purpose")}
            for i, s in enumerate((config or {}).get("steps") or [])]


def run_config(session: Session, run_id: int) -> dict[str, Any] | None:
    """The resolved configuration a run is pinned to, and the campaign revision's spec."""
    row = session.execute(
        select(runs.c.config, runs.c.config_hash, runs.c.git_commit, revisions.c.revision,
               revisions.c.spec, revisions.c.content_hash, revisions.c.source_file)
        .outerjoin(revisions, revisions.c.id == runs.c.revision_id)
        .where(runs.c.id == run_id)).mappings().first()
    if row is None:
        return None
    return {"config": row["config"], "config_hash": row["config_hash"],
            "git_commit": row["git_commit"], "revision": row["revision"],
            "revision_spec": row["spec"], "content_hash": row["content_hash"],
            "file": row["source_file"]}


# ---------------------------------------------------------------- messages and replies


def communications_page(session: Session, *, client: str | None = None,
                        campaign: str | None = None, run: int | None = None,
                        status: str | None = None, channel: str | None = None,
                        before: int | None = None, limit: int = 50) -> dict[str, Any]:
    """Messages, newest first, keyset-paginated by id (``before``)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (select(messages.c.id, messages.c.client, resources.c.name.label("campaign"),
                    messages.c.run_id, runs.c.name.label("run"), messages.c.step_index,
                    messages.c.channel, leads.c.email.label("lead"), messages.c.recipient,
                    messages.c.subject, messages.c.body, messages.c.status,
                    messages.c.status_reason, messages.c.attempts, messages.c.transport,
                    messages.c.idempotency_key, messages.c.scheduled_for,
                    messages.c.sent_at, messages.c.created_at)
             .join(runs, runs.c.id == messages.c.run_id)
             .join(resources, resources.c.id == messages.c.campaign_id)
             .outerjoin(leads, leads.c.id == messages.c.lead_id)
             .order_by(messages.c.id.desc()).limit(limit + 1))
    if client:
        query = query.where(messages.c.client == client)
    if campaign:
        query = query.where(resources.c.name == campaign)
    if run is not None:
        query = query.where(messages.c.run_id == run)
    if status:
        query = query.where(messages.c.status == status)
    if channel:
        query = query.where(messages.c.channel == channel)
    if before is not None:
        query = query.where(messages.c.id < before)
    rows = []
    for r in session.execute(query).mappings():
        item = dict(r)
        item["step"] = item.pop("step_index") + 1
        for key in ("scheduled_for", "sent_at", "created_at"):
            item[key] = iso(r[key])
        rows.append(item)
    return _keyset(rows, limit)


def replies_page(session: Session, *, client: str | None = None, campaign: str | None = None,
                 run: int | None = None, kind: str | None = None, before: int | None = None,
                 limit: int = 50) -> dict[str, Any]:
    limit = max(1, min(limit, MAX_PAGE))
    query = (select(replies.c.id, replies.c.client, resources.c.name.label("campaign"),
                    replies.c.run_id, replies.c.message_id, replies.c.lead_id,
                    replies.c.contact, replies.c.kind, replies.c.channel, replies.c.body,
                    replies.c.received_at)
             .outerjoin(resources, resources.c.id == replies.c.campaign_id)
             .order_by(replies.c.id.desc()).limit(limit + 1))
    if client:
        query = query.where(replies.c.client == client)
    if campaign:
        query = query.where(resources.c.name == campaign)
    if run is not None:
        query = query.where(replies.c.run_id == run)
    if kind:
        query = query.where(replies.c.kind == kind)
    if before is not None:
        query = query.where(replies.c.id < before)
    rows = [{**dict(r), "received_at": iso(r["received_at"])}
            for r in session.execute(query).mappings()]
    return _keyset(rows, limit)


def review_queue(session: Session, *, campaign_ids: list[int] | None = None,
                 after: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Messages waiting for a human reviewer (``pending_review``), oldest first: the one
    queue ``review list`` (runs/review.py) and the review page read."""
    query = (select(messages.c.id, messages.c.client, resources.c.name.label("campaign"),
                    messages.c.run_id, runs.c.name.label("run"), messages.c.step_index,
                    messages.c.channel, messages.c.recipient, messages.c.subject,
                    messages.c.body, messages.c.status_reason, messages.c.created_at)
             .join(runs, runs.c.id == messages.c.run_id)
             .join(resources, resources.c.id == messages.c.campaign_id)
             .where(messages.c.status == "pending_review")
             .order_by(messages.c.id))
    if campaign_ids:
        query = query.where(messages.c.campaign_id.in_(campaign_ids))
    if after is not None:
        query = query.where(messages.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for r in session.execute(query).mappings():
        item = dict(r)
        item["step"] = item.pop("step_index") + 1
        item["created_at"] = iso(r["created_at"])
        rows.append(item)
    return rows


def review_page(session: Session, *, before: int | None = None, limit: int = 50
                ) -> dict[str, Any]:
    """A page of the review queue (``after``: the id that continues it)."""
    limit = max(1, min(limit, MAX_PAGE))
    page = _keyset(review_queue(session, after=before, limit=limit + 1), limit)
    page["after"] = page.pop("next_before")
    return page
