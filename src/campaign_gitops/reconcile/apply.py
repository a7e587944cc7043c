"""Plan -> database: one transaction per resource change; never formats text.

Every executor locks the row it changes and re-checks the database before writing, so
a change already made (by an earlier, killed apply or by a racing one) is *skipped*,
never made twice; each run name starts once, enforced by the unique constraint
``(campaign_id, name)``. Every applied change appends to ``apply_log`` with the git
commit of the repo. ``CAMPAIGN_GITOPS_TEST_APPLY_DELAY`` (seconds) sleeps between
changes so a test can kill an apply in the middle.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.models import ANNOTATION_PROTECT, content_hash
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.config.resolved import resolve_with_hash
from campaign_gitops.reconcile.plan import ACTIVATABLE, Change, Plan, definition, desired_spec
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import Database

DELAY_ENV = "CAMPAIGN_GITOPS_TEST_APPLY_DELAY"
APPLIED, SKIPPED = "applied", "skipped"


class ChangeRefused(Exception):
    """The database no longer allows this change; the reason is in words."""


@dataclass(frozen=True, slots=True)
class GitInfo:
    commit: str | None = None
    dirty: bool = False


def git_info(root: Path) -> GitInfo:
    """HEAD and whether the working tree is dirty; empty outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if head is None:
        return GitInfo()
    # The embedded database's folder is not part of the definition.
    status = git("status", "--porcelain", "--", ".", ":(exclude).campaign-gitops")
    return GitInfo(head.strip(), bool(status and status.strip()))


@dataclass
class ApplyResult:
    applied: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)  # already made (earlier or racing apply)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (resource, reason)
    serial: int = 0  # the apply log's serial after the last applied change

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        return {a: self.applied.get(a, 0) for a in ("create", "update", "transition", "run",
                                                      "archive")}


