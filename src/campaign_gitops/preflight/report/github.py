"""``--format github``: workflow commands, and a markdown table for the step summary.

Escaping follows GitHub's workflow-command syntax (the runner's ``CommandExtensions``):
data escapes ``%``, ``\\r`` and ``\\n``; property values also escape ``:`` and ``,``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaign_gitops.preflight.report.model import summary_line

if TYPE_CHECKING:
    from campaign_gitops.findings import Finding
    from campaign_gitops.preflight.report.model import Report


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _message(finding: Finding) -> str:
    return str(finding.to_dict()["message"])


def command(finding: Finding) -> str:
    loc = finding.location
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in (
        ("file", loc.file), ("line", loc.line), ("col", loc.column), ("title", finding.rule)))
    return f"::{finding.severity}{' ' if props else ''}{props}::{escape_data(_message(finding))}"


def render_github(report: Report, *, color: bool = False) -> str:
    lines = [command(f) for f in report.findings]
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    return (str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", "")
            .replace("\n", "<br>"))


def step_summary(report: Report) -> str:
    """A markdown table of every finding, for ``$GITHUB_STEP_SUMMARY``."""
    out = ["### campaign-gitops lint", "", summary_line(report), ""]
    if report.findings:
        out.append("| Severity | Rule | Location | Resource | Message |")
        out.append("|---|---|---|---|---|")
        for f in report.findings:
            icon = ":x:" if f.is_error else ":warning:"
            out.append(f"| {icon} {f.severity} | {f.rule} | `{_cell(f.location)}` | "
                       f"{_cell(f.resource)} | {_cell(_message(f))} |")
        out.append("")
    return "\n".join(out) + "\n"
