"""``campaign-gitops config``: the effective configuration and where each value came from."""

from __future__ import annotations

import json
from typing import Any

import click

from campaign_gitops.cli.common import Context, format_option, pass_context, rule_severities
from campaign_gitops.config.project_file import rule_override_findings
from campaign_gitops.config.settings import Settings
from campaign_gitops.findings import Finding


def _problems(settings: Settings) -> list[Finding]:
    if not settings.file.ok:
        return [f for f in settings.file.findings if f.is_error]
    return rule_override_findings(settings.file, rule_severities())


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def render_text(settings: Settings, problems: list[Finding]) -> str:
    file = settings.file
    lines = [f"root: {settings.root}",
             f"file: {file.name}" + ("" if file.path else " (absent: defaults)")]
    if problems:
        lines.append("")
        lines += [f"{f.location}: error: {f.message}" + (f" ({f.hint})" if f.hint else "")
                  for f in problems]
        return "\n".join(lines) + "\n"
    rows = [("KEY", "VALUE", "SOURCE")]
    rows += [(key, _scalar(value), str(origin)) for key, value, origin in settings.rows()
             if value is not None or origin.source != "default"]  # unset: only in json
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines.append("")
    lines += [f"{k.ljust(widths[0])}  {v.ljust(widths[1])}  {s}".rstrip() for k, v, s in rows]
    lines += [f"note: {note}" for note in settings.notes]
    return "\n".join(lines) + "\n"


def render_json(settings: Settings, problems: list[Finding]) -> str:
    """``{"root", "file", "valid", "values": {key: {"value", "source", "detail"}}, ...}``."""
    values = {} if problems else {
        key: {"value": value, "source": origin.source, "detail": origin.detail}
        for key, value, origin in settings.rows()}
    data = {"root": str(settings.root),
            "file": settings.file.name if settings.file.path else None,
            "valid": not problems,
            "values": values,
            "notes": list(settings.notes),
            "findings": [f.to_dict() for f in problems]}
    return json.dumps(data, indent=2) + "\n"


FORMATS = {"text": render_text, "json": render_json}


@click.command("config")
@format_option(FORMATS, help="Output format.")
@pass_context
def config_command(ctx: Context, fmt: str) -> int:
    """Print the effective configuration and where each value came from.

    Precedence: flags (--dir, --db) > campaign-gitops.yaml > environment
    (CAMPAIGN_GITOPS_DIR, CAMPAIGN_GITOPS_DB) > defaults. Exit code 1 when
    campaign-gitops.yaml is invalid (each problem with file:line:column).

    \b
    Examples:
      campaign-gitops config
      campaign-gitops --db postgresql+psycopg://ci@db/campaigns config --format json
    """
    settings = ctx.settings
    problems = _problems(settings)
    click.echo(FORMATS[fmt](settings, problems), nl=False)
    return 1 if problems else 0


def register(group: click.Group) -> None:
    group.add_command(config_command)
