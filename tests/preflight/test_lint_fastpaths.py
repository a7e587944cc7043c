"""The fast paths give exactly the one-process answer: parallel client folders and the cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from campaign_gitops.config.discovery import Source, discover_sources
from campaign_gitops.config.parse_cache import SHARDS, folder_shard
from campaign_gitops.preflight import parallel
from campaign_gitops.preflight.lint import lint

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    shutil.copytree(EXAMPLE, tmp_path / "campaigns")
    q1 = tmp_path / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    q1.write_text(q1.read_text().replace("goal: book-demo", "goal: book-demos"))
    (tmp_path / "campaigns" / "globex" / "broken.yaml").write_text("a: [\n")
    return tmp_path


def all_files(repo: Path) -> list[Source]:
    return discover_sources([repo / "campaigns"], repo)


def named(name: str) -> Source:
    return (f"campaigns/{name}", f"/repo/campaigns/{name}")


def run(repo: Path, **kw):
    return lint(repo / "campaigns", repo, **kw)


def keys(result) -> list[tuple[str, str, int, int, str]]:
    return [(f.rule, f.location.file, f.location.line, f.location.column, f.message)
            for f in result.findings]


def test_parallel_equals_one_process(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = run(repo, workers=1)
    assert {"PF008", "SCHEMA"} <= {f.rule for f in one.findings}
    monkeypatch.setattr(parallel, "MIN_FILES", 0)
    two = run(repo, workers=2)
    assert keys(two) == keys(one)
    assert (two.files, two.resources) == (one.files, one.resources)
    outcome = parallel.lint_parallel(all_files(repo), repo, repo / "campaigns", action=None,
                                     config=None, workers=2)
    assert outcome is not None  # the split really happened


def test_parallel_falls_back_when_the_layout_does_not_split(repo: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    (repo / "campaigns" / "shared.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Goal\nmetadata: {name: extra, client: acme}\n"
        "spec: {outcome: reply}\n")
    files = all_files(repo)
    assert parallel.lint_parallel(files, repo, repo / "campaigns", action=None, config=None,
                                  workers=2) is None
    monkeypatch.setattr(parallel, "MIN_FILES", 0)
    assert keys(run(repo, workers=2)) == keys(run(repo, workers=1))


def test_a_resource_of_another_client_in_a_folder_falls_back(repo: Path) -> None:
    goal = repo / "campaigns" / "acme" / "goals.yaml"
    goal.write_text(goal.read_text().replace("client: acme", "client: globex", 1))
    files = all_files(repo)
    assert parallel.lint_parallel(files, repo, repo / "campaigns", action=None, config=None,
                                  workers=2) is None
    assert any("lives in the folder of client" in f.message
               for f in run(repo, workers=1).findings)


def test_cache_answers_only_when_nothing_changed(repo: Path) -> None:
    cache = repo / ".campaign-gitops" / "cache"
    first = run(repo, cache_dir=cache)
    assert not first.cached
    assert (cache / ".gitignore").read_text() == "*\n"
    second = run(repo, cache_dir=cache)
    assert second.cached and keys(second) == keys(first)
    assert (second.files, second.resources) == (first.files, first.resources)

    broken = repo / "campaigns" / "globex" / "broken.yaml"
    broken.unlink()
    third = run(repo, cache_dir=cache)
    assert not third.cached
    assert "campaigns/globex/broken.yaml" not in {f.location.file for f in third.findings}
    assert third.files == first.files - 1

    assert not run(repo, cache_dir=cache, action="run").cached  # another question
    assert run(repo, cache_dir=cache, action="run").cached


def test_cache_sees_a_same_size_edit(repo: Path) -> None:
    cache = repo / ".campaign-gitops" / "cache"
    q1 = repo / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    before = run(repo, cache_dir=cache)
    stat = q1.stat()
    q1.write_text(q1.read_text().replace("goal: book-demos", "goal: book-demo_"))
    os.utime(q1, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    after = run(repo, cache_dir=cache)
    assert not after.cached  # ctime moved
    assert keys(after) != keys(before)


def test_paths_scope_the_cached_answer(repo: Path) -> None:
    cache = repo / ".campaign-gitops" / "cache"
    run(repo, cache_dir=cache)
    scoped = run(repo, cache_dir=cache, paths=[repo / "campaigns" / "globex"])
    assert scoped.cached
    assert {f.location.file for f in scoped.findings} == {"campaigns/globex/broken.yaml"}


def test_a_corrupt_cache_is_ignored(repo: Path) -> None:
    cache = repo / ".campaign-gitops" / "cache"
    run(repo, cache_dir=cache)
    (cache / "lint.json").write_text("{not json")
    again = run(repo, cache_dir=cache)
    assert not again.cached and again.findings
    assert run(repo, cache_dir=cache).cached


def test_client_folders_are_packed_into_a_few_even_batches() -> None:
    groups = {f"c{i:04d}": [named(f"c{i:04d}/f{j}.yaml") for j in range(8)]
              for i in range(1250)}
    groups["big"] = [named(f"big/f{j}.yaml") for j in range(100)]
    packed = parallel.batches(groups, 8)
    assert len(packed) == 8
    assert sorted(f for batch in packed for f in batch) == sorted(groups)
    sizes = [sum(len(p) for p in batch.values()) for batch in packed]
    assert max(sizes) - min(sizes) <= 100  # within one folder of each other
    assert parallel.batches({"a": [named("a/x.yaml")]}, 4) == [{"a": [named("a/x.yaml")]}]


def test_a_parse_cache_shard_lies_in_one_batch() -> None:
    # Workers write the shards of their batch: two batches never share one.
    groups = {f"c{i:04d}": [named(f"c{i:04d}/f{j}.yaml") for j in range(8)]
              for i in range(1250)}
    owner: dict[str, int] = {}
    for n, batch in enumerate(parallel.batches(groups, 8)):
        for folder in batch:
            assert owner.setdefault(folder_shard(folder), n) == n
    assert len(owner) == SHARDS


def test_many_small_client_folders_lint_in_batches_as_in_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    for i in range(30):
        folder = tmp_path / "campaigns" / f"c{i:02d}"
        folder.mkdir(parents=True)
        (folder / "client.yaml").write_text(
            f"apiVersion: campaign-gitops/v1\nkind: Client\nmetadata: {{name: c{i:02d}}}\n"
            "spec: {tier: ignition, timezone: UTC}\n")
        (folder / "goal.yaml").write_text(
            f"apiVersion: campaign-gitops/v1\nkind: Goal\nmetadata: {{name: g, client: c{i:02d}}}\n"
            "spec: {outcome: reply, description: 'key AKIAIOSFODNN7EXAMPLE'}\n")
    monkeypatch.setattr(parallel, "MIN_FILES", 0)
    one, two = run(tmp_path, workers=1), run(tmp_path, workers=2)
    assert len([f for f in one.findings if f.rule == "PF016"]) == 30
    assert keys(two) == keys(one)
    files = all_files(tmp_path)
    assert parallel.lint_parallel(files, tmp_path, tmp_path / "campaigns", action=None,
                                  config=None, workers=2) is not None
