"""The executors of ``apply``: one function per plan action, each run in its own
transaction (``EXECUTORS``), and the Core statements they share.

Every executor locks the row it changes and re-checks the database before writing, so
a change already made (by an earlier, killed apply or by a racing one) is *skipped*
(``Skip``) or refused (``ChangeRefused``), never made twice. ``apply.py`` drives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Insert,
    Row,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.models import ANNOTATION_PROTECT, content_hash
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.config.resolved import resolve_with_hash
from campaign_gitops.reconcile.plan import (
    ACTIVATABLE,
    Action,
    Change,
    definition,
    desired_spec,
    spec_action,
)
from campaign_gitops.runs.allocation import release_leads
from campaign_gitops.runs.start import start_run
from campaign_gitops.state import tables as t

# Outcomes of a change; a noop's is LEFT_ALONE, which nobody is told about.
APPLIED, SKIPPED, ERROR, LEFT_ALONE = "applied", "skipped", "error", "left alone"
Outcome = tuple[str, str]  # (outcome, reason)
# What executors run statements on: the connection itself (its own transaction), or an
# ORM Session on it for a run (the run's rows are ORM objects).
Executor = Session | Connection


class ChangeRefused(Exception):
    """The database no longer allows this change; the reason is in words."""


@dataclass(frozen=True, slots=True)
class GitInfo:
    commit: str | None = None
    dirty: bool = False



R = cast(Table, t.Resource.__table__)
CAMPAIGNS = cast(Table, t.Campaign.__table__)
REVISIONS = cast(Table, t.CampaignRevision.__table__)
LOG = cast(Table, t.ApplyLog.__table__)
CLIENTS = cast(Table, t.Client.__table__)
RUNS = cast(Table, t.CampaignRun.__table__)
STAMPS = {"active": "activated_at", "paused": "paused_at", "completed": "completed_at"}

# The hot statements, built once with bound parameters (executed with a dict of
# values): building and hashing a fresh statement with literal values for every
# change cost more than running it (a first apply is thousands of changes).
_LOCK = select(R).where(R.c.client == bindparam("k_client"), R.c.kind == bindparam("k_kind"),
                        R.c.name == bindparam("k_name"))
_LOCK_FOR_UPDATE = _LOCK.with_for_update()
_INSERT_RESOURCE = insert(R)
# PostgreSQL: a create in one round trip, insert unless the identity exists (the unique
# constraint decides, against a racing apply too); nothing returned means look at the
# row. (SQLite is in-process, a round trip costs nothing, and RETURNING needs 3.35.)
_INSERT_NEW = pg_insert(R).on_conflict_do_nothing(
    index_elements=["client", "kind", "name"]).returning(R.c.id)
_UPDATE_RESOURCE = update(R).where(R.c.id == bindparam("k_id"))
_INSERT_CAMPAIGN = insert(CAMPAIGNS)
_CAMPAIGN_STATUS = select(CAMPAIGNS.c.status).where(CAMPAIGNS.c.resource_id == bindparam("k_id"))
_UPDATE_CAMPAIGN = update(CAMPAIGNS).where(CAMPAIGNS.c.resource_id == bindparam("k_id"))
_INSERT_LOG = insert(LOG)
_INSERT_REVISION = insert(REVISIONS)
_CLIENT_ROW = select(CLIENTS.c.deleted_at).where(CLIENTS.c.name == bindparam("k_name"))
_CLIENT_CREDIT = select(CLIENTS.c.subscription, CLIENTS.c.credits).where(
    CLIENTS.c.name == bindparam("k_name"))


@dataclass
class ApplyWork:
    """The executors. Core statements (not ORM units of work): a first apply of 10,000
    campaigns is thousands of small transactions, and each statement counts."""

    bundle: Bundle
    config: ProjectConfig
    git: GitInfo
    now: dt.datetime
    actor: str
    postgres: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)  # revisions to insert
    # Called first in each change's transaction (the daemon's leader lease); raising
    # rolls the change back and ends the apply.
    guard: Callable[[Connection], None] | None = None

    # -------------------------------------------------- helpers

    def entry(self, key: Key) -> Entry:
        entry = self.bundle.entries.get(key)
        if entry is None:
            raise ChangeRefused("the files no longer define it; re-plan")
        return entry

    def lock(self, session: Executor, key: Key) -> Row[Any] | None:
        """The resource row (archived too), locked until commit on PostgreSQL (SQLite's
        BEGIN IMMEDIATE already serialises writers)."""
        stmt = _LOCK_FOR_UPDATE if self.postgres else _LOCK
        return session.execute(stmt, {"k_client": key.client, "k_kind": key.kind,
                                      "k_name": key.name}).first()

    def log(self, session: Executor, change: Change, detail: dict[str, Any]) -> None:
        serial = _inserted_id(session, _INSERT_LOG, {
            "action": spec_action(change.action), "resource": str(change.key),
            "detail": detail,
            "git_commit": self.git.commit, "git_dirty": self.git.dirty, "actor": self.actor,
            "at": self.now})
        for revision in self.pending:  # inserted after the log row: stamped with its serial
            session.execute(_INSERT_REVISION, {"apply_serial": serial, **revision})
        self.pending.clear()

    def values(self, entry: Entry, spec: dict[str, Any]) -> dict[str, Any]:
        meta = entry.resource.metadata
        return {"spec": spec, "spec_hash": content_hash(spec), "labels": dict(meta.labels),
                "annotations": dict(meta.annotations),
                "protected": entry.resource.annotation_flag(ANNOTATION_PROTECT),
                "source_file": entry.file, "source_commit": self.git.commit,
                "updated_at": self.now}

    def revision(self, session: Executor, resource_id: int, spec: dict[str, Any],
                 source_file: str, *, first: bool) -> None:
        last = 0 if first else session.scalar(select(func.max(REVISIONS.c.revision)).where(
            REVISIONS.c.resource_id == resource_id)) or 0
        self.pending.append({
            "resource_id": resource_id, "revision": last + 1, "spec": spec,
            "content_hash": content_hash(spec), "git_commit": self.git.commit,
            "git_dirty": self.git.dirty, "source_file": source_file, "applied_at": self.now})

    def ensure_client_row(self, session: Executor, name: str) -> None:
        row = session.execute(_CLIENT_ROW, {"k_name": name}).first()
        defaults = self.config.client_defaults
        if row is None:
            session.execute(insert(CLIENTS).values(
                name=name, subscription=defaults.subscription, credits=defaults.credits,
                halted=False, created_at=self.now, updated_at=self.now))
        elif row.deleted_at is not None:
            session.execute(update(CLIENTS).where(CLIENTS.c.name == name)
                            .values(deleted_at=None, updated_at=self.now))

    def campaign_status(self, session: Executor, resource_id: int) -> str | None:
        return session.scalar(_CAMPAIGN_STATUS, {"k_id": resource_id})

    # -------------------------------------------------- executors

    def create(self, session: Executor, change: Change) -> dict[str, Any]:
        key = change.key
        entry = self.entry(key)
        spec = desired_spec(entry)
        values = self.values(entry, spec)
        new = {"client": key.client, "kind": key.kind, "name": key.name, "generation": 1,
               "created_at": self.now, **values}
        if self.postgres:
            rid = session.execute(_INSERT_NEW, new).scalar()
            row = None if rid is not None else self.lock(session, key)
            if rid is None and row is None:
                raise ChangeRefused("its row vanished while applying; re-plan")
        else:
            row = self.lock(session, key)
            rid = _inserted_id(session, _INSERT_RESOURCE, new) if row is None else None
        if row is not None:  # the identity exists: already made, or archived (restore it)
            if row.deleted_at is None:
                raise Skip
            rid = row.id
            session.execute(_UPDATE_RESOURCE, {"k_id": rid, "deleted_at": None,
                                               "generation": row.generation + 1, **values})
        assert rid is not None  # inserted just now, or the row's
        if key.kind == "Client":
            self.ensure_client_row(session, key.name)
        if key.kind == "Campaign":
            if row is None or self.campaign_status(session, rid) is None:
                session.execute(_INSERT_CAMPAIGN, {"resource_id": rid, "status": "draft",
                                                   "updated_at": self.now})
            self.revision(session, rid, spec, entry.file, first=row is None)
        return {"restored": True} if row is not None else {}

    def update(self, session: Executor, change: Change) -> dict[str, Any]:
        key = change.key
        entry = self.entry(key)
        spec = desired_spec(entry)
        renamed = change.from_ is not None and change.from_ != key.name
        row = self.lock(session, key)
        if renamed and row is None:
            row = self.lock(session, key._replace(name=str(change.from_)))
        if row is None or row.deleted_at is not None:
            raise ChangeRefused("it is no longer in the database; re-plan")
        values = self.values(entry, spec)
        if (row.name == key.name and row.spec == spec and row.source_file == entry.file
                and (row.labels or {}) == values["labels"]
                and (row.annotations or {}) == values["annotations"]):
            raise Skip
        new_definition = definition(row.kind, row.spec or {}) != definition(row.kind, spec)
        session.execute(_UPDATE_RESOURCE, {"k_id": row.id, "name": key.name,
                                           "generation": row.generation + 1, **values})
        if row.kind == "Campaign" and (new_definition or renamed):
            self.revision(session, row.id, spec, entry.file, first=False)
        detail: dict[str, Any] = {"fields": [f.path for f in change.fields]}
        if renamed:
            detail["renamed_from"] = change.from_
        return detail

    def transition(self, session: Executor, change: Change) -> dict[str, Any]:
        row = self.lock(session, change.key)
        status = self.campaign_status(session, row.id) if row is not None else None
        if row is None or status is None or row.deleted_at is not None:
            raise ChangeRefused("the campaign is not in the database; re-plan")
        if status == change.to:
            raise Skip
        if status != change.from_:
            raise ChangeRefused(f"its status moved to {status} since the plan; re-plan")
        if change.to == "active":
            self.check_client(session, row.client)
        values: dict[str, Any] = {"status": str(change.to), "updated_at": self.now}
        if change.to in STAMPS:
            values[STAMPS[str(change.to)]] = self.now
        session.execute(_UPDATE_CAMPAIGN, {"k_id": row.id, **values})
        return {"from": change.from_, "to": change.to}

    def check_client(self, session: Executor, name: str) -> None:
        client = session.execute(_CLIENT_CREDIT, {"k_name": name}).first()
        if client is None:
            return
        if client.subscription not in ACTIVATABLE:
            raise ChangeRefused(f"cannot activate: client {name}'s subscription is "
                                f"{client.subscription}")
        if client.credits <= 0:
            raise ChangeRefused(f"cannot activate: client {name} has no credits")

    def run(self, session: Executor, change: Change) -> dict[str, Any]:
        assert isinstance(session, Session)  # in_session: the run's rows are ORM objects
        entry = self.entry(change.key)
        name = str(change.to)
        decl = next((r for r in entry.resource.spec.runs if r.name == name), None)
        if decl is None:
            raise ChangeRefused(f"run {name} is no longer declared; re-plan")
        row = self.lock(session, change.key)
        if row is None or row.deleted_at is not None:
            raise ChangeRefused("the campaign is not in the database")
        if session.scalar(select(RUNS.c.id).where(RUNS.c.campaign_id == row.id,
                                                  RUNS.c.name == name)) is not None:
            raise Skip
        status = self.campaign_status(session, row.id)
        if decl.type != "test_run" and status != "active":
            raise ChangeRefused(f"run {name} needs the campaign active; it is {status}")
        revision = session.execute(
            select(REVISIONS.c.id, REVISIONS.c.revision)
            .where(REVISIONS.c.resource_id == row.id)
            .order_by(REVISIONS.c.revision.desc()).limit(1)).first()
        if revision is None:
            raise ChangeRefused("the campaign has no revision to pin the run to")
        config, config_hash = resolve_with_hash(entry, self.bundle)
        run = t.CampaignRun(
            campaign_id=row.id, name=name, type=decl.type,
            status="scheduled" if decl.type == "schedule" else "running",
            revision_id=revision.id, config=config, config_hash=config_hash,
            git_commit=self.git.commit, scheduled_for=decl.at,
            started_at=None if decl.type == "schedule" else self.now, created_at=self.now)
        session.add(run)
        session.flush()  # the unique constraint decides a race here
        start_run(session, run, now=self.now)
        return {"run": name, "type": decl.type, "revision": revision.revision,
                "config_hash": config_hash}

    def cancel(self, session: Executor, change: Change) -> dict[str, Any]:
        """Cancel a run that has not started (``change.from_``); one that started in the
        meantime is in flight and stays. A recurring series' finished occurrences hand
        their leads back (those still walking keep them until they finish)."""
        assert isinstance(session, Session)  # in_session: leads are released by the ORM
        name = str(change.from_)
        entry = self.entry(change.key)
        if any(r.name == name for r in entry.resource.spec.runs):
            raise ChangeRefused(f"run {name} is declared again; re-plan")
        row = self.lock(session, change.key)
        if row is None or row.deleted_at is not None:
            raise ChangeRefused("the campaign is not in the database")
        run = session.execute(select(RUNS.c.id, RUNS.c.cron).where(
            RUNS.c.campaign_id == row.id, RUNS.c.name == name, RUNS.c.series_id.is_(None),
            RUNS.c.status == "scheduled")).first()
        if run is None:
            raise Skip("not waiting any more: cancelled already, or started in the meantime "
                        "(a run in flight stays; `campaign-gitops runs` shows it)")
        session.execute(update(RUNS).where(RUNS.c.id == run.id, RUNS.c.status == "scheduled")
                        .values(status="cancelled", finished_at=self.now,
                                status_reason="cancelled: no longer declared"))
        released = 0
        if run.cron is not None:
            occurrences = list(session.execute(select(RUNS.c.id).where(
                RUNS.c.series_id == run.id)).scalars())
            released = release_leads(session, occurrences, now=self.now)
        return {"run": name, "cancelled": True, "leads_released": released}

    def archive(self, session: Executor, change: Change) -> dict[str, Any]:
        row = self.lock(session, change.key)
        if row is None or row.deleted_at is not None:
            raise Skip
        if row.protected:
            raise ChangeRefused(f"protected ({ANNOTATION_PROTECT}): prune refuses it")
        detail: dict[str, Any] = {}
        if row.kind == "Campaign" and self.campaign_status(session, row.id) == "active":
            session.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.resource_id == row.id).values(
                status="completed", completed_at=self.now, updated_at=self.now))
            detail["completed"] = True
        if row.kind == "Client":
            session.execute(update(CLIENTS).where(CLIENTS.c.name == row.name)
                            .values(deleted_at=self.now))
        session.execute(update(R).where(R.c.id == row.id)
                        .values(deleted_at=self.now, updated_at=self.now))
        return detail


def _inserted_id(session: Executor, stmt: Insert, values: dict[str, Any]) -> int:
    key = cast(CursorResult[Any], session.execute(stmt, values)).inserted_primary_key
    assert key is not None  # an INSERT of one row
    return int(key[0])


class Skip(Exception):
    """The change is already in the database (the message, when given, says more)."""


Step = Callable[[ApplyWork, Executor, Change], dict[str, Any]]
Execute = Callable[[ApplyWork, Connection, Change], Outcome]


def _in_transaction(step: Step) -> Execute:
    """Core statements only: the connection's own transaction, no unit of work."""
    def execute(work: ApplyWork, connection: Connection, change: Change) -> Outcome:
        with connection.begin():
            if work.guard is not None:
                work.guard(connection)
            work.log(connection, change, step(work, connection, change))
        return APPLIED, ""
    return execute