@dataclass
class _Apply:
    bundle: Bundle
    config: ProjectConfig
    git: GitInfo
    now: dt.datetime
    actor: str
    pending: list[t.CampaignRevision] = field(default_factory=list)  # revisions to stamp

    # -------------------------------------------------- helpers

    def entry(self, key: Key) -> Entry:
        entry = self.bundle.entries.get(key)
        if entry is None:
            raise ChangeRefused("the files no longer define it; re-plan")
        return entry

    def lock(self, session: Session, key: Key) -> t.Resource | None:
        stmt = select(t.Resource).where(
            t.Resource.client == key.client, t.Resource.kind == key.kind,
            t.Resource.name == key.name)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return session.scalars(stmt).first()

    def log(self, session: Session, change: Change, detail: dict[str, Any]) -> None:
        entry = t.ApplyLog(action=change.action, resource=str(change.key), detail=detail,
                           git_commit=self.git.commit, git_dirty=self.git.dirty,
                           actor=self.actor, at=self.now)
        session.add(entry)
        session.flush()
        for revision in self.pending:
            revision.apply_serial = entry.serial
        self.pending.clear()

    def fill(self, row: t.Resource, entry: Entry, spec: dict[str, Any]) -> None:
        meta = entry.resource.metadata
        row.spec = spec
        row.spec_hash = content_hash(spec)
        row.labels = dict(meta.labels)
        row.annotations = dict(meta.annotations)
        row.protected = entry.resource.annotation_flag(ANNOTATION_PROTECT)
        row.source_file = entry.file
        row.source_commit = self.git.commit
        row.updated_at = self.now

    def revision(self, session: Session, row: t.Resource, spec: dict[str, Any]) -> None:
        last = session.scalar(select(func.max(t.CampaignRevision.revision)).where(
            t.CampaignRevision.resource_id == row.id)) or 0
        revision = t.CampaignRevision(
            resource_id=row.id, revision=last + 1, spec=spec, content_hash=content_hash(spec),
            git_commit=self.git.commit, git_dirty=self.git.dirty, source_file=row.source_file,
            applied_at=self.now)
        session.add(revision)
        self.pending.append(revision)

    def ensure_client_row(self, session: Session, name: str) -> None:
        row = session.get(t.Client, name)
        defaults = self.config.client_defaults
        if row is None:
            session.add(t.Client(name=name, subscription=defaults.subscription,
                                 credits=defaults.credits, created_at=self.now,
                                 updated_at=self.now))
        elif row.deleted_at is not None:
            row.deleted_at = None
            row.updated_at = self.now

    # -------------------------------------------------- executors

    def create(self, session: Session, change: Change) -> dict[str, Any]:
        entry = self.entry(change.key)
        spec = desired_spec(entry)
        row = self.lock(session, change.key)
        if row is not None and row.deleted_at is None:
            raise _Skip
        restored = row is not None
        if row is None:
            row = t.Resource(client=change.key.client, kind=change.key.kind,
                             name=change.key.name, created_at=self.now, generation=1)
            session.add(row)
        else:
            row.deleted_at = None
            row.generation += 1
        self.fill(row, entry, spec)
        session.flush()
        if change.key.kind == "Client":
            self.ensure_client_row(session, change.key.name)
        if change.key.kind == "Campaign":
            if session.get(t.Campaign, row.id) is None:
                session.add(t.Campaign(resource_id=row.id, status="draft",
                                       updated_at=self.now))
            self.revision(session, row, spec)
        return {"restored": restored} if restored else {}

    def update(self, session: Session, change: Change) -> dict[str, Any]:
        entry = self.entry(change.key)
        spec = desired_spec(entry)
        renamed = change.from_ is not None and change.from_ != change.key.name
        row = self.lock(session, change.key)
        if renamed and row is None:
            row = self.lock(session, change.key._replace(name=str(change.from_)))
        if row is None or row.deleted_at is not None:
            raise ChangeRefused("it is no longer in the database; re-plan")
        meta = entry.resource.metadata
        same = (row.name == change.key.name and row.spec == spec
                and (row.labels or {}) == dict(meta.labels)
                and (row.annotations or {}) == dict(meta.annotations)
                and row.source_file == entry.file)
        if same:
            raise _Skip
        new_definition = definition(row.kind, row.spec or {}) != definition(row.kind, spec)
        row.name = change.key.name
        self.fill(row, entry, spec)
        row.generation += 1
        if row.kind == "Campaign" and (new_definition or renamed):
            self.revision(session, row, spec)
        detail: dict[str, Any] = {"fields": [f.path for f in change.fields]}
        if renamed:
            detail["renamed_from"] = change.from_
        return detail

    def transition(self, session: Session, change: Change) -> dict[str, Any]:
        row = self.lock(session, change.key)
        campaign = session.get(t.Campaign, row.id) if row is not None else None
        if row is None or campaign is None or row.deleted_at is not None:
            raise ChangeRefused("the campaign is not in the database; re-plan")
        if campaign.status == change.to:
            raise _Skip
        if campaign.status != change.from_:
            raise ChangeRefused(f"its status moved to {campaign.status} since the plan; re-plan")
        if change.to == "active":
            self.check_client(session, row.client)
        campaign.status = str(change.to)
        stamp = {"active": "activated_at", "paused": "paused_at", "completed": "completed_at"}
        if change.to in stamp:
            setattr(campaign, stamp[str(change.to)], self.now)
        campaign.updated_at = self.now
        return {"from": change.from_, "to": change.to}

    def check_client(self, session: Session, name: str) -> None:
        client = session.get(t.Client, name)
        if client is None:
            return
        if client.subscription not in ACTIVATABLE:
            raise ChangeRefused(f"cannot activate: client {name}'s subscription is "
                                f"{client.subscription}")
        if client.credits <= 0:
            raise ChangeRefused(f"cannot activate: client {name} has no credits")

    def run(self, session: Session, change: Change) -> dict[str, Any]:
        entry = self.entry(change.key)
        name = str(change.to)
        decl = next((r for r in entry.resource.spec.runs if r.name == name), None)
        if decl is None:
            raise ChangeRefused(f"run {name} is no longer declared; re-plan")
        row = self.lock(session, change.key)
        if row is None or row.deleted_at is not None:
            raise ChangeRefused("the campaign is not in the database")
        exists = session.scalar(select(t.CampaignRun.id).where(
            t.CampaignRun.campaign_id == row.id, t.CampaignRun.name == name))
        if exists is not None:
            raise _Skip
        campaign = session.get(t.Campaign, row.id)
        if decl.type != "test_run" and (campaign is None or campaign.status != "active"):
            status = campaign.status if campaign else "missing"
            raise ChangeRefused(f"run {name} needs the campaign active; it is {status}")
        revision = session.scalars(select(t.CampaignRevision).where(
            t.CampaignRevision.resource_id == row.id).order_by(
            t.CampaignRevision.revision.desc()).limit(1)).first()
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
        _start_run(session, run, self.now)
        return {"run": name, "type": decl.type, "revision": revision.revision,
                "config_hash": config_hash}

    def archive(self, session: Session, change: Change) -> dict[str, Any]:
        row = self.lock(session, change.key)
        if row is None or row.deleted_at is not None:
            raise _Skip
        if row.protected:
            raise ChangeRefused(f"protected ({ANNOTATION_PROTECT}): prune refuses it")
        detail: dict[str, Any] = {}
        campaign = session.get(t.Campaign, row.id) if row.kind == "Campaign" else None
        if campaign is not None and campaign.status == "active":
            campaign.status = "completed"
            campaign.completed_at = self.now
            campaign.updated_at = self.now
            detail["completed"] = True
        if row.kind == "Client":
            client = session.get(t.Client, row.name)
            if client is not None:
                client.deleted_at = self.now
        row.deleted_at = self.now
        row.updated_at = self.now
        return detail


