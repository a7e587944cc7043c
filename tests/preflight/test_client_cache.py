"""Per-client preflight reuse (plan's path after an edit): always the whole-bundle answer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from campaign_gitops.config.discovery import discover_sources
from campaign_gitops.findings import Finding
from campaign_gitops.preflight import client_cache
from campaign_gitops.preflight.lint import load_checked

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(EXAMPLE, tmp_path / "campaigns")
    return tmp_path


def keys(findings) -> list[tuple[str, str, int, int, str]]:
    return sorted((f.rule, f.location.file, f.location.line, f.location.column, f.message)
                  for f in findings)


def check(repo: Path, cache: bool = True):
    cache_dir = repo / ".campaign-gitops" / "cache" if cache else None
    return load_checked(repo / "campaigns", repo, config=None, cache_dir=cache_dir)[1]


def stored(repo: Path) -> dict[str, list]:
    path = repo / ".campaign-gitops" / "cache" / client_cache.CACHE_FILE
    return json.loads(path.read_text())


def test_an_edit_rechecks_its_client_only_and_answers_like_one_bundle(repo: Path) -> None:
    check(repo)
    before = stored(repo)
    assert {"acme", "globex"} <= set(before)
    q1 = repo / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    q1.write_text(q1.read_text().replace("goal: book-demo", "goal: book-demos"))
    found = check(repo)
    assert keys(found) == keys(check(repo, cache=False))
    assert any(f.rule == "PF008" and f.location.file.endswith("cto-au-q1.yaml") for f in found)
    after = stored(repo)
    assert after["globex"] == before["globex"]  # reused, not recomputed
    assert after["acme"][0] != before["acme"][0]


def by_client(repo: Path, cache_dir: Path) -> list[Finding] | None:
    """``check_by_client`` on the repo's bundle as it is now (None: not split)."""
    resources = repo / "campaigns"
    bundle, _ = load_checked(resources, repo, config=None, cache_dir=None)
    files = discover_sources([resources.absolute()], repo)
    return client_cache.check_by_client(bundle, files, repo, resources, config=None,
                                        config_json=repr(None), cache_dir=cache_dir)


def test_a_layout_that_does_not_split_is_checked_whole(repo: Path) -> None:
    (repo / "campaigns" / "shared.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Goal\nmetadata: {name: extra, client: acme}\n"
        "spec: {outcome: reply}\n")
    assert by_client(repo, repo / ".campaign-gitops") is None
    assert keys(check(repo)) == keys(check(repo, cache=False))


def test_an_unchanged_client_comes_from_the_cache(repo: Path) -> None:
    check(repo)
    path = repo / ".campaign-gitops" / "cache" / client_cache.CACHE_FILE
    data = stored(repo)
    marker = ["PF999", "warning", ["campaigns/globex/x.yaml", 1, 1, []], "from the cache",
              "globex/Goal/x", "", []]
    data["globex"][1].append(marker)
    path.write_text(json.dumps(data))
    q1 = repo / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    q1.write_text(q1.read_text().replace("goal: book-demo", "goal: book-demos"))
    assert "PF999" in {f.rule for f in check(repo)}  # globex reused, acme re-checked
    assert "PF999" not in {f.rule for f in check(repo, cache=False)}


@pytest.mark.parametrize("warm", [False, True])
def test_a_resource_in_another_clients_folder_is_checked_whole(repo: Path, warm: bool) -> None:
    if warm:  # per-folder entries exist; the edit makes globex's one stale
        check(repo)
    (repo / "campaigns" / "globex" / "extra.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Goal\nmetadata: {name: extra, client: acme}\n"
        "spec: {outcome: reply}\n")
    assert by_client(repo, repo / ".campaign-gitops" / "cache") is None
    assert keys(check(repo)) == keys(check(repo, cache=False))
