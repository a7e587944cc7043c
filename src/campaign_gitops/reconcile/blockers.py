"""What blocks a change: the preflight errors ``build_plan`` takes as its input.

Plan preflights the files as it sees them: a campaign's runs that the database already
started are history, not needs (``unstarted_view``: pausing a campaign whose ``launch``
run is done must not fail PF006 for that run), and each run it would start is checked
for that run's type (``check_campaign_for_action``).

    errors = plan_errors(bundle, snapshot, config, findings)   # findings: lint's path
    plan = build_plan(bundle, snapshot, errors, options)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import Finding
from campaign_gitops.preflight.engine import check_campaign_for_action, run_preflight
from campaign_gitops.reconcile.plan import PlanErrors, started_runs
from campaign_gitops.state.snapshot import Snapshot


def findings_by_resource(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings by the resource they name (``client/Kind/name``, "" for none), in order:
    plan's errors (``errors_by_resource``) and the UI's findings per resource."""
    by_resource: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_resource[finding.resource].append(finding)
    return by_resource


def errors_by_resource(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """The error findings that name a resource, by ``client/Kind/name``."""
    return findings_by_resource(f for f in findings if f.is_error and f.resource)


def unstarted_view(bundle: Bundle, snapshot: Snapshot) -> Bundle:
    """The bundle as preflight should see it for plan: each campaign's declared runs
    without those the database already started."""
    changed: dict[Key, Entry] = {}
    for key, state in snapshot.resources.items():
        entry = bundle.entries.get(key) if state.runs else None
        if entry is None or key.kind != "Campaign":
            continue
        spec = entry.resource.spec
        runs = [r for r in spec.runs if r.name not in state.runs]
        if len(runs) != len(spec.runs):
            resource = entry.resource.model_copy(
                update={"spec": spec.model_copy(update={"runs": runs})})
            changed[key] = Entry(key, resource, entry.document)
    if not changed:
        return bundle
    return Bundle(root=bundle.root, resources_dir=bundle.resources_dir,
                  entries={**bundle.entries, **changed}, files=bundle.files,
                  failed_files=bundle.failed_files, findings=bundle.findings)


def _recheck_started(bundle: Bundle, snapshot: Snapshot, config: ProjectConfig,
                     findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """The errors of ``findings`` (a preflight of ``bundle``), with the clients whose
    campaigns have started runs preflighted again on ``unstarted_view``: only those."""
    errors = errors_by_resource(findings)
    view = unstarted_view(bundle, snapshot)
    if view is bundle:
        return errors
    clients = {k.client for k, e in view.entries.items() if e is not bundle.entries.get(k)}
    sub = Bundle(root=bundle.root, resources_dir=bundle.resources_dir,
                 entries={k: e for k, e in view.entries.items() if k.client in clients},
                 files=bundle.files, failed_files=bundle.failed_files,
                 findings=[f for f in bundle.findings
                           if f.resource.split("/", 1)[0] in clients])
    kept = {r: f for r, f in errors.items() if r.split("/", 1)[0] not in clients}
    return {**kept, **errors_by_resource(run_preflight(sub, config=config))}


def run_errors(bundle: Bundle, snapshot: Snapshot,
               config: ProjectConfig) -> dict[tuple[Key, str], list[Finding]]:
    """For each campaign and type of a run it declares and has not started: the error
    findings of preflighting the campaign for that run type."""
    out: dict[tuple[Key, str], list[Finding]] = {}
    for key, entry in bundle.entries.items():
        if key.kind != "Campaign" or bundle.is_held(entry) or not entry.resource.spec.runs:
            continue
        started = started_runs(key, snapshot)
        for run_type in sorted({r.type for r in entry.resource.spec.runs
                                if r.name not in started}):
            found = check_campaign_for_action(bundle, key, run_type, config=config)
            out[(key, run_type)] = [f for f in found if f.is_error]
    return out


def plan_errors(bundle: Bundle, snapshot: Snapshot, config: ProjectConfig,
                findings: Iterable[Finding]) -> PlanErrors:
    """What blocks plan's changes. ``findings``: the preflight of ``bundle`` the caller
    has (lint's path, with its caches); the clients whose campaigns have started runs
    are preflighted again on ``unstarted_view``. (A caller that preflights
    ``unstarted_view`` itself, as the daemon does, builds ``PlanErrors`` from its
    ``errors_by_resource`` and ``run_errors``.)"""
    return PlanErrors(resources=_recheck_started(bundle, snapshot, config, findings),
                      runs=run_errors(bundle, snapshot, config))
