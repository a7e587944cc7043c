"""``campaign-gitops lint``: schema + semantic + preflight checks, no database needed."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from campaign_gitops.cli.common import (
    Context,
    format_option,
    pass_context,
    skip_final_collection,
)
from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.config.project_file import ProjectConfigError
from campaign_gitops.config.settings import Settings
from campaign_gitops.findings import CampaignGitopsError, Finding
from campaign_gitops.preflight.engine import RUN_ACTIONS as ACTIONS
from campaign_gitops.preflight.report import FORMATS, Report, RuleInfo, rule_infos

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _all_rules() -> list[Any]:
    from campaign_gitops.preflight.rules import all_rules

    return list(all_rules())


def _use_color(output: str | None) -> bool:
    if output or os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stdout.isatty()


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _rules_text(infos: tuple[RuleInfo, ...]) -> str:
    actions = ("lint", *ACTIONS)
    rows: list[tuple[str, ...]] = [("id", *actions, "description")]
    rows += [(r.id, *((r.severity(a) or "-") for a in actions), r.description) for r in infos]
    widths = [max(len(row[i]) for row in rows) for i in range(len(actions) + 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _rules_json(infos: tuple[RuleInfo, ...]) -> str:
    import json

    data = [{"id": r.id, "description": r.description,
             "severities": {a: s for a, s in r.severities}} for r in infos]
    return json.dumps({"rules": data}, indent=2) + "\n"


# ``--list-rules``: JSON for --format json, the table for every other format
RULE_LIST_FORMATS = {"text": _rules_text, "json": _rules_json}


def _list_rules(fmt: str, output: str | None) -> int:
    render = RULE_LIST_FORMATS.get(fmt, _rules_text)
    _emit(render(rule_infos(_all_rules())), output)
    return EXIT_CLEAN


def _resources_dir(settings: Settings) -> Path:
    """The folder to lint when campaign-gitops.yaml is invalid: its resourcesDir still counts.

    An invalid file yields no configuration, so the settings fell back below it; a
    ``resourcesDir`` string in the file is used anyway (``--dir`` still beats it).
    """
    document = settings.file.document
    data = document.data if document is not None else None
    raw = data.get("resourcesDir") if isinstance(data, dict) else None
    if settings.origins["resourcesDir"].source == "flag" or not isinstance(raw, str) or not raw:
        return settings.resources_dir
    return (settings.root / raw).absolute()


def _project_and_config(ctx: Context) -> tuple[Project, ProjectConfig | None,
                                                tuple[Finding, ...]]:
    """The project, its configuration, and the problems of an invalid campaign-gitops.yaml.

    Other commands fail on an invalid file; lint reports its problems as findings (so
    CI annotates them on the diff) and lints the resources with the defaults.
    """
    try:
        return ctx.project, ctx.config, ()
    except ProjectConfigError as exc:
        settings = ctx.settings
        project = Project(root=settings.root, resources_dir=_resources_dir(settings))
        return project, None, exc.findings


def run_lint(ctx: Context, paths: tuple[str, ...], action: str | None, fmt: str, strict: bool,
             output: str | None, cache: bool, jobs: int | None = None) -> int:
    from campaign_gitops.preflight.lint import LintResult, lint, read_sources

    project, config, config_findings = _project_and_config(ctx)
    if project.resources_dir.is_dir():
        cache_dir = project.root / ".campaign-gitops" / "cache" if cache else None
        result = lint(project.resources_dir, project.root, [Path(p) for p in paths],
                      action=action, config=config, cache_dir=cache_dir, workers=jobs)
    elif config_findings and ctx.settings.origins["resourcesDir"].source == "default":
        result = LintResult((), 0, 0, False)  # the file that sets the folder is unreadable
    else:
        raise CampaignGitopsError(f"no such folder: {project.resources_dir}",
                                  "pass --dir with the folder holding the resource files")
    findings = tuple(sorted((*config_findings, *result.findings), key=Finding.sort_key))
    files = result.files + (1 if config_findings else 0)
    sources = read_sources(project.root, {f.location.file for f in findings}) \
        if fmt == "text" else {}
    report = Report(findings, files, result.resources, sources,
                    rule_infos(_all_rules()) if fmt == "sarif" else (),
                    root_uri=project.root.absolute().as_uri())
    _emit(FORMATS[fmt](report, color=_use_color(output)), output)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_file:
        from campaign_gitops.preflight.report.github import step_summary

        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(step_summary(report))
    skip_final_collection()
    if report.errors or (strict and report.warnings):
        return EXIT_FINDINGS
    return EXIT_CLEAN


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--action", type=click.Choice(ACTIONS),
              help="Check campaigns as if this action were requested.")
@format_option(FORMATS, help="Output format.")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--list-rules", is_flag=True, help="Print every rule with its severities and exit.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to FILE instead of standard output.")
@click.option("--cache/--no-cache", default=True, show_default=True,
              help="Use .campaign-gitops/cache/: the last answer when no file changed, "
                   "else the parsed data of the unchanged files.")
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Processes to use on large repos (default: one per core).")
@pass_context
def lint_command(ctx: Context, paths: tuple[str, ...], action: str | None, fmt: str,
                 strict: bool, list_rules: bool, output: str | None, cache: bool,
                 jobs: int | None) -> int:
    """Preflight the resource files: schema, references and every rule (PF001-PF022).

    PATHS limit which files' findings are reported; the whole --dir is still loaded so
    references resolve. Exit code: 0 clean or warnings only, 1 errors (or warnings with
    --strict), 2 usage or internal error.

    \b
    Examples:
      campaign-gitops lint
      campaign-gitops lint campaigns/acme --action run --strict
      campaign-gitops lint --format sarif --output lint.sarif
      campaign-gitops lint --list-rules
    """
    if list_rules:
        return _list_rules(fmt, output)
    try:
        code = run_lint(ctx, paths, action, fmt, strict, output, cache, jobs)
    except (CampaignGitopsError, click.ClickException):
        raise
    except OSError as exc:
        raise CampaignGitopsError(f"cannot write the report: {exc}") from exc
    except Exception as exc:  # an internal error is exit 2, one line, never a traceback
        if os.environ.get("CAMPAIGN_GITOPS_DEBUG"):
            raise
        raise CampaignGitopsError(f"internal error: {type(exc).__name__}: {exc}",
                                  "set CAMPAIGN_GITOPS_DEBUG=1 for the traceback") from exc
    return code


def register(group: click.Group) -> None:
    group.add_command(lint_command)
