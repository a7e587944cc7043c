"""What a lint report holds (``Report``, ``RuleInfo``) and the lines formats share.

The format modules (text, json, github, sarif) import from here; the package's
``__init__`` puts them in one dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from campaign_gitops import __version__
from campaign_gitops.findings import Finding, Severity
from campaign_gitops.preflight.registry import ACTIONS

SCHEMA_RULE_DESCRIPTION = "JSON Schema violation, duplicate key, unknown field, bad YAML"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a report says about a rule: id, one line, severity per action (None: not checked)."""

    id: str
    description: str
    severities: tuple[tuple[str, str | None], ...] = ()

    def severity(self, action: str) -> str | None:
        return dict(self.severities).get(action)

    @property
    def default_level(self) -> str:
        """The lint column's severity, else the strongest one of any action."""
        lint = self.severity("lint")
        if lint in ("error", "warning"):
            return lint
        levels = {s for _, s in self.severities if s}
        return "warning" if levels == {"warning"} else "error"


SCHEMA_RULE = RuleInfo("SCHEMA", SCHEMA_RULE_DESCRIPTION,
                       tuple((a, "error") for a in ACTIONS))


def rule_info(rule: Any) -> RuleInfo:
    """Adapt a registered rule (id, description, severities per action) to a RuleInfo."""
    label = getattr(rule, "severity_label", None)
    if callable(label):
        cells = [(a, str(label(a))) for a in ACTIONS]
        severities = tuple((a, None if c in ("—", "-", "None") else c) for a, c in cells)
    else:
        raw = getattr(rule, "severities", None) or {}
        items = raw.items() if isinstance(raw, Mapping) else raw
        severities = tuple((str(a), None if s is None else str(s)) for a, s in items)
    return RuleInfo(str(rule.id), str(getattr(rule, "description", "")), severities)


def rule_infos(rules: Iterable[Any]) -> tuple[RuleInfo, ...]:
    """RuleInfos of the registered rules plus SCHEMA, sorted by id, SCHEMA last."""
    infos = {info.id: info for info in map(rule_info, rules)}
    infos.setdefault("SCHEMA", SCHEMA_RULE)
    return tuple(sorted(infos.values(), key=lambda r: (r.id == "SCHEMA", r.id)))


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a renderer needs; nothing it has to compute."""

    findings: tuple[Finding, ...]
    files: int
    resources: int
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[RuleInfo, ...] = (SCHEMA_RULE,)
    root_uri: str = ""
    tool_version: str = __version__

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    def summary(self) -> dict[str, int]:
        return {"files": self.files, "resources": self.resources,
                "errors": self.errors, "warnings": self.warnings}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(report: Report) -> str:
    """``N errors, M warnings in F files (R resources)``."""
    return (f"{plural(report.errors, 'error')}, {plural(report.warnings, 'warning')} in "
            f"{plural(report.files, 'file')} ({plural(report.resources, 'resource')})")


class Renderer(Protocol):
    def __call__(self, report: Report, *, color: bool = False) -> str: ...
