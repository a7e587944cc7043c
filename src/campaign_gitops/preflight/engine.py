"""Run the preflight rules over a bundle for an action and turn hits into findings.

Severity per action (SPEC section 4):

* ``run_preflight(bundle, action="run")``: every rule uses that action's column, for
  campaigns and for the other kinds a rule applies to.
* ``run_preflight(bundle)`` (``lint``): every rule uses the ``lint`` column, and for a
  campaign also the column of each action its declared ``runs`` need (a run of type
  ``schedule`` needs the ``schedule`` column); the strictest cell wins. A paused or
  completed campaign's ``run``/``schedule`` runs count as already started (only an
  active campaign starts one): lint can't tell, plan can and preflights new ones.

Afterwards, in this order:

1. ``campaign-gitops.yaml`` ``rules: {PF015: error}`` raises a rule's warnings to errors
   (``DISABLE: error`` raises the unused-suppression warnings of step 3 too).
   ``warning`` there changes nothing: an error is never lowered.
2. ``metadata.annotations["campaign-gitops/disable"]: "PF015,PF006"`` silences the
   *warnings* of those rules on that resource (for a finding located in another
   resource, e.g. a campaign's template, either resource's annotation counts). Errors
   are never silenced; they get a hint saying so.
3. Unused suppressions, like sqlfluff's: an annotation naming an unknown rule id is
   reported as a ``DISABLE`` warning (rule id ``DISABLE``, listed by ``all_rules()``),
   at the annotation's value. In ``lint`` (no action) so is an id that silenced no
   warning on that resource; with an action it is not, since a rule's column differs
   per action (PF006 is not checked for test_run).

The result: the bundle's load/schema findings plus the rule findings, exact duplicates
dropped (a template shared by many campaigns reports once), sorted by
(file, line, column, rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from campaign_gitops.config.bundle import Bundle, Entry, Key
from campaign_gitops.config.models import ANNOTATION_DISABLE, CAMPAIGN_REFERENCES, RUN_TYPES
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError, Finding, Severity
from campaign_gitops.preflight.context import RuleContext, context_for
from campaign_gitops.preflight.registry import Conditional, Hit, Rule
from campaign_gitops.preflight.rules import RULES, all_rules

RUN_ACTIONS = RUN_TYPES  # the actions preflight checks for: one per run type
DISABLE_RULE = "DISABLE"

__all__ = ["RUN_ACTIONS", "all_rules", "check_campaign_for_action", "run_preflight"]


def run_preflight(bundle: Bundle, *, action: str | None = None,
                  config: ProjectConfig | None = None) -> list[Finding]:
    """Load/schema findings plus every rule's findings, sorted by position."""
    _check_action(action)
    ctx = context_for(bundle, config)
    findings = list(bundle.findings)
    findings.extend(_check(bundle.entries.values(), ctx, action,
                           report_unused=action is None))
    return _finish(findings)


def check_campaign_for_action(bundle: Bundle, key: Key, action: str, *,
                              config: ProjectConfig | None = None) -> list[Finding]:
    """Preflight one campaign as if ``action`` were requested (plan/apply, before a run).

    Checks the campaign and what it uses (client, goal, segment, writer, reviewer,
    templates, sequence, schedule). Returns warnings too; only errors should block.
    """
    _check_action(action)
    if action is None:
        raise CampaignGitopsError("check_campaign_for_action needs an action")
    entry = bundle.entries.get(key)
    if entry is None or key.kind != "Campaign":
        raise CampaignGitopsError(f"no campaign {key} in the files",
                                  hint="check the name and the client")
    ctx = context_for(bundle, config)
    return _finish(_check(_with_dependencies(entry, ctx), ctx, action, report_unused=False))


def _check_action(action: str | None) -> None:
    if action is not None and action not in RUN_ACTIONS:
        raise CampaignGitopsError(f"unknown action {action!r}",
                                  hint=f"one of: {', '.join(RUN_ACTIONS)}")


def _with_dependencies(entry: Entry, ctx: RuleContext) -> list[Entry]:
    bundle, spec, client = ctx.bundle, entry.resource.spec, entry.key.client
    found: dict[Key, Entry] = {entry.key: entry}
    deps = [bundle.get(client, "Client", client)]
    deps += [bundle.get(client, kind, getattr(spec, f)) for f, kind in CAMPAIGN_REFERENCES.items()]
    deps += [bundle.get(client, "Template", name) for name in ctx.templates_used(entry)]
    for dep in deps:
        if dep is not None:
            found.setdefault(dep.key, dep)
    return list(found.values())


@cache
def _rules_by_kind() -> dict[str, tuple[Rule, ...]]:
    by_kind: dict[str, list[Rule]] = {}
    for r in all_rules():
        for kind in r.kinds:
            by_kind.setdefault(kind, []).append(r)
    return {kind: tuple(rules) for kind, rules in by_kind.items()}


