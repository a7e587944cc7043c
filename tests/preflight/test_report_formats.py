"""The output formats as functions: escaping, carets, SARIF validity, JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from campaign_gitops.findings import Finding, Location, Severity
from campaign_gitops.preflight.report import (
    FORMAT_NAMES,
    FORMATS,
    Report,
    RuleInfo,
    render,
    summary_line,
)
from campaign_gitops.preflight.report.github import (
    command,
    escape_data,
    escape_property,
    step_summary,
)
from campaign_gitops.preflight.report.sarif import sarif_document

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def finding(rule: str = "PF003", severity: Severity = Severity.ERROR, file: str = "c/a.yaml",
            line: int = 2, column: int = 3, message: str = "reviewer missing", hint: str = "",
            related: tuple[Location, ...] = ()) -> Finding:
    return Finding(rule, severity, Location(file, line, column, "/spec/reviewer"), message,
                   resource="acme/Campaign/q1", hint=hint, related=related)


def test_one_dict_feeds_the_cli_choices() -> None:
    assert FORMAT_NAMES == ("text", "json", "github", "sarif") == tuple(FORMATS)


def test_summary_line_counts_and_plurals() -> None:
    report = Report((finding(), finding(severity=Severity.WARNING, line=5)), 1, 1)
    assert summary_line(report) == "1 error, 1 warning in 1 file (1 resource)"
    assert summary_line(Report((), 3, 12)) == "0 errors, 0 warnings in 3 files (12 resources)"


def test_github_escaping_is_exactly_the_workflow_command_syntax() -> None:
    assert escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert escape_property("dir:a,b%\n") == "dir%3Aa%2Cb%25%0A"
    line = command(finding(file="c/we,ird:name.yaml", message="bad: 50%\nsecond line"))
    assert line == ("::error file=c/we%2Cird%3Aname.yaml,line=2,col=3,title=PF003::"
                    "bad: 50%25%0Asecond line")
    warning = command(finding(rule="PF006", severity=Severity.WARNING, hint="activate it"))
    assert warning.startswith("::warning file=c/a.yaml,line=2,col=3,title=PF006::")
    assert warning.endswith("(activate it)")


def test_step_summary_table_escapes_pipes_and_newlines() -> None:
    table = step_summary(Report((finding(message="a | b\nc"),), 1, 1))
    assert "| :x: error | PF003 | `c/a.yaml:2:3` | acme/Campaign/q1 | a \\| b<br>c |" in table


def test_text_caret_under_the_column_with_tabs_and_long_lines() -> None:
    src = {"c/a.yaml": ("x: 1", "\tkey: value")}
    out = render("text", Report((finding(line=2, column=3, hint="add one"),), 1, 1, src))
    lines = out.splitlines()
    assert lines[0] == "c/a.yaml"
    assert lines[1] == "c/a.yaml:2:3: error PF003 reviewer missing  [acme/Campaign/q1]"
    assert lines[3] == "2 | \tkey: value"
    assert lines[4] == "  | \t ^"
    assert lines[5] == "  = hint: add one"
    long_line = "k: " + "x" * 500
    out = render("text", Report((finding(line=1, column=400),), 1, 1, {"c/a.yaml": (long_line,)}))
    src_line, caret = out.splitlines()[3:5]
    assert len(src_line) < 200
    assert src_line[caret.index("^")] == "x"


def test_text_groups_by_file_in_order() -> None:
    report = Report((finding(file="b.yaml"), finding(file="a.yaml"), finding(file="b.yaml",
                                                                            line=1)), 2, 2)
    heads = [line for line in render("text", report).splitlines() if line.endswith(".yaml")]
    assert heads == ["a.yaml", "b.yaml"]


def test_json_shape() -> None:
    data = json.loads(render("json", Report((finding(hint="h"),), 1, 1)))
    assert data == {"findings": [{
        "rule": "PF003", "severity": "error", "file": "c/a.yaml", "line": 2, "column": 3,
        "path": "/spec/reviewer", "resource": "acme/Campaign/q1",
        "message": "reviewer missing (h)"}],
        "summary": {"files": 1, "resources": 1, "errors": 1, "warnings": 0}}


def test_sarif_validates_with_related_and_absolute_locations() -> None:
    rules = (RuleInfo("PF003", "reviewer missing", (("lint", "error"), ("run", "error"))),
             RuleInfo("PF004", "template missing", (("lint", None), ("test_run", "warning if "
                                                                     "active, else error"))))
    report = Report((finding(related=(Location("c/b.yaml", 1, 1),)),
                     finding(rule="ODD", file="/abs/x y.yaml")), 2, 2, rules=rules,
                    root_uri="file:///repo")
    doc = sarif_document(report)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    run = doc["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///repo/"}}
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["PF003", "PF004", "ODD"]
    assert run["tool"]["driver"]["rules"][1]["defaultConfiguration"] == {"level": "error"}
    first, second = run["results"]
    assert first["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "c/b.yaml"
    assert second["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///abs/x%20y.yaml"}
    assert second["ruleIndex"] == 2
