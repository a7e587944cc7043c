"""One reconcile pass: source -> bundle -> preflight -> plan -> apply, full or incremental.

``Reconciler.reconcile_once(paths)`` is the daemon's unit of work, testable without a
watcher or a clock: given the files that changed (or none: a full resync) it re-reads
only those, finds the clients they touch, builds the bundle of those clients' files,
loads the database rows of those clients only, plans and applies. The plan is pure, so
planning a subset is planning the subset's bundle against the subset's snapshot
(references and preflight rules never cross a client).

Fail closed: a file that fails to load is held by the plan (its resources unknown,
never orphans); a resource with a preflight error gets an ``error`` change and keeps
its last applied state. A resource whose apply fails is retried with backoff
(``Backoff``), the others go on. Suspended resources are left alone by the plan.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from campaign_gitops.config.bundle import Bundle, Key, build_bundle
from campaign_gitops.config.loader import FileResult
from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.findings import Finding
from campaign_gitops.preflight.engine import run_preflight
from campaign_gitops.reconcile.apply import apply_changes
from campaign_gitops.reconcile.apply_steps import GitInfo
from campaign_gitops.reconcile.backoff import DEFAULT_DELAYS, Backoff
from campaign_gitops.reconcile.blockers import errors_by_resource, run_errors, unstarted_view
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, Metrics
from campaign_gitops.reconcile.leader import LeaseLost
from campaign_gitops.reconcile.plan import (
    Action,
    Change,
    LeftAlone,
    Plan,
    PlanErrors,
    PlanOptions,
    build_plan,
    spec_action,
)
from campaign_gitops.reconcile.sources import GitSource, SourceRead, WorktreeSource
from campaign_gitops.reconcile.sync import (
    DAEMON_BACKOFF,
    DAEMON_ERROR,
    DAEMON_HELD,
    DAEMON_ORPHAN,
    DAEMON_STATES,
    DAEMON_SUSPENDED,
    DAEMON_SYNCED,
)
from campaign_gitops.state import kv
from campaign_gitops.state.db import Database
from campaign_gitops.state.snapshot import Snapshot, load_snapshot


@dataclass(frozen=True, slots=True)
class FileProblem:
    """Why a file is failing: the first error of each (line, rule) in it."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    resource: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "rule": self.rule,
                "message": self.message, "resource": self.resource}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.rule}"


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    mode: str  # full | incremental | idle
    commit: str | None
    applied: tuple[tuple[str, str], ...] = ()  # (resource, action)
    errors: tuple[tuple[str, str, str], ...] = ()  # (resource, action, reason)
    held: tuple[tuple[str, str], ...] = ()  # (resource, reason): frozen, backoff
    failing: tuple[FileProblem, ...] = ()
    clients: int = 0  # how many clients the pass looked at
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failing


@dataclass(frozen=True, slots=True)
class Options:
    prune: bool = False
    allow_mass_prune: bool = False
    backoff: tuple[float, ...] = DEFAULT_DELAYS
    actor: str = "reconcile"
    apply_delay: float = 0.0  # seconds after each change (tests stop a pass midway)


def clients_of(result: FileResult) -> set[str]:
    """The clients a file's documents name (read from the raw data: also when invalid)."""
    out: set[str] = set()
    for doc in result.documents:
        data = doc.data if isinstance(doc.data, dict) else {}
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            continue
        name, client = meta.get("name"), meta.get("client")
        owner = name if data.get("kind") == "Client" else client
        if isinstance(owner, str) and owner:
            out.add(owner)
    return out


def load_scoped_snapshot(db: Database, clients: Collection[str] | None) -> Snapshot:
    with db.session() as session:
        return load_snapshot(session, clients)


