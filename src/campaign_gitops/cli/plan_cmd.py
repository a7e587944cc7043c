"""``plan``, ``apply``, ``history`` and ``export``: the files against the database.

Exit codes (SPEC section 5): plan 0 no changes, 1 error, 2 changes (with
``--detailed-exitcode``; else 0); apply 0 applied, 1 error (a stale saved plan, a
refused confirmation, or any change that could not be made).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    apply_delay,
    echo_json,
    format_option,
    now_option,
    parse_now,
    pass_context,
)
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.plan import Action, Change, Plan, spec_action
from campaign_gitops.reconcile.render import RENDERERS, SYMBOLS, render_text, tag

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
PLAN_FORMATS = dict(sorted(RENDERERS.items()))  # reconcile/render.py's, by name
VERBS = {Action.CREATE: "created", Action.UPDATE: "updated", Action.RUN: "started",
         Action.CANCEL: "cancelled", Action.ARCHIVE: "archived"}


class RefusedError(CampaignGitopsError):
    exit_code = 1


def use_color() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stdout.isatty()


def plan_exit_code(plan: Plan, detailed: bool) -> int:
    if plan.has_errors or plan.failed_files:  # a held-back file is an error, not a match
        return EXIT_ERROR
    if plan.has_changes and detailed:
        return EXIT_CHANGES
    return EXIT_OK


@click.command("plan")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan to FILE for `apply FILE` (refused later if stale).")
@format_option(PLAN_FORMATS)
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 no changes, 1 error, 2 changes.")
@click.option("--prune", is_flag=True, help="Archive resources whose file is gone.")
@click.option("--allow-mass-prune", is_flag=True,
              help="Let --prune archive more than pruneMaxShare of the resources.")
@now_option()
@pass_context
def plan_command(ctx: Context, out: Path | None, fmt: str, detailed_exitcode: bool,
                 prune: bool, allow_mass_prune: bool, now_text: str | None) -> int:
    """Show how the database differs from the files (nothing is changed).

    \b
    Example:
      campaign-gitops plan
      campaign-gitops plan --out plan.json --detailed-exitcode   # 2: there are changes
      campaign-gitops plan --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    from campaign_gitops.reconcile.planfile import save_plan
    from campaign_gitops.reconcile.service import plan_repo

    project = ctx.project
    config = ctx.config
    db = ctx.open_db()
    try:
        _, plan = plan_repo(project, db, prune=prune or config.prune, config=config,
                            allow_mass_prune=allow_mass_prune,
                            now=parse_now(now_text), forecast=True)
    finally:
        db.dispose()
    click.echo(PLAN_FORMATS[fmt](plan, color=fmt == "text" and use_color()), nl=False)
    if out is not None:
        save_plan(plan, out)
        if fmt == "text":
            click.echo(f"\nSaved the plan to {out}. Apply exactly it with: "
                       f"campaign-gitops apply {out}")
    return plan_exit_code(plan, detailed_exitcode)


def _progress(change: Change, outcome: str, reason: str) -> None:
    symbol = SYMBOLS[change.action]
    what = change.resource + (f" run {change.run_name}"
                              if change.action in (Action.RUN, Action.CANCEL) else "")
    if outcome == "applied":
        verb = (f"{change.from_} → {change.to}" if change.action == Action.TRANSITION
                else VERBS.get(change.action, change.action.value))
        click.echo(f"  {symbol:>2} {what}: {verb}")
    elif outcome == "skipped":
        click.echo(f"  {symbol:>2} {what}: already done ({reason})")
    else:
        click.secho(f"   ! {what}: {reason}", fg="red", err=False)


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise RefusedError("refusing to apply without confirmation: no terminal to ask on",
                           "pass --auto-approve (CI), or review `plan --out FILE` and "
                           "apply FILE")
    if not click.confirm("Apply these changes?", default=False):
        raise RefusedError("apply cancelled", "nothing was changed")


class ApplyText:
    """``apply``'s human output: the plan, each change as it is made, a summary."""

    def planned(self, plan: Plan) -> None:
        click.echo(render_text(plan, color=use_color()), nl=False)

    def unchanged(self, plan: Plan, code: int) -> None:
        """Nothing to apply: the plan said it all."""

    def confirm(self, auto_approve: bool) -> None:
        _confirm(auto_approve)

    def applying(self) -> None:
        click.echo("")

    def on_change(self, change: Change, outcome: str, reason: str) -> None:
        _progress(change, outcome, reason)

    def applied(self, plan: Plan, result: Any, code: int) -> None:
        counts = result.counts()
        skipped = f", {len(result.skipped)} already done" if result.skipped else ""
        errors = len(result.errors)
        click.echo(f"\nApply complete: {counts['create']} created, {counts['update']} "
                   f"updated, {counts['transition']} transitions, {counts['run']} runs "
                   f"started, {_cancelled(counts['cancel'])}{counts['archive']} archived"
                   f"{skipped}, {errors} error{'' if errors == 1 else 's'}.")
        if plan.failed_files:
            click.secho(_held_back(plan), fg="red")


