"""Plan -> database: one transaction per resource change; never formats text.

Every executor locks the row it changes and re-checks the database before writing, so
a change already made (by an earlier, killed apply or by a racing one) is *skipped*,
never made twice; each run name starts once, enforced by the unique constraint
``(campaign_id, name)``. Every applied change appends to ``apply_log`` with the git
commit of the repo. ``delay`` (seconds, given by the caller) sleeps between changes so
a test can kill an apply in the middle.

On PostgreSQL the changes of one phase (one kind's creates and updates, the
transitions, the runs, one kind's archives) run over ``CAMPAIGN_GITOPS_APPLY_WORKERS``
connections (default 8, at most 8: the engine's pool holds 10), phases one after
another: still one transaction per change, the same locks, outcomes reported in the
plan's order. SQLite has one writer: serial.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from campaign_gitops.config.bundle import Bundle
from campaign_gitops.config.models import KIND_ORDER
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.reconcile.apply_steps import (
    APPLIED,
    ERROR,
    EXECUTORS,
    LEFT_ALONE,
    RUNS,
    SKIPPED,
    ApplyWork,
    ChangeRefused,
    GitInfo,
    Outcome,
    R,
    Skip,
)
from campaign_gitops.reconcile.plan import Action, Change, Plan
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import Database

WORKERS_ENV = "CAMPAIGN_GITOPS_APPLY_WORKERS"
# Each change's commit waits for a WAL flush (~2.5 ms here); concurrent commits share
# one flush, so 8 connections apply ~1.5x faster than 4. At most MAX_WORKERS: the pool
# (state/db.py: 5 + 5 overflow) must keep a connection for the caller.
DEFAULT_WORKERS = 8
MAX_WORKERS = 8


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
        """Applied changes by action; ``run`` counts runs started, ``cancel`` runs
        cancelled."""
        return {a: self.applied.get(a, 0) for a in ("create", "update", "transition", "run",
                                                      "cancel", "archive")}



def apply_changes(db: Database, plan: Plan, bundle: Bundle, *, now: dt.datetime,
                  config: ProjectConfig | None = None, git: GitInfo | None = None,
                  actor: str = "cli",
                  on_change: Callable[[Change, str, str], None] | None = None,
                  guard: Callable[[Connection], None] | None = None,
                  delay: float = 0.0) -> ApplyResult:
    """Execute ``plan``: each change in its own transaction, in the plan's order.

    ``now`` stamps every row and log entry (the caller's clock: time is an input).
    ``on_change(change, outcome, reason)`` is told each outcome (applied, skipped,
    error) so a caller can show progress; this module never prints. ``guard`` runs
    first in every change's transaction (the daemon's lease check); what it raises
    rolls that change back and propagates. ``delay``: seconds to sleep after each
    change, serially (tests kill an apply in the middle).
    """
    work = ApplyWork(bundle, config or ProjectConfig(), git or git_info(bundle.root),
                  now, actor, postgres=db.is_postgres,
                  guard=guard)
    result = ApplyResult()
    workers = _workers(db, delay)
    if workers > 1:
        _apply_parallel(db, work, plan, result, workers, on_change)
    else:
        # One connection for the whole apply (no pool checkout or ping per change); each
        # change is still its own transaction on it.
        with db.engine.connect() as connection:
            _apply_all(connection, work, plan, result, delay, on_change)
    with db.session() as session:
        result.serial = int(session.scalar(select(func.max(t.ApplyLog.serial))) or 0)
    return result


def _workers(db: Database, delay: float) -> int:
    """Parallel appliers: PostgreSQL only (SQLite has one writer), not under the test delay."""
    if not db.is_postgres or delay:
        return 1
    try:
        return min(MAX_WORKERS, max(1, int(os.environ.get(WORKERS_ENV, DEFAULT_WORKERS))))
    except ValueError:
        return DEFAULT_WORKERS


def _record(result: ApplyResult, change: Change, outcome: str, reason: str,
            on_change: Callable[[Change, str, str], None] | None) -> None:
    if outcome == LEFT_ALONE:
        return
    if outcome == APPLIED:
        result.applied[change.action.value] += 1
    elif outcome == SKIPPED:
        result.skipped.append(change.resource)
    else:
        result.errors.append((change.resource, reason))
    _tell(on_change, change, outcome, reason)


def _apply_all(connection: Connection, work: ApplyWork, plan: Plan, result: ApplyResult,
               delay: float, on_change: Callable[[Change, str, str], None] | None) -> None:
    for change in plan.changes:
        outcome, reason = _execute(connection, work, change)
        _record(result, change, outcome, reason, on_change)
        if delay and outcome != LEFT_ALONE:
            time.sleep(delay)


def _phase(change: Change) -> tuple[int, int] | None:
    """Changes of one phase do not depend on each other: resources of one kind, then
    transitions, then runs and cancels, then archives of one kind (the plan's order).
    An error is in the phase of the action it replaced; a noop in none (it goes along)."""
    order = KIND_ORDER.get(change.key.kind, 99)
    action = change.instead_of if change.action == Action.ERROR else change.action
    return {Action.CREATE: (0, order), Action.UPDATE: (0, order), Action.TRANSITION: (1, 0),
            Action.RUN: (2, 0), Action.CANCEL: (2, 0),
            Action.ARCHIVE: (3, -order)}.get(action) if action is not None else None


def _phases(changes: Iterable[Change]) -> Iterator[list[Change]]:
    """``changes`` cut where the phase changes; a change of no phase joins the current."""
    group: list[Change] = []
    current: tuple[int, int] | None = None
    for change in changes:
        phase = _phase(change)
        if phase is not None and phase != current:
            if group and current is not None:
                yield group
                group = []
            current = phase
        group.append(change)
    if group:
        yield group


def _apply_parallel(db: Database, work: ApplyWork, plan: Plan, result: ApplyResult,
                    workers: int, on_change: Callable[[Change, str, str], None] | None) -> None:
    """Each phase's changes over ``workers`` connections (still one transaction per
    change, rows locked FOR UPDATE), phases one after another; outcomes in plan order."""
    local = threading.local()
    opened: list[Connection] = []
    lock = threading.Lock()

    def execute(change: Change) -> tuple[str, str]:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = db.engine.connect()
            with lock:
                opened.append(connection)
        return _execute(connection, work, change)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for group in _phases(plan.changes):
                submitted = [(c, pool.submit(execute, c)) for c in group]
                for change, future in submitted:
                    _record(result, change, *future.result(), on_change)
    finally:
        for connection in opened:
            connection.close()


def _tell(on_change: Callable[[Change, str, str], None] | None, change: Change, outcome: str,
          reason: str) -> None:
    if on_change is not None:
        on_change(change, outcome, reason)


def _execute(connection: Connection, work: ApplyWork, change: Change) -> Outcome:
    work = replace(work, pending=[])  # per change: executions may run in parallel
    try:
        return EXECUTORS[change.action](work, connection, change)
    except Skip as exc:
        return SKIPPED, str(exc) or "already in the database"
    except ChangeRefused as exc:
        return ERROR, str(exc)
    except IntegrityError as exc:
        if _landed_concurrently(connection, change, exc):
            return SKIPPED, "made concurrently by another apply"
        return ERROR, f"the database refused it: {_constraint_failure(exc)}"


# The races apply expects: two appliers inserting the same run name or the same resource.
RACE_CONSTRAINTS = {Action.RUN: "uq_run_name", Action.CREATE: "uq_resources_identity"}
_RACE_COLUMNS = {"uq_run_name": "campaign_runs.campaign_id, campaign_runs.name",
                 "uq_resources_identity": "resources.client, resources.kind, resources.name"}


def _constraint_name(exc: IntegrityError) -> str | None:
    """The violated constraint: PostgreSQL names it (``diag.constraint_name``); SQLite
    names the columns (``UNIQUE constraint failed: t.a, t.b``), mapped back here."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    message = str(exc.orig)
    for constraint, columns in _RACE_COLUMNS.items():
        if message.strip() == f"UNIQUE constraint failed: {columns}":
            return constraint
    return None


def _constraint_failure(exc: IntegrityError) -> str:
    name = _constraint_name(exc)
    first = (str(exc.orig).strip().splitlines() or ["integrity error"])[0]
    return f"{first} (constraint {name})" if name and name not in first else first


def _landed_concurrently(connection: Connection, change: Change, exc: IntegrityError) -> bool:
    """True only for an expected race whose winner's row is really there (re-read after
    the rollback): the run name started, or the resource live under its identity."""
    if _constraint_name(exc) != RACE_CONSTRAINTS.get(change.action):
        return False
    key = change.key
    identity = (R.c.client == key.client, R.c.kind == key.kind, R.c.name == key.name)
    if change.action == Action.RUN:
        stmt = select(RUNS.c.id).join(R, R.c.id == RUNS.c.campaign_id).where(
            *identity, RUNS.c.name == str(change.to))
    else:
        stmt = select(R.c.id).where(*identity, R.c.deleted_at.is_(None))
    with connection.begin():
        return connection.execute(stmt).first() is not None
