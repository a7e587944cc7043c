"""``--format sarif``: SARIF 2.1.0, so findings show in GitHub code scanning."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from campaign_gitops.findings import Finding
    from campaign_gitops.preflight.report.model import Report, RuleInfo

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
INFORMATION_URI = "https://campaign-gitops.dev/docs/lint"


def _rule(info: RuleInfo) -> dict[str, Any]:
    table = ", ".join(f"{action}: {sev or '-'}" for action, sev in info.severities)
    return {
        "id": info.id,
        "name": info.id,
        "shortDescription": {"text": info.description or info.id},
        "fullDescription": {"text": f"{info.description} (severity per action: {table})"
                            if table else info.description or info.id},
        "helpUri": f"{INFORMATION_URI}#{info.id.lower()}",
        "defaultConfiguration": {"level": info.default_level},
        "properties": {"severities": {a: s for a, s in info.severities}},
    }


def _artifact(file: str) -> dict[str, Any]:
    if file.startswith("/"):
        return {"uri": "file://" + quote(file)}
    return {"uri": quote(file), "uriBaseId": SRCROOT}


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    loc = finding.location
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": str(finding.severity),
        "message": {"text": str(finding.to_dict()["message"])},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": _artifact(loc.file),
                "region": {"startLine": max(loc.line, 1), "startColumn": max(loc.column, 1)},
            },
        }],
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.resource:
        result["locations"][0]["logicalLocations"] = [{
            "name": finding.resource,
            "fullyQualifiedName": finding.resource + (loc.path or ""),
            "kind": "resource"}]
    if finding.related:
        result["relatedLocations"] = [
            {"id": i, "physicalLocation": {"artifactLocation": _artifact(r.file),
                                           "region": {"startLine": max(r.line, 1),
                                                      "startColumn": max(r.column, 1)}}}
            for i, r in enumerate(finding.related, start=1)]
    return result


def sarif_document(report: Report) -> dict[str, Any]:
    rules = list(report.rules)
    known = {r.id for r in rules}
    # A finding of a rule we have no metadata for still gets a descriptor.
    for rule_id in sorted({f.rule for f in report.findings} - known):
        from campaign_gitops.preflight.report.model import RuleInfo

        rules.append(RuleInfo(rule_id, rule_id))
    index = {r.id: i for i, r in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "campaign-gitops",
            "semanticVersion": report.tool_version,
            "version": report.tool_version,
            "informationUri": INFORMATION_URI,
            "rules": [_rule(r) for r in rules],
        }},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index) for f in report.findings],
    }
    if report.root_uri:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": report.root_uri.rstrip("/") + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report: Report, *, color: bool = False) -> str:
    return json.dumps(sarif_document(report), indent=2, ensure_ascii=False) + "\n"
