"""`lint` reports an invalid campaign-gitops.yaml as findings; other commands refuse it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
CLI = str(Path(sys.executable).parent / "campaign-gitops")
CLEAN_ENV = {"CAMPAIGN_GITOPS_DIR": None, "CAMPAIGN_GITOPS_DB": None,
             "GITHUB_STEP_SUMMARY": None, "FORCE_COLOR": None}
# line 3: an unknown key; line 5, column 8: a value of the wrong type
BROKEN = "resourcesDir: res\nprune: false\nfreezeWindow: []\ntiers: {}\nrules: 12\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(EXAMPLE, tmp_path / "res")
    (tmp_path / "campaign-gitops.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, **env: str | None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **env})
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_the_config_findings_with_the_resources_findings(repo: Path) -> None:
    code, out, _ = run("lint", "--format", "json")
    assert code == 1
    data = json.loads(out)
    config = [f for f in data["findings"] if f["file"] == "campaign-gitops.yaml"]
    assert [(f["rule"], f["severity"], f["line"], f["column"], f["path"]) for f in config] == [
        ("SCHEMA", "error", 3, 1, "/freezeWindow"), ("SCHEMA", "error", 5, 8, "/rules")]
    assert "did you mean 'freezeWindows'" in config[0]["message"]
    # The resources were linted too, from the folder the broken file names.
    others = [f for f in data["findings"] if f["file"] != "campaign-gitops.yaml"]
    assert others and all(f["file"].startswith("res/") for f in others)
    assert data["summary"]["errors"] == 2
    assert data["summary"]["resources"] == 33
    assert data["summary"]["files"] == 1 + len(list((repo / "res").rglob("*.yaml")))


def test_text_points_at_the_config_line_with_a_caret(repo: Path) -> None:
    code, out, err = run("lint")
    assert code == 1 and err == ""
    lines = out.splitlines()
    at = lines.index("campaign-gitops.yaml:5:8: error SCHEMA rules: Input should be a valid "
                     "dictionary (got 12)")
    assert lines[at + 2:at + 4] == ["5 | rules: 12", "  |        ^"]
    assert lines[-1].startswith("2 errors, ")


def test_github_annotates_the_config_file_and_writes_the_summary(repo: Path) -> None:
    summary = repo / "summary.md"
    code, out, _ = run("lint", "--format", "github", GITHUB_STEP_SUMMARY=str(summary))
    assert code == 1
    assert out.splitlines()[0] == (
        "::error file=campaign-gitops.yaml,line=3,col=1,title=SCHEMA::unknown field "
        "'freezeWindow' (did you mean 'freezeWindows'?)")
    table = summary.read_text()
    assert "| :x: error | SCHEMA | `campaign-gitops.yaml:5:8` |  | rules: Input" in table


def test_sarif_carries_the_config_finding(repo: Path) -> None:
    code, out, _ = run("lint", "--format", "sarif")
    assert code == 1
    results = json.loads(out)["runs"][0]["results"]
    where = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results]
    assert ("SCHEMA", "campaign-gitops.yaml", 3) in where


def test_an_unparsable_config_is_reported_without_resources_to_lint(repo: Path) -> None:
    (repo / "campaign-gitops.yaml").write_text("resourcesDir: res\nprune: [\n")
    code, out, _ = run("lint", "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert [(f["file"], f["line"], f["rule"]) for f in data["findings"]] == [
        ("campaign-gitops.yaml", 3, "SCHEMA")]
    assert "YAML syntax error" in data["findings"][0]["message"]
    # --dir still names the folder: a missing one stays a usage error.
    code, _, err = run("--dir", "missing", "lint")
    assert code == 2 and "no such folder" in err


@pytest.mark.parametrize("command", [["plan"], ["status"], ["config"]])
def test_other_commands_keep_failing_with_the_clear_error(repo: Path,
                                                          command: list[str]) -> None:
    code, out, err = run(*command)
    if command == ["config"]:  # config shows every problem, exit 1 (its own contract)
        assert code == 1 and "campaign-gitops.yaml:3:1: error: unknown field" in out
        return
    assert code == 2 and out == ""
    assert err.splitlines()[0] == (
        "error: invalid project configuration: campaign-gitops.yaml:3:1: unknown field "
        "'freezeWindow' (did you mean 'freezeWindows'?)")


def test_the_console_script_exits_1(repo: Path) -> None:
    done = subprocess.run([CLI, "lint", "--format", "github"], cwd=repo, capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": str(Path(sys.executable).parent), "HOME": str(repo)})
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("::error file=campaign-gitops.yaml,line=3,col=1,title=SCHEMA::")
