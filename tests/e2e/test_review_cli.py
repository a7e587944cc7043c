"""status, history, client set, halt/resume and db upgrade through the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from tests.helpers import ACME, make_repo


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".gitignore").write_text("state.db*\n*.json\n")
    make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DB", raising=False)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
        return result.exit_code, result.output
    return invoke


def commit(root: Path, message: str) -> str:
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_status_shows_sync_states(run, tmp_path: Path) -> None:
    code, out = run("status", "--format", "json")
    assert code == 0
    assert json.loads(out)["campaigns"] == [
        {"name": "q1", "client": "acme", "status": None, "channel": None, "goal": None,
         "segment": None, "writer": None, "reviewer": None, "active_runs": 0,
         "sync": "OutOfSync", "metrics": None}]
    run("apply", "--auto-approve")
    code, out = run("status")
    assert code == 0
    assert "q1" in out and "book-demo" in out and "Synced" in out
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: active"))
    assert json.loads(run("status", "--format", "json")[1])["campaigns"][0]["sync"] \
        == "OutOfSync"
    path.unlink()
    assert json.loads(run("status", "--format", "json")[1])["campaigns"][0]["sync"] \
        == "Orphan"
    path.write_text("kind: Campaign\nmetadata: {name: q1\n")
    assert json.loads(run("status", "q1", "--format", "json")[1])["campaigns"][0]["sync"] \
        == "Unknown"
    code, out = run("status", "nope")
    assert code == 2 and "no campaign 'nope'" in out


def test_history_shows_revisions_with_commit_and_diff(run, tmp_path: Path) -> None:
    first = commit(tmp_path, "first")
    run("apply", "--auto-approve")
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: active")
                    .replace("template: intro", "template: intro\n  dailyLimit: 25"))
    second = commit(tmp_path, "second")
    assert run("apply", "--auto-approve")[0] == 0
    code, out = run("history", "acme/q1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    revisions = data["revisions"]
    assert [(r["revision"], r["git_commit"], r["git_dirty"]) for r in revisions] == [
        (1, first, False), (2, second, False)]
    assert revisions[1]["changes"] == [
        {"path": "status", "old": "draft", "new": "active"},
        {"path": "dailyLimit", "old": None, "new": 25}]
    assert [e["action"] for e in data["events"]] == ["transition"]
    code, out = run("history", "q1")
    assert "revision 2" in out and f"git {second[:10]}" in out
    assert "dailyLimit: null → 25" in out and "status draft → active" in out
    code, out = run("history", "ghost")
    assert code == 2 and "no campaign 'ghost'" in out


def test_dirty_tree_is_recorded(run, tmp_path: Path) -> None:
    commit(tmp_path, "first")
    (tmp_path / "notes.txt").write_text("uncommitted")
    run("apply", "--auto-approve")
    data = json.loads(run("history", "q1", "--format", "json")[1])
    assert data["revisions"][0]["git_dirty"] is True


def test_client_set_gates_activation_and_stales_saved_plans(run, tmp_path: Path) -> None:
    run("apply", "--auto-approve")
    code, out = run("client", "set", "acme", "--subscription", "past_due")
    assert code == 0 and "past_due" in out
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: active"))
    code, out = run("plan")
    assert code == 1 and "subscription is past_due" in out
    run("client", "set", "acme", "--subscription", "active", "--credits", "10")
    run("plan", "--out", "p.json")
    assert run("client", "set", "acme", "--credits", "9")[0] == 0
    code, out = run("apply", "p.json")
    assert code == 1 and "stale plan" in out
    code, out = run("client", "list", "--format", "json")
    assert json.loads(out)["clients"][0] == {"name": "acme", "subscription": "active",
                                              "credits": 9, "halted": False,
                                              "archived": False}
    assert run("client", "set", "acme")[0] == 2


def test_halt_and_resume(run) -> None:
    run("apply", "--auto-approve")
    assert run("halt", "--reason", "incident")[0] == 0
    assert json.loads(run("status", "--format", "json")[1])["halted"] == {
        "global": True, "clients": []}
    assert run("halt", "--client", "acme")[0] == 0
    assert run("resume")[0] == 0
    assert json.loads(run("status", "--format", "json")[1])["halted"] == {
        "global": False, "clients": ["acme"]}
    assert run("resume", "--client", "acme")[0] == 0
    assert json.loads(run("client", "list", "--format", "json")[1])["clients"][0]["halted"] \
        is False
    code, out = run("halt", "--client", "nobody")
    assert code == 2 and "no client 'nobody'" in out
    # the clock is the caller's, like every command's --now
    assert run("halt", "--now", "2026-12-01T09:00:00Z")[0] == 0
    assert run("resume", "--now", "2026-12-01T09:05:00+11:00")[0] == 0
    code, out = run("halt", "--now", "tomorrow")
    assert code == 2 and "--now" in out
    assert run("client", "set", "acme", "--credits", "5", "--now", "2026-12-01T09:00:00Z")[0] == 0


def test_db_upgrade(run) -> None:
    code, out = run("db", "upgrade")
    assert code == 0 and "schema at revision" in out


def test_export_round_trips(run, tmp_path: Path) -> None:
    tricky = ACME["acme/q1.yaml"].replace(
        "metadata: {name: q1, client: acme}",
        "metadata: {name: q1, client: acme, labels: {team: growth, 'no': 'NO'},\n"
        "           annotations: {campaign-gitops/protect: \"true\"}}").replace(
        "template: intro", "template: intro\n          description: \"17:00 yes 0o17\"\n"
        "          runs: [{name: smoke, type: test_run}]")
    make_repo(tmp_path, {"acme/q1.yaml": tricky})
    assert run("apply", "--auto-approve")[0] == 0
    import shutil

    shutil.rmtree(tmp_path / "campaigns")
    code, out = run("plan", "--prune")  # a missing folder never reads as "all deleted"
    assert code == 2 and "no resources folder" in out
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas/resource.json").write_text("{}")
    code, out = run("export")
    assert code == 0 and "wrote 3 files (7 resources)" in out and "kept" not in out, out
    assert (tmp_path / "campaigns/acme/q1.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../../schemas/resource.json\n")
    code, out = run("lint")
    assert code == 0, out
    code, out = run("plan", "--detailed-exitcode")
    assert code == 0, out
    (tmp_path / "campaigns/acme/q1.yaml").unlink()
    code, out = run("export")
    assert "kept campaigns/acme/parts.yaml" in out and "kept campaigns/acme/q1.yaml" not in out
    assert "wrote 1 file (1 resource), kept 2 existing files (6 resources)" in out, out
    code, out = run("export", "--out", "elsewhere")
    assert (tmp_path / "elsewhere/campaigns/acme/q1.yaml").exists()


def test_client_set_refuses_a_client_nobody_defines(run) -> None:
    code, out = run("client", "set", "nosuch", "--credits", "5")
    assert code == 2, out
    assert "no client 'nosuch'" in out and "acme" in out  # the hint lists known clients
    code, out = run("client", "list", "--format", "json")
    assert json.loads(out)["clients"] == []  # nothing was created
    # A client the files define may be set before the first apply.
    code, out = run("client", "set", "acme", "--credits", "5")
    assert code == 0 and "credits 5" in out
    code, out = run("client", "set", "nosuch", "--credits", "5")
    assert code == 2 and "acme" in out  # now known from the database too