def problems_of(findings: Iterable[Finding]) -> dict[str, list[FileProblem]]:
    out: dict[str, list[FileProblem]] = defaultdict(list)
    seen: set[tuple[str, int, str]] = set()
    for f in sorted(findings, key=Finding.sort_key):
        loc = f.location
        if not f.is_error or (loc.file, loc.line, f.rule) in seen:
            continue
        seen.add((loc.file, loc.line, f.rule))
        out[loc.file].append(FileProblem(loc.file, loc.line, loc.column, f.rule, f.message,
                                         f.resource))
    return out


@dataclass
class Reconciler:
    project: Project
    db: Database
    source: WorktreeSource | GitSource
    config: ProjectConfig = field(default_factory=ProjectConfig)
    options: Options = field(default_factory=Options)
    log: EventLog = field(default_factory=EventLog)
    metrics: Metrics = field(default_factory=Metrics)
    health: Health = field(default_factory=Health)
    backoff: Backoff = field(init=False)
    file_clients: dict[str, frozenset[str]] = field(default_factory=dict)
    client_files: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    problems: dict[str, list[FileProblem]] = field(default_factory=dict)
    sync: dict[Key, str] = field(default_factory=dict)
    files: dict[str, FileResult] = field(default_factory=dict)
    full_done: bool = False
    # Asked before each change: False stops the pass (shutdown, or the lead was lost).
    keep_going: Callable[[], bool] = field(default=lambda: True)
    # Run first in each change's transaction: raises LeaseLost when no longer the leader.
    apply_guard: Callable[[Connection], None] | None = None

    def __post_init__(self) -> None:
        self.backoff = Backoff(self.options.backoff)

    # -------------------------------------------------- the pass

    def reconcile_once(self, paths: Collection[str] | None = None, *,
                       now: dt.datetime | None = None, clock: float | None = None,
                       retry_due: bool = True) -> ReconcileResult:
        """A full pass (``paths`` None, or before the first full one) or an incremental one.

        ``now`` is the wall time for freeze windows and the records; ``clock`` the
        monotonic time backoff is measured in. Both default to the real clocks.
        """
        started = time.perf_counter()
        now = now or dt.datetime.now(dt.UTC)
        clock = time.monotonic() if clock is None else clock
        full = paths is None or not self.full_done
        read = self.source.read(None if full else paths)
        self.files = read.files
        scope: set[str] | None = None
        if not full:
            scope = self._touched(read)
            if retry_due:
                scope |= {Key.parse(k).client for k, r in self.backoff.pending().items()
                          if r.retry_at <= clock}
            if not read.changed and not scope:
                return ReconcileResult("idle", read.commit, failing=self.failing())
        self._index(read, full)
        if scope is None:
            names = list(read.files)
        else:
            names = sorted(({f for c in scope for f in self.client_files.get(c, ())}
                            | set(read.changed)) & set(read.files))
        bundle = build_bundle([read.files[n] for n in names], self.project.root,
                              self.project.resources_dir)
        snapshot = load_scoped_snapshot(self.db, scope)
        # Preflight as plan sees it: runs the database already started are history.
        findings = run_preflight(unstarted_view(bundle, snapshot), config=self.config)
        self._record_problems(bundle, findings, read.changed, full)
        errors = PlanErrors(errors_by_resource(findings),
                            run_errors(bundle, snapshot, self.config))
        options = PlanOptions(prune=self.options.prune, now=now, config=self.config,
                              allow_mass_prune=self.options.allow_mass_prune)
        plan = build_plan(bundle, snapshot, errors, options)
        result = self._apply(plan, bundle, read, now, clock, "full" if full else "incremental",
                             scope)
        if full:
            self.full_done = True
        result = _with_duration(result, time.perf_counter() - started)
        self._report(result)
        return result

    # -------------------------------------------------- scope

    def _touched(self, read: SourceRead) -> set[str]:
        touched: set[str] = set()
        for name in read.changed:
            touched |= self.file_clients.get(name, frozenset())
            if name in read.files:
                touched |= clients_of(read.files[name])
        return touched

    def _index(self, read: SourceRead, full: bool) -> None:
        names = read.files if full else read.changed
        if full:
            self.file_clients.clear()
            self.client_files.clear()
        for name in names:
            old = self.file_clients.pop(name, frozenset())
            for client in old:
                self.client_files[client].discard(name)
            result = read.files.get(name)
            if result is None:
                continue
            new = clients_of(result)
            if result.failed:  # keep the old owners: their rows are held by this file
                new |= old
            self.file_clients[name] = frozenset(new)
            for client in new:
                self.client_files[client].add(name)

    def _record_problems(self, bundle: Bundle, findings: list[Finding],
                         changed: Collection[str], full: bool) -> None:
        if full:
            self.problems.clear()
        for name in {*bundle.files, *changed}:
            self.problems.pop(name, None)
        for name, found in problems_of(findings).items():
            if name in bundle.files or name in changed:
                self.problems[name] = found
        for name in list(self.problems):
            if name not in self.files:
                del self.problems[name]

    def failing(self) -> tuple[FileProblem, ...]:
        return tuple(p for name in sorted(self.problems) for p in self.problems[name])

    # -------------------------------------------------- apply

    def _apply(self, plan: Plan, bundle: Bundle, read: SourceRead, now: dt.datetime,
               clock: float, mode: str, scope: set[str] | None) -> ReconcileResult:
        git = GitInfo(read.commit, read.dirty)
        applied: list[tuple[str, str]] = []
        errors: list[tuple[str, str, str]] = []
        held: list[tuple[str, str]] = []
        states: dict[Key, str] = dict.fromkeys(bundle.entries, DAEMON_SYNCED)
        failed_keys: set[str] = set()
        for change in plan.changes:
            key = change.resource
            if change.left_alone == LeftAlone.FROZEN:
                states[change.key] = DAEMON_HELD
                held.append((key, change.reason))
                self.log("held", change.reason, resource=key,
                         action=str(change.instead_of),
                         commit=read.commit)
                continue
            if change.action == "noop":
                if change.left_alone in (LeftAlone.HELD, LeftAlone.UNKNOWN):
                    states[change.key] = DAEMON_HELD
                elif change.left_alone == LeftAlone.SUSPENDED:
                    states[change.key] = DAEMON_SUSPENDED
                elif change.left_alone == LeftAlone.ORPHAN:
                    states[change.key] = DAEMON_ORPHAN
                continue
            if change.action == "error":
                states[change.key] = DAEMON_ERROR
                replaced = str(change.instead_of or "error")
                errors.append((key, replaced, change.reason))
                self.log("error", change.reason, level="error", resource=key,
                         action=replaced, commit=read.commit)
                continue
            if not self.keep_going():
                held.append((key, "not applied: the daemon is stopping or lost the lead"))
                self.log("interrupted", "pass ended early; the rest waits for the next one",
                         level="warn", commit=read.commit)
                break
            waiting = self.backoff.waiting(key, clock)
            if waiting is not None or key in failed_keys:
                states[change.key] = DAEMON_BACKOFF
                if waiting is not None:
                    held.append((key, f"retry {waiting.attempts} in "
                                      f"{waiting.retry_at - clock:.1f}s: {waiting.error}"))
                continue
            outcome, reason = self._apply_one(plan, change, bundle, git, now)
            if outcome == "lost":
                held.append((key, f"not applied: {reason}"))
                self.log("interrupted", f"lost the lead: {reason}; rolled back, not applied",
                         level="warn", resource=key, commit=read.commit)
                break
            if outcome == "error":
                retry = self.backoff.failed(key, reason, clock)
                failed_keys.add(key)
                states[change.key] = DAEMON_BACKOFF
                errors.append((key, spec_action(change.action), reason))
                self.log("apply-failed", reason, level="error", resource=key,
                         action=spec_action(change.action), commit=read.commit,
                         attempt=retry.attempts,
                         retry_in=f"{retry.retry_at - clock:.0f}s")
                continue
            if key not in failed_keys:
                self.backoff.succeeded(key)
            if outcome == "applied":
                applied.append((key, spec_action(change.action)))
                self.metrics.changes.labels(spec_action(change.action)).inc()
                self.log("applied", change.reason, resource=key,
                         action=str(change.action), commit=read.commit,
                         run=change.run_name if change.action in (Action.RUN, Action.CANCEL)
                         else None)
        self._record_sync(states, scope)
        return ReconcileResult(mode, read.commit, tuple(applied), tuple(errors), tuple(held),
                               self.failing(), len(scope) if scope is not None else -1)

    def _apply_one(self, plan: Plan, change: Change, bundle: Bundle, git: GitInfo,
                   now: dt.datetime) -> tuple[str, str]:
        outcome: list[tuple[str, str]] = []
        single = Plan(changes=(change,), base_serial=plan.base_serial, prune=plan.prune)
        try:
            apply_changes(self.db, single, bundle, config=self.config, git=git,
                          actor=self.options.actor, now=now, delay=self.options.apply_delay,
                          on_change=lambda _c, o, r: outcome.append((o, r)),
                          guard=self.apply_guard)
        except LeaseLost as exc:  # rolled back: the new leader applies it
            return "lost", str(exc)
        except Exception as exc:  # an operational failure of this one change: retry later
            return "error", describe_error(exc)
        return outcome[0] if outcome else ("skipped", "")

    def _record_sync(self, states: dict[Key, str], scope: set[str] | None) -> None:
        if scope is None:
            self.sync = dict(states)
        else:
            self.sync = {k: v for k, v in self.sync.items() if k.client not in scope}
            self.sync.update(states)

    # -------------------------------------------------- reporting

    def _report(self, result: ReconcileResult) -> None:
        m = self.metrics
        m.duration.labels(result.mode).observe(result.duration)
        m.reconciles.labels("ok" if result.ok else "failed").inc()
        counts = defaultdict(int, {s: 0 for s in DAEMON_STATES})
        for state in self.sync.values():
            counts[state] += 1
        for state, n in counts.items():
            m.resources.labels(state).set(n)
        m.files_failing.set(len({p.file for p in result.failing}))
        at = dt.datetime.now(dt.UTC)
        if result.ok:
            m.last_success.set(at.timestamp())
        failing = [p.to_dict() for p in result.failing]
        errors = [{"resource": r, "action": a, "reason": why} for r, a, why in result.errors]
        self.health.update(last_ok=result.ok, last_at=at.isoformat(), commit=result.commit,
                           failing=failing, errors=errors)
        for problem in result.failing:
            self.log("file-failing", problem.message, level="warn", resource=problem.resource,
                     commit=result.commit, file=f"{problem.file}:{problem.line}",
                     rule=problem.rule)
        self.log("reconciled", "", commit=result.commit, mode=result.mode,
                 applied=len(result.applied), errors=len(result.errors),
                 held=len(result.held), failing_files=len({p.file for p in result.failing}),
                 ms=round(result.duration * 1000, 1))
        self._store(result, at, failing, errors)

    def _store(self, result: ReconcileResult, at: dt.datetime, failing: list[dict[str, Any]],
               errors: list[dict[str, Any]]) -> None:
        value = {
            "at": at.isoformat(), "commit": result.commit, "source": self.source.kind,
            "mode": result.mode, "ok": result.ok, "applied": len(result.applied),
            "failing_files": sorted({p["file"] for p in failing}), "findings": failing,
            "errors": errors, "held": [{"resource": r, "reason": why} for r, why in result.held],
        }
        with self.db.session() as session:
            kv.write(session, kv.RECONCILE_LAST, value, at)


def describe_error(exc: BaseException) -> str:
    """One line: the driver's message for a database error, else the exception's."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"[:500]


def _with_duration(result: ReconcileResult, seconds: float) -> ReconcileResult:
    return ReconcileResult(result.mode, result.commit, result.applied, result.errors,
                           result.held, result.failing, result.clients, seconds)