def _actions(entry: Entry, action: str | None) -> tuple[str, ...]:
    if action is not None:
        return (action,)
    if entry.key.kind != "Campaign" or not entry.resource.spec.runs:
        return ("lint",)
    needed = {run.type for run in entry.resource.spec.runs}
    if entry.resource.spec.status in ("paused", "completed"):
        # Only an active campaign starts a run, so the runs a paused or completed
        # campaign declares ran while it was active. Lint cannot tell a new one from
        # those; plan can, and preflights any run it would start for its action.
        needed -= {"run", "schedule"}
    return ("lint", *sorted(needed))


SeverityPlan = list[tuple[Rule, Severity | tuple[str, ...]]]


def _plan(kind: str, actions: tuple[str, ...], config: ProjectConfig) -> SeverityPlan:
    """The rules to run on a kind for these actions, each with its final severity, or
    with the actions to decide per resource when a cell is conditional (PF004)."""
    plan: SeverityPlan = []
    for r in _rules_by_kind().get(kind, ()):
        cells = [r.cells(kind).get(a) for a in actions]
        if any(isinstance(c, Conditional) for c in cells):
            plan.append((r, actions))
            continue
        severity = _strictest(cells, r, config)  # type: ignore[arg-type]
        if severity is not None:
            plan.append((r, severity))
    return plan


def _strictest(cells: list[Severity | None], r: Rule, config: ProjectConfig) -> Severity | None:
    worst: Severity | None = None
    for sev in cells:
        if sev is not None and (worst is None or sev.rank > worst.rank):
            worst = sev
    return _override(worst, r.id, config)


def _override(severity: Severity | None, rule_id: str,
              config: ProjectConfig) -> Severity | None:
    """campaign-gitops.yaml ``rules:``: a warning raised to an error, an error never lowered."""
    if severity is Severity.WARNING and config.rules.get(rule_id) == "error":
        return Severity.ERROR
    return severity


@cache
def _parse_disable(value: str) -> frozenset[str]:
    return frozenset(p.strip().upper() for p in value.replace(" ", ",").split(",") if p.strip())


def _disabled(entry: Entry) -> frozenset[str]:
    value = entry.resource.metadata.annotations.get(ANNOTATION_DISABLE)
    return _parse_disable(value) if value else frozenset()


def _as_hit(hit: Hit | tuple[object, ...]) -> Hit:
    return hit if isinstance(hit, Hit) else Hit(*hit)  # type: ignore[arg-type]


def _check(entries: Iterable[Entry], ctx: RuleContext, action: str | None, *,
           report_unused: bool) -> list[Finding]:
    plans: dict[tuple[str, tuple[str, ...]], SeverityPlan] = {}
    out: list[Finding] = []
    used: dict[Key, set[str]] = {}
    annotated: list[Entry] = []
    for entry in entries:
        disabled = _disabled(entry)
        if disabled:
            annotated.append(entry)
        plan_key = (entry.key.kind, _actions(entry, action))
        plan = plans.get(plan_key)
        if plan is None:
            plan = plans[plan_key] = _plan(*plan_key, ctx.config)
        for r, planned in plan:
            if isinstance(planned, tuple):
                severity = _strictest([r.severity(a, entry) for a in planned], r, ctx.config)
                if severity is None:
                    continue
            else:
                severity = planned
            for raw in r.check(entry, ctx):
                hit = _as_hit(raw)
                target = hit.entry or entry
                target_disabled = _disabled(target) if hit.entry else disabled
                if severity is Severity.WARNING and (r.id in disabled
                                                     or r.id in target_disabled):
                    for e, ids in ((entry, disabled), (target, target_disabled)):
                        if r.id in ids:
                            used.setdefault(e.key, set()).add(r.id)
                    continue
                hint = hit.hint
                if r.id in disabled or r.id in target_disabled:
                    hint = f"{hint}; errors cannot be disabled" if hint else \
                        "errors cannot be disabled"
                location = hit.location or target.locate(hit.path, value=hit.value)
                out.append(Finding(r.id, severity, location, hit.message,
                                   resource=str(target.key), hint=hint))
    out.extend(_unused_disables(annotated, used, report_unused, ctx.config))
    return out


def _unused_disables(entries: list[Entry], used: dict[Key, set[str]],
                     report_unused: bool, config: ProjectConfig) -> list[Finding]:
    severity = _override(Severity.WARNING, DISABLE_RULE, config) or Severity.WARNING
    out: list[Finding] = []
    for entry in entries:
        where = entry.locate(("metadata", "annotations", ANNOTATION_DISABLE), value=True)
        for rule_id in sorted(_disabled(entry)):
            if rule_id not in RULES:
                message = f"disable names {rule_id}, which is no rule"
                hint = "rule ids look like PF015; see lint --list-rules"
            elif report_unused and rule_id not in used.get(entry.key, ()):
                message = f"disable names {rule_id}, which reported no warning here"
                hint = "remove it from the annotation (errors cannot be disabled)"
            else:
                continue
            out.append(Finding(DISABLE_RULE, severity, where, message,
                               resource=str(entry.key), hint=hint))
    return out


def _finish(findings: list[Finding]) -> list[Finding]:
    return sorted(dict.fromkeys(findings), key=Finding.sort_key)