class _Skip(Exception):
    """The change is already in the database."""


def _start_run(session: Session, run: t.CampaignRun, now: dt.datetime) -> None:
    try:
        from campaign_gitops.runs.start import start_run
    except ImportError:  # the runs part is not installed: the run stays as inserted
        return
    start_run(session, run, now=now)


EXECUTORS: dict[str, Callable[[_Apply, Session, Change], dict[str, Any]]] = {
    "create": _Apply.create,
    "update": _Apply.update,
    "transition": _Apply.transition,
    "run": _Apply.run,
    "archive": _Apply.archive,
}


def _delay() -> float:
    try:
        return float(os.environ.get(DELAY_ENV, "0") or 0)
    except ValueError:
        return 0.0


def apply_changes(db: Database, plan: Plan, bundle: Bundle, *,
                  config: ProjectConfig | None = None, git: GitInfo | None = None,
                  actor: str = "cli", now: dt.datetime | None = None,
                  on_change: Callable[[Change, str, str], None] | None = None) -> ApplyResult:
    """Execute ``plan``: each change in its own transaction, in the plan's order.

    ``on_change(change, outcome, reason)`` is told each outcome (applied, skipped,
    error) so a caller can show progress; this module never prints.
    """
    work = _Apply(bundle, config or ProjectConfig(), git or git_info(bundle.root),
                  now or dt.datetime.now(dt.UTC), actor)
    result = ApplyResult()
    delay = _delay()
    for change in plan.changes:
        if change.action == "noop":
            continue
        if change.action == "error":
            result.errors.append((change.resource, change.reason))
            _tell(on_change, change, "error", change.reason)
            continue
        outcome, reason = _execute(db, work, change)
        if outcome == APPLIED:
            result.applied[change.action] += 1
        elif outcome == SKIPPED:
            result.skipped.append(change.resource)
        else:
            result.errors.append((change.resource, reason))
        _tell(on_change, change, outcome, reason)
        if delay:
            time.sleep(delay)
    with db.session() as session:
        result.serial = int(session.scalar(select(func.max(t.ApplyLog.serial))) or 0)
    return result


def _tell(on_change: Callable[[Change, str, str], None] | None, change: Change, outcome: str,
          reason: str) -> None:
    if on_change is not None:
        on_change(change, outcome, reason)


def _execute(db: Database, work: _Apply, change: Change) -> tuple[str, str]:
    work.pending.clear()
    try:
        with db.session() as session:
            detail = EXECUTORS[change.action](work, session, change)
            work.log(session, change, detail)
    except _Skip:
        return SKIPPED, "already in the database"
    except ChangeRefused as exc:
        return "error", str(exc)
    except IntegrityError:
        return SKIPPED, "made concurrently by another apply"
    return APPLIED, ""
