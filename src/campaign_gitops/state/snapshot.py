"""The database as plan sees it: one query per table, plain frozen values.

``load_snapshot(session)`` reads every resource (archived ones too, marked), the
campaigns' lifecycle status, the clients' operational state, the names of the runs
each campaign has started (which of them still wait for their time, which were
cancelled), and the apply log's last serial (what a saved plan is pinned to). Plan
compares this with the bundle; nothing here knows about files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_gitops.identity import Key
from campaign_gitops.state import kv, tables as t


@dataclass(frozen=True, slots=True)
class ResourceState:
    id: int
    key: Key
    spec: Mapping[str, Any]
    spec_hash: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    protected: bool
    source_file: str | None
    deleted: bool = False
    status: str | None = None  # campaigns: the lifecycle status in the database
    runs: frozenset[str] = frozenset()  # campaigns: names of runs already started
    # campaigns: runs declared earlier that have not started yet (a one-shot schedule run
    # waiting for its time, a recurring series between fires): name -> cron or None
    pending_runs: Mapping[str, str | None] = field(default_factory=dict)
    cancelled_runs: frozenset[str] = frozenset()  # campaigns: runs cancelled before starting


@dataclass(frozen=True, slots=True)
class ClientState:
    name: str
    subscription: str
    credits: int
    halted: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    resources: Mapping[Key, ResourceState] = field(default_factory=dict)  # not deleted
    archived: Mapping[Key, ResourceState] = field(default_factory=dict)
    clients: Mapping[str, ClientState] = field(default_factory=dict)
    base_serial: int = 0
    halted_globally: bool = False


def max_serial(session: Session) -> int:
    return int(session.scalar(select(func.max(t.ApplyLog.serial))) or 0)


def load_snapshot(session: Session, scope: Collection[str] | None = None) -> Snapshot:
    """The whole database, or only the rows of the clients in ``scope`` (the daemon's
    incremental pass: references and rules never cross a client)."""
    def scoped(stmt: Any, column: Any = t.Resource.client) -> Any:
        return stmt if scope is None else stmt.where(column.in_(sorted(scope)))

    statuses = dict(session.execute(scoped(select(t.Campaign.resource_id, t.Campaign.status)
                                           .join(t.Resource))).all())
    runs: dict[int, set[str]] = defaultdict(set)
    pending: dict[int, dict[str, str | None]] = defaultdict(dict)
    cancelled: dict[int, set[str]] = defaultdict(set)
    for campaign_id, name, status, cron, series in session.execute(scoped(
            select(t.CampaignRun.campaign_id, t.CampaignRun.name, t.CampaignRun.status,
                   t.CampaignRun.cron, t.CampaignRun.series_id).join(
                t.Resource, t.Resource.id == t.CampaignRun.campaign_id))).all():
        runs[campaign_id].add(name)
        if status == "scheduled" and series is None:
            pending[campaign_id][name] = cron
        elif status == "cancelled":
            cancelled[campaign_id].add(name)
    live: dict[Key, ResourceState] = {}
    archived: dict[Key, ResourceState] = {}
    columns = (t.Resource.id, t.Resource.client, t.Resource.kind, t.Resource.name,
               t.Resource.spec, t.Resource.spec_hash, t.Resource.labels,
               t.Resource.annotations, t.Resource.protected, t.Resource.source_file,
               t.Resource.deleted_at)
    for row in session.execute(scoped(select(*columns))).all():
        rid, client, kind, name, spec, spec_hash, labels, annotations, protected, source, gone \
            = row
        key = Key(client, kind, name)
        state = ResourceState(
            id=rid, key=key, spec=spec or {}, spec_hash=spec_hash, labels=labels or {},
            annotations=annotations or {}, protected=bool(protected), source_file=source,
            deleted=gone is not None, status=statuses.get(rid),
            runs=frozenset(runs.get(rid, ())),
            pending_runs=MappingProxyType(pending.get(rid, {})),
            cancelled_runs=frozenset(cancelled.get(rid, ())))
        (archived if gone is not None else live)[key] = state
    clients = {
        name: ClientState(name, subscription, int(credits), bool(halted))
        for name, subscription, credits, halted in session.execute(scoped(select(
            t.Client.name, t.Client.subscription, t.Client.credits, t.Client.halted),
            t.Client.name)).all()
    }
    return Snapshot(
        resources=MappingProxyType(live), archived=MappingProxyType(archived),
        clients=MappingProxyType(clients), base_serial=max_serial(session),
        halted_globally=kv.global_halt(session) is not None)
