"""Bundle + Snapshot -> Plan. Pure: no database session, no printing.

Set arithmetic on identities (alembic's compare): desired - actual = create,
actual - desired = orphan (archived only with ``prune``), both = update when the
field diff of the canonical forms is not empty. A campaign's lifecycle status is
compared apart from its definition (a transition, checked by ``lifecycle``), every
declared run the database has not started becomes a ``run`` change, and a run that
waits for its time but is no longer declared becomes a ``cancel`` change (shown as a
``run`` tagged ``cancel`` in the SPEC's JSON: ``render.py``).

A resource whose file failed to load is *held*: nothing of it changes, and a
database resource that came from such a file (or whose identity appears in it) is
*unknown*, never an orphan. One resource's error never blocks the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.cron import cron_problem, first_fire
from campaign_gitops.config.models import (
    ANNOTATION_PREVIOUS_NAME,
    ANNOTATION_PROTECT,
    ANNOTATION_SUSPEND,
    KIND_ORDER,
    RunDecl,
    canonical_spec,
)
from campaign_gitops.config.project import is_frozen
from campaign_gitops.findings import Finding
from campaign_gitops.jsondiff import FieldDiff, diff, leaves
from campaign_gitops.reconcile.lifecycle import check_transition
from campaign_gitops.reconcile.plan_types import (
    ACTIVATABLE,
    CHANGING,
    MASS_PRUNE_FLOOR,
    SYNC_OF_LEFT_ALONE,
    Action,
    Change,
    LeftAlone,
    Plan,
    PlanErrors,
    PlanOptions,
    spec_action,
    sync_states,
)
from campaign_gitops.state.snapshot import ResourceState, Snapshot


def started_runs(key: Key, snapshot: Snapshot) -> set[str]:
    """The names of a campaign's runs the database has started under ``key`` (archived
    rows too; a renamed campaign's runs are under its old name)."""
    started: set[str] = set()
    for states in (snapshot.resources, snapshot.archived):
        state = states.get(key)
        if state is not None:
            started |= set(state.runs)
    return started


def _error_reason(findings: Sequence[Finding]) -> tuple[str, tuple[str, ...]]:
    rules = tuple(sorted({f.rule for f in findings}))
    first = sorted(findings, key=lambda f: f.sort_key())
    shown = "; ".join(f"{f.rule} {f.message} ({f.location})" for f in first[:3])
    more = f"; and {len(first) - 3} more" if len(first) > 3 else ""
    return f"preflight failed: {shown}{more}", rules


# ---------------------------------------------------------------- helpers


def desired_spec(entry: Entry) -> dict[str, Any]:
    return canonical_spec(entry.resource.spec)


