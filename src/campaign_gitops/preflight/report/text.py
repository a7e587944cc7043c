"""``--format text``: grouped by file, like a compiler, coloured on a terminal."""

from __future__ import annotations

from itertools import groupby
from typing import TYPE_CHECKING

import click

from campaign_gitops.preflight.report.model import summary_line

if TYPE_CHECKING:
    from campaign_gitops.findings import Finding
    from campaign_gitops.preflight.report.model import Report

MAX_SHOWN = 160


def _paint(text: str, color: bool, **style: object) -> str:
    return click.style(text, **style) if color else text  # type: ignore[arg-type]


def _snippet(line_text: str, column: int) -> tuple[str, str]:
    """The source line (cut around the column when long) and the caret line under it."""
    text = line_text.rstrip("\r\n")
    start = 0
    if len(text) > MAX_SHOWN:
        start = max(0, min(column - 1 - MAX_SHOWN // 2, len(text) - MAX_SHOWN))
        text = ("…" if start else "") + text[start:start + MAX_SHOWN]
        column = column - start + (1 if start else 0)
    pad = "".join("\t" if ch == "\t" else " " for ch in text[:max(column - 1, 0)])
    return text, pad + "^"


def _finding(f: Finding, lines: tuple[str, ...], color: bool) -> list[str]:
    loc = f.location
    sev_style = {"fg": "red", "bold": True} if f.is_error else {"fg": "yellow", "bold": True}
    head = (f"{_paint(str(loc), color, bold=True)}: {_paint(str(f.severity), color, **sev_style)}"
            f" {_paint(f.rule, color, fg='cyan')} {f.message}")
    if f.resource:
        head += _paint(f"  [{f.resource}]", color, dim=True)
    out = [head]
    gutter = len(str(loc.line))
    if 1 <= loc.line <= len(lines):
        src, caret = _snippet(lines[loc.line - 1], loc.column)
        bar = _paint(" " * gutter + " |", color, fg="blue")
        out.append(bar)
        out.append(_paint(f"{loc.line} |", color, fg="blue") + f" {src}")
        out.append(bar + " " + _paint(caret, color, **sev_style))
    if f.hint:
        out.append(_paint(" " * gutter + " = ", color, fg="blue") + f"hint: {f.hint}")
    for other in f.related:
        out.append(_paint(" " * gutter + " = ", color, fg="blue") + f"see also: {other}")
    return out


def render_text(report: Report, *, color: bool = False) -> str:
    out: list[str] = []
    ordered = sorted(report.findings, key=lambda f: f.sort_key())
    for file, group in groupby(ordered, key=lambda f: f.location.file):
        out.append(_paint(file, color, bold=True, underline=True))
        lines = report.sources.get(file, ())
        for f in group:
            out.extend(_finding(f, lines, color))
            out.append("")
    bad = report.errors or report.warnings
    style = {"fg": "red" if report.errors else "yellow"} if bad else {"fg": "green"}
    out.append(_paint(summary_line(report), color, bold=True, **style))
    return "\n".join(out) + "\n"
