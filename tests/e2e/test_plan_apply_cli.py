"""The real CLI on small repos: plan, apply, saved plans, exit codes, formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from tests.helpers import ACME, make_repo


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str):
    """``run(*args)`` -> (exit code, output) of the CLI in a repo at tmp_path."""
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DB", raising=False)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
        return result.exit_code, result.output
    return invoke


def test_plan_apply_plan(run) -> None:
    code, out = run("plan", "--detailed-exitcode")
    assert code == 2
    assert "+ acme/Campaign/q1" in out
    assert "Plan: 7 to create, 0 to update, 0 transitions, 0 runs, 0 to archive, 0 errors." \
        in out
    assert run("plan")[0] == 0  # changes without --detailed-exitcode
    code, out = run("apply", "--auto-approve")
    assert code == 0, out
    assert "Apply complete: 7 created" in out
    code, out = run("plan", "--detailed-exitcode")
    assert code == 0 and "No changes." in out
    code, out = run("apply", "--auto-approve")
    assert code == 0 and "No changes." in out


def test_apply_without_a_terminal_refuses(run) -> None:
    code, out = run("apply")
    assert code == 1
    assert "--auto-approve" in out
    assert run("plan", "--detailed-exitcode")[0] == 2  # nothing was applied


def test_plan_json_shape(run, tmp_path: Path) -> None:
    run("apply", "--auto-approve")
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: active")
                    .replace("template: intro", "template: intro\n  dailyLimit: 20"))
    code, out = run("plan", "--format", "json", "--detailed-exitcode")
    assert code == 2
    data = json.loads(out)
    assert set(data) >= {"changes", "summary", "base_serial"}
    assert data["base_serial"] == 7
    assert [(c["action"], c["resource"], c["from"], c["to"]) for c in data["changes"]] == [
        ("update", "acme/Campaign/q1", None, None),
        ("transition", "acme/Campaign/q1", "draft", "active")]
    assert data["changes"][0]["fields"] == {"spec.dailyLimit": {"old": None, "new": 20}}
    assert data["summary"]["update"] == 1 and data["summary"]["transition"] == 1
    code, out = run("plan", "--format", "markdown")
    assert "| ~ | `acme/Campaign/q1` | update |" in out.replace("\\~", "~")


def test_plan_with_errors_exits_1(run, tmp_path: Path) -> None:
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("  writer: plain\n", ""))
    code, out = run("plan")
    assert code == 1
    assert "! acme/Campaign/q1" in out and "PF002" in out
    code, out = run("apply", "--auto-approve")
    assert code == 1 and "6 created" in out


def test_saved_plan_applies_once_then_is_stale(run, tmp_path: Path) -> None:
    code, out = run("plan", "--out", "tfplan")
    assert code == 0 and (tmp_path / "tfplan").exists()
    code, out = run("apply", "tfplan")
    assert code == 0, out
    code, out = run("apply", "tfplan")
    assert code == 1
    assert "stale plan: the database changed" in out and "plan --out" in out


def test_saved_plan_refused_after_a_file_changed(run, tmp_path: Path) -> None:
    run("plan", "--out", "tfplan")
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text() + "# a comment\n")
    code, out = run("apply", "tfplan")
    assert code == 1
    assert "files changed" in out and "campaigns/acme/q1.yaml" in out
    assert run("plan", "--detailed-exitcode")[0] == 2  # nothing applied


def test_not_a_plan_file(run, tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("{nope")
    code, out = run("apply", "junk")
    assert code == 2 and "not a saved plan" in out


def test_real_entry_point_runs(tmp_path: Path, sqlite_url: str) -> None:
    make_repo(tmp_path)
    exe = Path(sys.executable).with_name("campaign-gitops")
    done = subprocess.run([str(exe), "--db", sqlite_url, "apply", "--auto-approve"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Apply complete: 7 created" in done.stdout


DUPLICATE_RUN = """
    apiVersion: campaign-gitops/v1
    kind: Campaign
    metadata: {name: q2, client: acme}
    spec:
      status: draft
      goal: book-demo
      writer: plain
      reviewer: rules
      template: intro
      testRecipients: [qa@acme.test]
      runs:
        - {name: smoke, type: test_run}
        - {name: smoke, type: test_run}
    """


def test_a_file_that_fails_to_load_fails_plan_and_apply(run, tmp_path: Path) -> None:
    make_repo(tmp_path, {"acme/q2.yaml": DUPLICATE_RUN})
    for args in (("plan",), ("plan", "--detailed-exitcode")):
        code, out = run(*args)
        assert code == 1, out
        assert "campaigns/acme/q2.yaml" in out and "matches the files" not in out
    code, out = run("plan", "--format", "markdown")
    assert code == 1 and "matches the files" not in out
    code, out = run("apply", "--auto-approve")
    assert code == 1, out
    assert "7 created" in out and "held back" in out.lower()  # the rest applied
    code, out = run("plan", "--detailed-exitcode")  # only the held file is left
    assert code == 1 and "matches the files" not in out
    assert "campaigns/acme/q2.yaml" in out
    code, out = run("apply", "--auto-approve")
    assert code == 1 and "matches the files" not in out


def test_restoring_a_pruned_campaign_plans_from_its_archived_status(run, tmp_path) -> None:
    path = tmp_path / "campaigns/acme/q1.yaml"
    active = path.read_text().replace("status: draft", "status: active")
    path.write_text(active)
    assert run("apply", "--auto-approve")[0] == 0
    path.unlink()
    code, out = run("apply", "--auto-approve", "--prune")
    assert code == 0 and "1 archived" in out, out
    path.write_text(active)  # the file comes back, still saying active
    code, out = run("plan")
    assert code == 1, out
    assert "restores the archived resource" in out
    assert "! acme/Campaign/q1" in out and "completed" in out and "draft" not in out
    code, out = run("apply", "--auto-approve")
    assert code == 1 and "1 created" in out  # restored; the illegal transition refused
    path.write_text(active.replace("status: active", "status: completed"))
    assert run("plan", "--detailed-exitcode")[0] == 0
    code, out = run("history", "q1")
    assert code == 0 and "restored" in out and "renamed or moved" not in out, out
    code, out = run("history", "q1", "--format", "json")
    assert [r["restored"] for r in json.loads(out)["revisions"]] == [False, True]


def test_prune_keeps_a_protected_orphan_without_failing(run, tmp_path: Path) -> None:
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace(
        "metadata: {name: q1, client: acme}",
        'metadata: {name: q1, client: acme, annotations: {campaign-gitops/protect: "true"}}'))
    assert run("apply", "--auto-approve")[0] == 0
    path.unlink()
    code, out = run("plan", "--prune", "--detailed-exitcode")
    assert code == 0, out
    assert "# acme/Campaign/q1: protected" in out and "prune" in out
    code, out = run("apply", "--auto-approve", "--prune")
    assert code == 0, out
    assert run("status", "--format", "json")[0] == 0


def test_a_saved_plan_is_the_approval_without_a_terminal(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    make_repo(tmp_path)
    exe = str(Path(sys.executable).with_name("campaign-gitops"))

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "--db", sqlite_url, *args], cwd=tmp_path, text=True,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=120)

    assert "A saved PLANFILE is the approval" in " ".join(cli_run("apply", "--help").stdout
                                                           .split())
    refused = cli_run("apply")
    assert refused.returncode == 1 and "--auto-approve" in refused.stdout + refused.stderr
    assert cli_run("plan", "--out", "tfplan").returncode == 0
    done = cli_run("apply", "tfplan")  # no terminal, no --auto-approve: the file approves
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Apply complete: 7 created" in done.stdout


def test_apply_format_json(run, tmp_path: Path) -> None:
    code, out = run("apply", "--format", "json")  # it never asks: refuses, nothing changed
    assert code == 1 and "--auto-approve" in out
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("  writer: plain\n", ""))
    code, out = run("apply", "--auto-approve", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert set(data) == {"changes", "summary", "serial", "failed_files", "ok"}
    assert data["summary"] == {"create": 6, "update": 0, "transition": 0, "run": 0,
                               "cancel": 0, "archive": 0, "skipped": 0, "error": 1}
    assert data["serial"] == 6 and data["ok"] is False and data["failed_files"] == []
    first = data["changes"][0]
    assert set(first) == {"action", "resource", "from", "to", "tag", "outcome", "reason"}
    assert [first["action"], first["resource"], first["outcome"]] == [
        "create", "acme/Client/acme", "applied"]
    [error] = [c for c in data["changes"] if c["outcome"] == "error"]
    assert error["resource"] == "acme/Campaign/q1" and "PF002" in error["reason"]
    code, out = run("apply", "--auto-approve", "--format", "json")  # only the error left
    data = json.loads(out)
    assert code == 1 and data["summary"]["error"] == 1 and data["summary"]["create"] == 0
    make_repo(tmp_path, {"acme/q1.yaml": ACME["acme/q1.yaml"]})
    code, out = run("apply", "--auto-approve", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["summary"]["create"] == 1