def _in_session(step: Step) -> Execute:
    """An ORM Session on the connection, one transaction (a run's rows are ORM objects)."""
    def execute(work: ApplyWork, connection: Connection, change: Change) -> Outcome:
        with Session(bind=connection, expire_on_commit=False) as session, session.begin():
            if work.guard is not None:
                work.guard(session.connection())
            work.log(session, change, step(work, session, change))
        return APPLIED, ""
    return execute


def _refuse(work: ApplyWork, connection: Connection, change: Change) -> Outcome:
    """An error change: planned as one, reported as one, nothing touched."""
    return ERROR, change.reason


def _leave_alone(work: ApplyWork, connection: Connection, change: Change) -> Outcome:
    return LEFT_ALONE, change.reason


EXECUTORS: dict[Action, Execute] = {
    Action.CREATE: _in_transaction(ApplyWork.create),
    Action.UPDATE: _in_transaction(ApplyWork.update),
    Action.TRANSITION: _in_transaction(ApplyWork.transition),
    Action.RUN: _in_session(ApplyWork.run),
    Action.CANCEL: _in_session(ApplyWork.cancel),
    Action.ARCHIVE: _in_transaction(ApplyWork.archive),
    Action.ERROR: _refuse,
    Action.NOOP: _leave_alone,
}

