"""Loading ``campaign-gitops.yaml``: the same loader and validation as every resource.

The file is read with the positions loader (YAML 1.2 scalars, duplicate keys, bounds),
validated into :class:`ProjectConfig` by pydantic, and every problem becomes a
``SCHEMA`` finding at its line and column with a "did you mean" hint. A missing file
is the defaults; a broken one is never half-applied.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign_gitops.config.discovery import relative_name
from campaign_gitops.config.loader import Document, load_file
from campaign_gitops.config.models import SCHEMA_BASE
from campaign_gitops.config.project import CONFIG_FILE, ProjectConfig
from campaign_gitops.config.validate import did_you_mean, validate_model
from campaign_gitops.findings import CampaignGitopsError, Finding, Location, Severity

SCHEMA_FILE = "project.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@functools.cache
def project_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of campaign-gitops.yaml, generated from ProjectConfig."""
    body = ProjectConfig.model_json_schema(by_alias=True, mode="validation")
    body.pop("title", None)
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE}/{SCHEMA_FILE}",
        "title": "campaign-gitops project configuration",
        "description": f"{CONFIG_FILE} at the root of a campaigns repository.",
    }
    schema.update(body)
    return schema


class ProjectConfigError(CampaignGitopsError):
    """campaign-gitops.yaml is invalid; ``findings`` carry each problem's position."""

    exit_code = 2

    def __init__(self, findings: Collection[Finding]) -> None:
        self.findings = tuple(findings)
        lines = [f"{f.location}: {f.message}" + (f" ({f.hint})" if f.hint else "")
                 for f in self.findings]
        first = lines[0] if lines else CONFIG_FILE
        rest = "".join(f"\n  {line}" for line in lines[1:])
        super().__init__(f"invalid project configuration: {first}{rest}",
                         f"fix {CONFIG_FILE} (schema: schemas/{SCHEMA_FILE}); "
                         "`campaign-gitops config` shows the effective values")


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """What the root's campaign-gitops.yaml yielded (``path`` None: there is none)."""

    path: Path | None
    name: str
    config: ProjectConfig | None
    document: Document | None = None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.config is not None and not any(f.is_error for f in self.findings)

    def require(self) -> ProjectConfig:
        """The validated configuration, or ProjectConfigError with every position."""
        if not self.ok or self.config is None:
            raise ProjectConfigError([f for f in self.findings if f.is_error])
        return self.config

    def location(self, path: tuple[str | int, ...]) -> Location | None:
        """Where ``path`` is set in the file, or None when the file does not set it."""
        if self.document is None or path not in self.document.positions:
            return None
        return self.document.locate(path)


def _error(name: str, message: str, hint: str = "", line: int = 1, column: int = 1,
           path: str = "") -> Finding:
    return Finding("SCHEMA", Severity.ERROR, Location(name, line, column, path), message,
                   hint=hint)


def parse_project_file(path: Path, root: Path) -> ProjectFile:
    """Load and validate one configuration file."""
    result = load_file(path, root)
    name = result.file
    if result.findings:
        return ProjectFile(path, name, None, None, tuple(result.findings))
    if len(result.documents) > 1:
        second = result.documents[1]
        return ProjectFile(path, name, None, None, (_error(
            name, f"{CONFIG_FILE} holds one document", "remove the second document (---)",
            second.line, second.column),))
    if not result.documents:  # an empty file: every default
        return ProjectFile(path, name, ProjectConfig(), None, ())
    doc = result.documents[0]
    if not isinstance(doc.data, dict):
        return ProjectFile(path, name, None, doc, (_error(
            name, f"{CONFIG_FILE} must be a mapping", "see schemas/project.json",
            doc.line, doc.column),))
    config, findings = validate_model(doc, ProjectConfig, project_schema)
    return ProjectFile(path, name, config, doc, tuple(sorted(findings, key=Finding.sort_key)))


def load_project_file(root: Path) -> ProjectFile:
    """``campaign-gitops.yaml`` at the repo root; the defaults when there is none."""
    path = root / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return ProjectFile(None, relative_name(path, root), ProjectConfig())
    return parse_project_file(path, root)


def rule_override_findings(project_file: ProjectFile,
                           severities: Mapping[str, Collection[str]]) -> list[Finding]:
    """Problems with ``rules:``: unknown rule ids, and an error lowered to a warning.

    ``severities`` maps each rule id to the severities it can have in any action (the
    preflight registry knows them; config does not import preflight).
    """
    config, doc = project_file.config, project_file.document
    if config is None or doc is None:
        return []
    out = []
    known = sorted(severities)
    for rule_id, wanted in config.rules.items():
        where = doc.locate(("rules", rule_id))
        if rule_id not in severities:
            hint = did_you_mean(rule_id, known) or f"rule ids: {', '.join(known)}"
            out.append(_error(where.file, f"rules: unknown rule {rule_id!r}", hint,
                              where.line, where.column, where.path))
        elif wanted == "warning" and "error" in severities[rule_id]:
            value = doc.locate(("rules", rule_id), value=True)
            out.append(_error(value.file, f"rules.{rule_id}: an error is never lowered to a "
                              "warning", "remove the override; only warnings can be raised "
                              "(to error)", value.line, value.column, value.path))
    return out
