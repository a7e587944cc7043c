"""Prune is safe from the wrong folder: the repo root is found the way git finds its top
level, and a prune that would archive more than ``pruneMaxShare`` of what exists is
refused unless ``--allow-mass-prune``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaigns")
    (tmp_path / ".git").mkdir()  # the repo root
    monkeypatch.delenv("CAMPAIGN_GITOPS_DB", raising=False)
    monkeypatch.delenv("CAMPAIGN_GITOPS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _run("apply", "--auto-approve").exit_code == 0
    return tmp_path


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _archived(repo: Path) -> list[str]:
    result = _run("status", "--format", "json")
    return [c["name"] for c in json.loads(result.output)["campaigns"]  # type: ignore[attr-defined]
            if c["status"] == "archived"]


def test_prune_from_a_client_folder_works_on_the_whole_repo(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "campaigns" / "acme")
    result = _run("apply", "--prune", "--auto-approve")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "No changes" in result.output  # type: ignore[attr-defined]
    assert not (repo / "campaigns" / "acme" / ".campaign-gitops").exists()  # the root's db
    monkeypatch.chdir(repo)
    assert _archived(repo) == []


def test_a_mass_prune_is_refused_without_the_override(repo: Path) -> None:
    shutil.rmtree(repo / "campaigns" / "globex")  # an emptied folder reads as all deleted
    plan = _run("plan", "--prune", "--format", "json")
    assert plan.exit_code == 1  # type: ignore[attr-defined]
    changes = json.loads(plan.output)["changes"]  # type: ignore[attr-defined]
    refused = [c for c in changes if c["action"] == "error"]
    assert refused and not [c for c in changes if c["action"] == "archive"]
    assert all("--allow-mass-prune" in c["reason"] and "pruneMaxShare" in c["reason"]
               for c in refused)
    applied = _run("apply", "--prune", "--auto-approve")
    assert applied.exit_code == 1 and "0 to archive" in applied.output  # type: ignore[attr-defined]

    forced = _run("apply", "--prune", "--allow-mass-prune", "--auto-approve")
    assert forced.exit_code == 0, forced.output  # type: ignore[attr-defined]
    assert f"{len(refused)} archived" in forced.output  # type: ignore[attr-defined]


def test_a_small_prune_goes_through(repo: Path) -> None:
    campaigns = sorted((repo / "campaigns" / "acme").rglob("*.yaml"))
    victim = next(p for p in campaigns if "kind: Campaign" in p.read_text()
                  and p.read_text().count("kind:") == 1
                  and "campaign-gitops/protect" not in p.read_text())
    victim.unlink()
    result = _run("apply", "--prune", "--auto-approve")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "1 archived" in result.output  # type: ignore[attr-defined]
