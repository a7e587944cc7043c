"""The real ``campaign-gitops lint`` on real repos: exit codes, formats, scopes, actions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from tests.helpers import ACME, make_repo

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "preflight" / "data" / "sarif-schema-2.1.0.json"

HEADER = "apiVersion: campaign-gitops/v1\n"


def campaign(status: str = "active", reviewer: str | None = "rules", runs: str = "") -> str:
    lines = [HEADER.rstrip(), "kind: Campaign", "metadata: {name: q1, client: acme}", "spec:",
             f"  status: {status}", "  channel: email", "  goal: book-demo", "  segment: cto-au",
             "  writer: plain", "  template: intro", "  testRecipients: [qa@acme.test]"]
    if reviewer:
        lines.append(f"  reviewer: {reviewer}")
    if runs:
        lines.append(f"  runs: {runs}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_repo(tmp_path, {**ACME, "acme/q1.yaml": campaign()})  # q1 active, with a segment
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path


def lint(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["lint", *args], env=env)


def as_json(*args: str) -> dict:
    result = lint("--format", "json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


def set_campaign(repo: Path, text: str) -> None:
    (repo / "campaigns" / "acme" / "q1.yaml").write_text(text)


def test_clean_repo_exits_0(repo: Path) -> None:
    result = lint()
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0 errors, 0 warnings in 3 files (7 resources)"


def test_an_error_exits_1_with_the_exact_json_shape(repo: Path) -> None:
    set_campaign(repo, campaign(reviewer=None))
    result = lint("--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    [finding] = data["findings"]
    assert set(finding) == {"rule", "severity", "file", "line", "column", "path", "resource",
                            "message"}
    assert (finding["rule"], finding["severity"], finding["file"]) == (
        "PF003", "error", "campaigns/acme/q1.yaml")
    assert finding["resource"] == "acme/Campaign/q1"
    assert finding["line"] >= 1 and finding["column"] >= 1
    assert data["summary"] == {"files": 3, "resources": 7, "errors": 1, "warnings": 0}


def test_warnings_exit_0_and_strict_makes_them_fail(repo: Path) -> None:
    set_campaign(repo, campaign(status="draft"))
    assert lint().exit_code == 0
    assert [f["rule"] for f in as_json()["findings"]] == ["PF006"]
    assert lint("--strict").exit_code == 1


def test_action_changes_severities(repo: Path) -> None:
    set_campaign(repo, campaign(status="draft"))
    data = as_json("--action", "run")
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("PF006", "error")]
    assert lint("--action", "run").exit_code == 1
    assert as_json("--action", "test_run")["findings"] == []  # PF006 is not checked there


def test_declared_runs_decide_what_lint_checks(repo: Path) -> None:
    set_campaign(repo, campaign(status="draft", runs="[{name: go, type: run}]"))
    data = as_json()
    assert [(f["rule"], f["severity"]) for f in data["findings"]] == [("PF006", "error")]


def test_text_format_points_at_the_source_with_a_caret(repo: Path) -> None:
    set_campaign(repo, campaign(status="draft"))
    out = lint().output.splitlines()
    head = next(i for i, line in enumerate(out) if "PF006" in line)
    assert out[head].startswith("campaigns/acme/q1.yaml:5:11: warning PF006 ")
    assert out[head + 2] == "5 |   status: draft"
    assert out[head + 3] == "  |           ^"
    assert any(line.lstrip().startswith("= hint: ") for line in out)
    assert out[0] == "campaigns/acme/q1.yaml"
    assert out[-1] == "0 errors, 1 warning in 3 files (7 resources)"
    assert "\x1b[" not in lint().output  # not a terminal: no colour


def test_text_format_is_coloured_when_forced(repo: Path) -> None:
    set_campaign(repo, campaign(status="draft"))
    assert "\x1b[" in CliRunner().invoke(cli, ["lint"], env={"FORCE_COLOR": "1"},
                                         color=True).output


def test_github_format_and_step_summary(repo: Path, tmp_path: Path) -> None:
    set_campaign(repo, campaign(reviewer=None, status="draft"))
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = lint("--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("::error file=campaigns/acme/q1.yaml,line=")
    assert ",title=PF003::" in lines[0]
    assert lines[1].startswith("::warning file=campaigns/acme/q1.yaml,")
    assert "title=PF006" in lines[1]
    table = summary.read_text()
    assert table.startswith("earlier step\n### campaign-gitops lint")  # appended, not replaced
    assert "| Severity | Rule | Location | Resource | Message |" in table
    assert table.count("| :x: error | PF003 |") == 1 and "| :warning: warning | PF006 |" in table


def test_github_without_step_summary_writes_no_file(repo: Path) -> None:
    assert lint("--format", "github").exit_code == 0
    assert not list(repo.glob("*.md"))


def test_sarif_is_valid_sarif_210_with_rule_metadata(repo: Path) -> None:
    set_campaign(repo, campaign(reviewer=None, status="draft"))
    result = lint("--format", "sarif")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert {"PF001", "PF003", "PF006", "SCHEMA"} <= set(rules)
    result_ids = [r["ruleId"] for r in run["results"]]
    assert result_ids == ["PF003", "PF006"] or result_ids == ["PF006", "PF003"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"] == {"uri": "campaigns/acme/q1.yaml",
                                           "uriBaseId": "%SRCROOT%"}
        assert loc["region"]["startLine"] >= 1
    assert {r["level"] for r in run["results"]} == {"error", "warning"}


def test_list_rules(repo: Path) -> None:
    result = lint("--list-rules")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["id", "lint", "test_run", "run", "schedule"]
    ids = [line.split()[0] for line in lines[1:]]
    assert {"PF001", "PF003", "PF004", "PF006", "SCHEMA"} <= set(ids)
    pf005 = next(line for line in lines if line.startswith("PF005"))
    assert pf005.split()[1:5] == ["-", "-", "error", "error"]
    data = json.loads(lint("--list-rules", "--format", "json").output)
    pf006 = next(r for r in data["rules"] if r["id"] == "PF006")
    assert pf006["severities"] == {"lint": "warning", "test_run": None, "run": "error",
                                   "schedule": "error"}


def test_paths_limit_the_report_but_references_still_resolve(repo: Path) -> None:
    (repo / "campaigns" / "acme" / "bad.yaml").write_text(
        HEADER + "kind: Goal\nmetadata: {name: bad, client: acme}\nspec: {outcome: nope}\n")
    assert lint().exit_code == 1
    only_campaign = as_json("campaigns/acme/q1.yaml")
    assert only_campaign["findings"] == []
    assert only_campaign["summary"] == {"files": 1, "resources": 1, "errors": 0, "warnings": 0}
    assert lint("campaigns/acme/q1.yaml").exit_code == 0
    assert lint("campaigns/acme/bad.yaml").exit_code == 1


def test_a_path_outside_dir_is_loaded_too(repo: Path) -> None:
    extra = repo / "drafts" / "goal.yaml"
    extra.parent.mkdir()
    extra.write_text(HEADER + "kind: Goal\nmetadata: {name: x, client: acme}\nspec: {outcme: 1}\n")
    data = as_json("drafts")
    assert {(f["file"], f["line"], f["rule"]) for f in data["findings"]} == {
        ("drafts/goal.yaml", 4, "SCHEMA")}
    assert any("did you mean 'outcome'" in f["message"] for f in data["findings"])
    assert data["summary"]["files"] == 1


def test_output_file(repo: Path) -> None:
    result = lint("--format", "json", "--output", "report.json")
    assert result.exit_code == 0 and result.output == ""
    assert json.loads((repo / "report.json").read_text())["summary"]["errors"] == 0


@pytest.mark.parametrize("args", [["--format", "xml"], ["--action", "deploy"], ["nope.yaml"]])
def test_usage_errors_exit_2(repo: Path, args: list[str]) -> None:
    assert lint(*args).exit_code == 2


def test_missing_dir_exits_2(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--dir", "nowhere", "lint"])
    assert result.exit_code == 2
    assert "no such folder" in result.output


def test_broken_yaml_is_a_finding_not_a_crash(repo: Path) -> None:
    (repo / "campaigns" / "acme" / "broken.yaml").write_bytes(b"a: [1, 2\nb: \xff\n")
    data = as_json()
    assert [f["rule"] for f in data["findings"]] == ["SCHEMA"]
    assert data["findings"][0]["file"] == "campaigns/acme/broken.yaml"


def test_help_has_an_example() -> None:
    for command in ("lint", "schema"):
        out = CliRunner().invoke(cli, [command, "--help"]).output
        assert "Example" in out and f"campaign-gitops {command}" in out


def test_the_example_repo_passes_with_the_real_console_script() -> None:
    script = Path(sys.executable).parent / "campaign-gitops"
    proc = subprocess.run([str(script), "lint", "--format", "json", "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["summary"]["errors"] == 0
    assert data["summary"]["files"] >= 18
    # The only warning: the draft SMS campaign that is still being prepared (README).
    assert [(f["rule"], f["resource"]) for f in data["findings"]] == [
        ("PF006", "acme/Campaign/ops-sms-reminders")]