class ApplyJson:
    """``apply --format json``: nothing until the end, then each change's outcome and the
    counts (``_echo_apply_json``); it never asks."""

    def __init__(self) -> None:
        self.outcomes: list[dict[str, Any]] = []

    def planned(self, plan: Plan) -> None:
        pass

    def unchanged(self, plan: Plan, code: int) -> None:
        self.outcomes.extend(_outcome(c, "error", c.reason) for c in plan.changes
                             if c.action == "error")
        _echo_apply_json(plan, self.outcomes, None, plan.base_serial, code)

    def confirm(self, auto_approve: bool) -> None:
        if not auto_approve:  # the question would corrupt the JSON on stdout (terraform -json)
            raise RefusedError("apply --format json does not ask: nothing was changed",
                               "pass --auto-approve, or apply a saved plan FILE")

    def applying(self) -> None:
        pass

    def on_change(self, change: Change, outcome: str, reason: str) -> None:
        self.outcomes.append(_outcome(change, outcome, reason))

    def applied(self, plan: Plan, result: Any, code: int) -> None:
        _echo_apply_json(plan, self.outcomes, result, result.serial, code)


APPLY_FORMATS: dict[str, type[ApplyText | ApplyJson]] = {"text": ApplyText, "json": ApplyJson}


@click.command("apply")
@click.argument("planfile", required=False, type=click.Path(exists=True, dir_okay=False,
                                                             path_type=Path))
@click.option("--auto-approve", is_flag=True,
              help="Do not ask for confirmation (needed without a terminal, unless "
                   "PLANFILE is given).")
@click.option("--prune", is_flag=True, help="Archive resources whose file is gone.")
@click.option("--allow-mass-prune", is_flag=True,
              help="Let --prune archive more than pruneMaxShare of the resources.")
@format_option(APPLY_FORMATS,
               help="json: each change's outcome and the counts, stable keys "
                    "(docs/reference/contract.md); needs --auto-approve or PLANFILE.")
@now_option()
@pass_context
def apply_command(ctx: Context, planfile: Path | None, auto_approve: bool,
                  prune: bool, allow_mass_prune: bool, fmt: str, now_text: str | None) -> int:
    """Make the database match the files (or apply exactly a saved plan).

    Without PLANFILE, apply asks on a terminal and, without one, refuses unless
    --auto-approve. A saved PLANFILE is the approval (as in Terraform): it is
    applied without asking, also without a terminal, and refused if stale.

    \b
    Example:
      campaign-gitops apply                  # shows the plan, asks before changing
      campaign-gitops apply --auto-approve   # CI
      campaign-gitops apply plan.json        # exactly what `plan --out plan.json` showed
      campaign-gitops apply --auto-approve --format json
    """
    from campaign_gitops.reconcile import planfile as pf
    from campaign_gitops.reconcile.service import (
        apply_plan,
        load_project_bundle,
        plan_repo,
        snapshot_of,
    )

    project = ctx.project
    config = ctx.config
    out = APPLY_FORMATS[fmt]()
    now = parse_now(now_text)
    db = ctx.open_db()
    try:
        if planfile is not None:
            plan = pf.load_plan(planfile)
            bundle = load_project_bundle(project)
            hashes = {name: r.sha256 for name, r in bundle.files.items()}
            pf.check_fresh(plan, snapshot_of(db).base_serial, hashes)
        else:
            bundle, plan = plan_repo(project, db, prune=prune or config.prune, config=config,
                                     allow_mass_prune=allow_mass_prune, now=now)
        out.planned(plan)
        if not plan.has_changes:
            code = EXIT_ERROR if plan.has_errors or plan.failed_files else EXIT_OK
            out.unchanged(plan, code)
            return code
        if planfile is None:
            out.confirm(auto_approve)
        out.applying()
        result = apply_plan(db, plan, bundle, project=project, config=config, now=now,
                            delay=apply_delay(), on_change=out.on_change)
    finally:
        db.dispose()
    code = EXIT_OK if result.ok and not plan.failed_files else EXIT_ERROR
    out.applied(plan, result, code)
    return code


def _outcome(change: Change, outcome: str, reason: str) -> dict[str, Any]:
    return {"action": spec_action(change.action), "resource": change.resource,
            "from": change.from_, "to": change.to, "tag": tag(change), "outcome": outcome,
            "reason": reason or change.reason}


def _cancelled(count: int) -> str:
    return f"{count} cancelled, " if count else ""


def _echo_apply_json(plan: Plan, outcomes: list[dict[str, Any]], result: Any,
                     serial: int, code: int) -> None:
    """``apply --format json``: {"changes": [{action, resource, from, to, tag, outcome
    (applied|skipped|error), reason}], "summary": {create, update, transition, run,
    cancel, archive, skipped, error}, "serial", "failed_files", "ok"}."""
    import json

    counts = result.counts() if result is not None else dict.fromkeys(
        ("create", "update", "transition", "run", "cancel", "archive"), 0)
    summary = {**counts, "skipped": sum(o["outcome"] == "skipped" for o in outcomes),
               "error": sum(o["outcome"] == "error" for o in outcomes)}
    click.echo(json.dumps({"changes": outcomes, "summary": summary, "serial": serial,
                           "failed_files": list(plan.failed_files), "ok": code == EXIT_OK},
                          indent=2, ensure_ascii=False, default=str))