def definition(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """What an update compares: a campaign's status is a transition, not an update."""
    if kind == "Campaign":
        return {k: v for k, v in spec.items() if k != "status"}
    return dict(spec)


def _frozen(options: PlanOptions) -> str | None:
    if options.now is None or not options.config.freeze_windows:
        return None
    window = is_frozen(options.config, options.now)
    if window is None:
        return None
    return f"inside freeze window {window.name!r} ({window.cron}, {window.duration})"


@dataclass
class _Planner:
    bundle: Bundle
    snapshot: Snapshot
    options: PlanOptions
    errors: PlanErrors
    changes: list[Change] = field(default_factory=list)
    transitions: list[Change] = field(default_factory=list)
    runs: list[Change] = field(default_factory=list)
    renamed_from: set[Key] = field(default_factory=set)

    # -------------------------------------------------- resources

    def existing(self, entry: Entry) -> tuple[ResourceState | None, Key | None]:
        state = self.snapshot.resources.get(entry.key)
        if state is not None:
            return state, None
        old_name = entry.resource.annotations.get(ANNOTATION_PREVIOUS_NAME, "").strip()
        if old_name and entry.key.kind != "Client":
            old = Key(entry.key.client, entry.key.kind, old_name)
            if old in self.snapshot.resources and old not in self.bundle.entries:
                self.renamed_from.add(old)
                return self.snapshot.resources[old], old
        return None, None

    def resource(self, entry: Entry) -> None:
        key = entry.key
        if self.bundle.is_held(entry):
            self.changes.append(Change(Action.NOOP, key, reason=(
                f"held: {entry.file} failed to load; kept at its last applied state"),
                left_alone=LeftAlone.HELD))
            return
        if entry.resource.annotation_flag(ANNOTATION_SUSPEND):
            self.changes.append(Change(Action.NOOP, key, reason=(
                f"suspended ({ANNOTATION_SUSPEND}: \"true\"): reconcile leaves it alone"),
                left_alone=LeftAlone.SUSPENDED))
            return
        state, old_key = self.existing(entry)
        found = self.errors.resources.get(str(key))
        if found:
            reason, rules = _error_reason(found)
            self.changes.append(Change(
                Action.ERROR, key, reason=reason, rules=rules,
                instead_of=Action.CREATE if state is None else Action.UPDATE))
            return
        spec = desired_spec(entry)
        if state is None:
            self.create(entry, spec)
        else:
            self.update(entry, spec, state, old_key)
        if key.kind == "Campaign":
            self.campaign(entry, spec, state)

    def create(self, entry: Entry, spec: dict[str, Any]) -> None:
        fields = tuple(leaves(definition(entry.key.kind, spec), ("spec",)))
        reason = ("restores the archived resource" if entry.key in self.snapshot.archived
                  else "")
        self.changes.append(Change(Action.CREATE, entry.key, fields=fields, reason=reason))

    def update(self, entry: Entry, spec: dict[str, Any], state: ResourceState,
               old_key: Key | None) -> None:
        kind = entry.key.kind
        meta = entry.resource.metadata
        fields: tuple[FieldDiff, ...] = ()
        if old_key is not None:
            fields += (FieldDiff("metadata.name", old_key.name, entry.key.name),)
        fields += diff(definition(kind, state.spec), definition(kind, spec), ("spec",))
        fields += diff(dict(state.labels), dict(meta.labels), ("metadata", "labels"))
        fields += diff(dict(state.annotations), dict(meta.annotations),
                       ("metadata", "annotations"))
        if state.source_file != entry.file:
            fields += (FieldDiff("file", state.source_file, entry.file),)
        if not fields:
            return
        if old_key is not None:
            self.changes.append(Change(
                Action.UPDATE, entry.key, from_=old_key.name, to=entry.key.name, fields=fields,
                reason=f"renamed from {old_key.name}: history, revisions and runs stay"))
            return
        only_file = all(f.path == "file" for f in fields)
        reason = "moved to another file" if only_file else ""
        self.changes.append(Change(Action.UPDATE, entry.key, fields=fields, reason=reason))

    # -------------------------------------------------- campaigns

    def campaign(self, entry: Entry, spec: dict[str, Any], state: ResourceState | None) -> None:
        # A restored (archived) campaign keeps its row and its status: apply's create
        # reuses both, so the transition is from that status, not from draft.
        known = state if state is not None else self.snapshot.archived.get(entry.key)
        current = known.status if known is not None and known.status else "draft"
        desired = spec.get("status", "draft")
        will_be_active = current == "active"
        if desired != current:
            change = self.transition(entry, current, desired)
            self.transitions.append(change)
            will_be_active = desired == "active" and (
                change.action == Action.TRANSITION or change.left_alone == LeftAlone.FROZEN)
        started = set(state.runs) if state is not None else set()  # state: renames too
        archived = self.snapshot.archived.get(entry.key)
        if archived is not None:
            started |= archived.runs
        for run in entry.resource.spec.runs:
            if run.name not in started:
                self.runs.append(self.run(entry, run, will_be_active))
        if state is not None:
            declared = {run.name for run in entry.resource.spec.runs}
            for name, cron in sorted(state.pending_runs.items()):
                if name not in declared:
                    self.runs.append(self.cancel(entry, name, cron))
            for name in sorted(declared & state.cancelled_runs):
                self.runs.append(Change(
                    Action.NOOP, entry.key, to=name, left_alone=LeftAlone.CANCELLED,
                    instead_of=Action.RUN, reason=(
                        f"run {name} was cancelled when its declaration was removed; a run "
                        "name starts once: declare it under a new name to run it")))

    def cancel(self, entry: Entry, name: str, cron: str | None) -> Change:
        """A run that waits for its time (or a recurring series between fires) whose
        declaration left the file: it will not start. A run already started is in flight
        and stays (SPEC: complete the campaign to stop it)."""
        what = (f"a recurring series ({cron}): no more occurrences; those started walk on"
                if cron else "scheduled, not started")
        return Change(Action.CANCEL, entry.key, from_=name,
                      reason=f"no longer declared; {what}")

    def transition(self, entry: Entry, current: str, desired: str) -> Change:
        key = entry.key
        problem = check_transition(current, desired)
        if problem is None and desired == "active":
            problem = self.activation_problem(key.client)
            frozen = _frozen(self.options) if problem is None else None
            if frozen is not None:  # held, not failed: it activates when the window ends
                return Change(Action.NOOP, key, from_=current, to=desired,
                              left_alone=LeftAlone.FROZEN, instead_of=Action.TRANSITION,
                              reason=f"activation held: {frozen}")
        if problem is not None:
            return Change(Action.ERROR, key, from_=current, to=desired, reason=problem,
                          instead_of=Action.TRANSITION)
        return Change(Action.TRANSITION, key, from_=current, to=desired)

    def activation_problem(self, client: str) -> str | None:
        state = self.snapshot.clients.get(client)
        defaults = self.options.config.client_defaults
        subscription = state.subscription if state else defaults.subscription
        credits = state.credits if state else defaults.credits
        hint = f"campaign-gitops client set {client}"
        if subscription not in ACTIVATABLE:
            return (f"cannot activate: client {client}'s subscription is {subscription} "
                    f"(needs active or trialing; {hint} --subscription active)")
        if credits <= 0:
            return (f"cannot activate: client {client} has {credits} credits "
                    f"({hint} --credits N)")
        return None

    def run(self, entry: Entry, run: RunDecl, will_be_active: bool) -> Change:
        key = entry.key
        when = f" at {run.at.isoformat()}" if run.at is not None else ""
        reason = self.recurring(entry, run) or f"{run.type}{when}"
        findings = self.errors.runs.get((key, run.type))
        if findings:
            why, rules = _error_reason(findings)
            return Change(Action.ERROR, key, to=run.name, reason=f"run {run.name}: {why}",
                          rules=rules, instead_of=Action.RUN)
        if run.type != "test_run" and not will_be_active:
            return Change(Action.ERROR, key, to=run.name, instead_of=Action.RUN,
                          rules=("PF006",), reason=(
                f"run {run.name} ({run.type}) needs the campaign active; it will not be"))
        frozen = _frozen(self.options)
        if frozen is not None and run.type != "test_run":
            return Change(Action.NOOP, key, to=run.name,
                          reason=f"run {run.name} waits: {frozen}",
                          left_alone=LeftAlone.FROZEN, instead_of=Action.RUN)
        return Change(Action.RUN, key, to=run.name, reason=reason)

    def recurring(self, entry: Entry, run: RunDecl) -> str | None:
        """The reason of a recurring schedule run (its Schedule has a cron), else None:
        the cron, its timezone and the first fire (at or after the run's ``at`` or the
        Schedule's ``startAt``, and not before now)."""
        if run.type != "schedule":
            return None
        schedule = self.bundle.get(entry.key.client, "Schedule", entry.resource.spec.schedule)
        spec = schedule.resource.spec if schedule is not None else None
        if spec is None or spec.cron is None or cron_problem(spec.cron) is not None:
            return None
        reason = f"schedule, recurring {spec.cron} ({spec.timezone})"
        start = run.at or spec.start_at
        if self.options.now is None:
            return reason + (f", from {start.isoformat()}" if start is not None else "")
        try:
            first = first_fire(spec.cron, spec.timezone, start, self.options.now)
        except (ValueError, LookupError, OSError):  # an unknown timezone: PF017 says so
            return reason
        return reason + (f", first {first.isoformat()}" if first is not None else "")

    # -------------------------------------------------- orphans

    def orphans(self) -> list[Change]:
        held = self.bundle.invalid  # named by a document that does not load or validate
        failed = self.bundle.failed_files
        out: list[Change] = []
        for key, state in self.snapshot.resources.items():
            if key in self.bundle.entries or key in self.renamed_from:
                continue
            if key in held or (state.source_file in failed):
                out.append(Change(Action.NOOP, key, left_alone=LeftAlone.UNKNOWN, reason=(
                    f"unknown: {state.source_file or 'its file'} failed to load; "
                    "not an orphan, nothing of it changes")))
            elif not self.options.prune:
                out.append(Change(Action.NOOP, key, left_alone=LeftAlone.ORPHAN, reason=(
                    f"orphan: no file defines it any more (was {state.source_file}); "
                    "--prune archives it")))
            elif state.protected:  # expected state, not an error: shown, never failed
                out.append(Change(Action.NOOP, key, left_alone=LeftAlone.PROTECTED, reason=(
                    f"protected orphan ({ANNOTATION_PROTECT}): prune keeps it; "
                    "restore its file with the annotation removed to release it")))
            else:
                note = " (active: completed first)" if state.status == "active" else ""
                out.append(Change(Action.ARCHIVE, key, from_=state.status, to="archived",
                                  reason=f"no file defines it any more{note}"))
        out.sort(key=lambda c: (-KIND_ORDER.get(c.key.kind, 99), c.key.client, c.key.name))
        return self._mass_prune_guard(out)

    def _mass_prune_guard(self, orphans: list[Change]) -> list[Change]:
        """Refuse a prune that would archive more than ``pruneMaxShare`` of what exists
        (beyond MASS_PRUNE_FLOOR): each archive becomes an error saying why and how."""
        archives = sum(c.action == Action.ARCHIVE for c in orphans)
        total = len(self.snapshot.resources)
        share = self.options.config.prune_max_share
        if (self.options.allow_mass_prune or archives <= MASS_PRUNE_FLOOR
                or archives <= share * total):
            return orphans
        reason = (f"refused: --prune would archive {archives} of the {total} resources in "
                  f"the database ({archives / total:.0%}, over pruneMaxShare {share:.0%}); "
                  "check the working directory and --dir (an emptied or wrong folder reads "
                  "as everything deleted); if this is intended, pass --allow-mass-prune")
        return [Change(Action.ERROR, c.key, from_=c.from_, to=c.to, reason=reason,
                       instead_of=Action.ARCHIVE)
                if c.action == Action.ARCHIVE else c for c in orphans]


def build_plan(bundle: Bundle, snapshot: Snapshot, errors: PlanErrors,
               options: PlanOptions | None = None) -> Plan:
    """The changes that make the database match the files, in dependency order;
    ``errors`` (``blockers.plan_errors``) say which changes preflight blocks."""
    options = options or PlanOptions()
    planner = _Planner(bundle, snapshot, options, errors)
    for entry in bundle.ordered():
        planner.resource(entry)
    orphans = planner.orphans()
    archives = [c for c in orphans if c.left_alone != LeftAlone.ORPHAN]
    noops = [c for c in orphans if c.left_alone == LeftAlone.ORPHAN]
    changes = (*planner.changes, *planner.transitions, *planner.runs, *archives, *noops)
    hashes = {name: result.sha256 for name, result in sorted(bundle.files.items())}
    return Plan(changes=tuple(changes), base_serial=snapshot.base_serial,
                file_hashes=MappingProxyType(hashes), prune=options.prune,
                failed_files=tuple(sorted(bundle.failed_files)))


# The plan's data types live in plan_types.py; importers keep reading them here.
__all__ = ["ACTIVATABLE", "CHANGING", "MASS_PRUNE_FLOOR", "SYNC_OF_LEFT_ALONE", "Action",
           "Change", "LeftAlone", "Plan", "PlanErrors", "PlanOptions", "build_plan",
           "definition", "desired_spec", "spec_action", "started_runs", "sync_states"]
