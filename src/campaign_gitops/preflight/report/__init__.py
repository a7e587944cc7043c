"""Output formats of lint: each one function in one dict that also feeds ``--format``.

Renderers never compute: the caller builds a :class:`Report` (findings, counts, the
source lines of the files that have findings, rule metadata) and picks a renderer.
"""

from __future__ import annotations

from campaign_gitops.preflight.report.github import render_github
from campaign_gitops.preflight.report.machine import render_json
from campaign_gitops.preflight.report.model import (
    ACTIONS,
    SCHEMA_RULE,
    SCHEMA_RULE_DESCRIPTION,
    Renderer,
    Report,
    RuleInfo,
    plural,
    rule_info,
    rule_infos,
    summary_line,
)
from campaign_gitops.preflight.report.sarif import render_sarif
from campaign_gitops.preflight.report.text import render_text

__all__ = ["ACTIONS", "FORMATS", "FORMAT_NAMES", "SCHEMA_RULE", "SCHEMA_RULE_DESCRIPTION",
           "Renderer", "Report", "RuleInfo", "plural", "render", "rule_info", "rule_infos",
           "summary_line"]

FORMATS: dict[str, Renderer] = {"text": render_text, "json": render_json,
                                "github": render_github, "sarif": render_sarif}
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)


def render(fmt: str, report: Report, *, color: bool = False) -> str:
    return FORMATS[fmt](report, color=color)