def _held_back(plan: Plan) -> str:
    n = len(plan.failed_files)
    return (f"{n} file{'' if n == 1 else 's'} held back (failed to load, nothing of "
            f"{'it' if n == 1 else 'them'} applied): {', '.join(plan.failed_files)}; "
            "`campaign-gitops lint` shows why.")


def _short(commit: str | None, dirty: bool) -> str:
    if not commit:
        return "no git commit"
    return f"git {commit[:10]}" + (" (dirty)" if dirty else "")


def _unchanged_revision(rev: dict[str, Any]) -> str:
    """A revision whose spec equals the one before it: why it exists."""
    if rev["revision"] == 1:
        return "created"
    return "restored" if rev.get("restored") else "renamed or moved"


def _history_lines(data: dict[str, Any]) -> list[str]:
    from campaign_gitops.reconcile.render import value

    archived = ", archived" if data["archived"] else ""
    lines = [f"{data['campaign']} ({data['status']}{archived})", ""]
    timeline: list[tuple[int, list[str]]] = []
    for rev in data["revisions"]:
        head = (f"revision {rev['revision']}  {rev['applied_at']}  "
                f"{_short(rev['git_commit'], rev['git_dirty'])}  {rev['source_file']}")
        body = [f"    {c['path']}: {value(c['old'])} → {value(c['new'])}"
                for c in rev["changes"]] or [f"    {_unchanged_revision(rev)}"]
        if rev["changes"] and rev.get("restored"):
            body.insert(0, "    restored")
        timeline.append((rev["apply_serial"] or 0, [head, *body]))
    for event in data["events"]:
        detail = event["detail"] or {}
        if event["action"] == "transition":
            what = f"status {detail.get('from')} → {detail.get('to')}"
        elif event["action"] == "run":
            what = (f"run {detail.get('run')} ({detail.get('type')}) started, pinned to "
                    f"revision {detail.get('revision')}")
        else:
            what = "archived" + (" (completed first)" if detail.get("completed") else "")
        timeline.append((event["serial"], [
            f"  {event['at']}  {what}  {_short(event['git_commit'], False)}"]))
    for _, block in sorted(timeline, key=lambda item: item[0], reverse=True):
        lines.extend(block)
    return lines


def _history_text(data: dict[str, Any]) -> None:
    click.echo("\n".join(_history_lines(data)))


HISTORY_FORMATS = {"text": _history_text, "json": echo_json}


@click.command("history")
@click.argument("campaign")
@format_option(HISTORY_FORMATS)
@pass_context
def history_command(ctx: Context, campaign: str, fmt: str) -> int:
    """Each revision of CAMPAIGN (name or client/name): when, git commit, what changed.

    \b
    Example:
      campaign-gitops history cto-au-q1
      campaign-gitops history acme/cto-au-q1 --format json
    """
    from campaign_gitops.state.queries import campaign_history

    with ctx.session(create=False) as session:
        data = campaign_history(session, campaign)
    HISTORY_FORMATS[fmt](data)
    return 0


@click.command("export")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Write under this folder instead of the repo root.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@pass_context
def export_command(ctx: Context, out: Path | None, force: bool) -> int:
    """Write YAML files for what the database holds (adopt existing campaigns into git).

    \b
    Example:
      campaign-gitops export --out adopted/   # then review and move them under campaigns/
    """
    from campaign_gitops.config.discovery import relative_name
    from campaign_gitops.reconcile.export import SCHEMA_FILE, export_files, write_files

    project = ctx.project
    folder = relative_name(project.resources_dir, project.root)
    schema = (SCHEMA_FILE if (project.root / SCHEMA_FILE).is_file()
              else "https://campaign-gitops.dev/schemas/v1/resource.json")
    with ctx.session() as session:
        files = export_files(session, folder, schema)
    written, kept = write_files(files, out or project.root, force=force)
    for exported in kept:
        click.echo(f"kept {exported.path} (exists; --force overwrites it)")
    line = f"wrote {_files(written)}"
    if kept:
        line += f", kept {_files(kept, 'existing ')}"
    click.echo(f"{line} under {out or project.root}")
    return 0


def _files(files: list[Any], adjective: str = "") -> str:
    """``3 files (6 resources)``: how many exported files, and the resources in them."""
    resources = sum(f.resources for f in files)
    return (f"{len(files)} {adjective}file{'' if len(files) == 1 else 's'} "
            f"({resources} resource{'' if resources == 1 else 's'})")


def register(group: click.Group) -> None:
    group.add_command(plan_command)
    group.add_command(apply_command)
    group.add_command(history_command)
    group.add_command(export_command)
