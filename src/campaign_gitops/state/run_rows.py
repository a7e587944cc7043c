"""A run as every listing shows it (``runs``, ``runs show``, the web's run pages, a
campaign's runs): ``runs_query`` selects runs with their campaign, pinned revision and
series; ``run_rows`` turns its rows into JSON-ready dicts. A recurring series shows its
``recurring`` (cron and timezone) and ``next_run_at`` in its schedule's timezone; an
occurrence names its ``series``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_gitops.state.queries import iso
from campaign_gitops.state.tables import CampaignRevision, CampaignRun, Resource

resources = Resource.__table__
runs = CampaignRun.__table__
revisions = CampaignRevision.__table__
series_runs = runs.alias("series_runs")


def _run_columns() -> tuple[Any, ...]:
    return (runs.c.id, runs.c.campaign_id, resources.c.client,
            resources.c.name.label("campaign"), runs.c.name, runs.c.type, runs.c.status,
            runs.c.status_reason, runs.c.git_commit, runs.c.config_hash, runs.c.scheduled_for,
            runs.c.started_at, runs.c.finished_at, runs.c.created_at, revisions.c.revision,
            revisions.c.content_hash, runs.c.cron, runs.c.series_id,
            series_runs.c.name.label("series"))


def runs_query(*columns: Any) -> Any:
    """Runs with their campaign, pinned revision and series (``run_rows`` reads them)."""
    return (select(*_run_columns(), *columns)
            .join(resources, resources.c.id == runs.c.campaign_id)
            .outerjoin(revisions, revisions.c.id == runs.c.revision_id)
            .outerjoin(series_runs, series_runs.c.id == runs.c.series_id))


def _series_timezones(session: Session, rows: list[Any]) -> dict[int, str]:
    """The schedule timezone of each recurring series among ``rows`` (few: one read)."""
    ids = [r["id"] for r in rows if r["cron"] is not None and r["series_id"] is None]
    if not ids:
        return {}
    query = select(runs.c.id, runs.c.config).where(runs.c.id.in_(ids))
    return {run_id: str(((config or {}).get("schedule") or {}).get("timezone") or "UTC")
            for run_id, config in session.execute(query)}


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _run_dict(r: Any, timezones: dict[int, str]) -> dict[str, Any]:
    """One run as every listing shows it. A recurring series has ``recurring`` (cron and
    timezone; ``cron`` too) and ``next_run_at`` in its schedule's timezone; an
    occurrence names its ``series`` (and ``series_id``)."""
    series = r["cron"] is not None and r["series_id"] is None
    timezone = timezones.get(r["id"], "UTC") if series else None
    next_run_at = r["scheduled_for"] if r["status"] == "scheduled" else None
    if next_run_at is not None and timezone is not None:
        next_run_at = next_run_at.astimezone(_zone(timezone))
    return {"id": r["id"], "client": r["client"], "campaign": r["campaign"],
            "campaign_id": r["campaign_id"], "name": r["name"], "type": r["type"],
            "status": r["status"], "status_reason": r["status_reason"],
            "revision": r["revision"], "content_hash": r["content_hash"],
            "config_hash": r["config_hash"], "git_commit": r["git_commit"],
            "scheduled_for": iso(r["scheduled_for"]), "started_at": iso(r["started_at"]),
            "finished_at": iso(r["finished_at"]), "created_at": iso(r["created_at"]),
            "next_run_at": iso(next_run_at),
            "recurring": {"cron": r["cron"], "timezone": timezone} if series else None,
            "cron": r["cron"] if series else None,
            "series": r["series"], "series_id": r["series_id"]}


def run_rows(session: Session, query: Any) -> list[dict[str, Any]]:
    """The rows of a ``runs_query``, as dicts."""
    rows = list(session.execute(query).mappings())
    timezones = _series_timezones(session, rows)
    return [_run_dict(r, timezones) for r in rows]
