"""The parse cache: unchanged files come back as the same documents, positions included."""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import pytest

from campaign_gitops.config.bundle import build_bundle
from campaign_gitops.config.discovery import discover_sources, sources
from campaign_gitops.config.loader import load_file
from campaign_gitops.config.parse_cache import (
    SHARDS,
    ParseCache,
    folder_prefix,
    folder_shard,
    load_files,
    shard_of,
    top_folder,
)
from campaign_gitops.preflight.engine import run_preflight

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaigns")
    q1 = tmp_path / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    q1.write_text(q1.read_text().replace("goal: book-demo", "goal: book-demos"))
    return tmp_path


def lint(repo: Path, cache: Path | None) -> list[tuple[str, str, int, int, str]]:
    files = discover_sources([repo / "campaigns"], repo)
    results = load_files(files, repo, repo / "campaigns", cache)
    bundle = build_bundle(results, repo, repo / "campaigns")
    return [(f.rule, f.location.file, f.location.line, f.location.column, f.message)
            for f in run_preflight(bundle)]


def test_hits_give_the_same_findings_and_places(repo: Path) -> None:
    cache = repo / ".cache"
    expected = lint(repo, None)
    assert any(rule == "PF008" for rule, *_ in expected)
    assert lint(repo, cache) == expected  # fills the cache
    shards = sorted(p.name for p in cache.glob("parse-*.json"))
    assert shards == sorted({f"parse-{folder_shard(c)}.json" for c in ("acme", "globex")})
    assert lint(repo, cache) == expected  # every file from the cache


def test_a_hit_reads_no_yaml_and_locates_lazily(repo: Path) -> None:
    cache_dir = repo / ".cache"
    path = repo / "campaigns" / "acme" / "goals.yaml"
    (source,) = sources([path], repo)
    assert source == ("campaigns/acme/goals.yaml", str(path))
    first = ParseCache(cache_dir, "acme")
    fresh = first.load(source, repo)
    first.save()
    second = ParseCache(cache_dir, "acme")
    cached = second.load(source, repo)
    assert [d.data for d in cached.documents] == [d.data for d in fresh.documents]
    assert all(d.recorded is None for d in cached.documents)
    assert cached.documents[1].locate(("spec", "outcome"), value=True) == \
        load_file(path, repo).documents[1].locate(("spec", "outcome"), value=True)


def test_a_changed_file_is_parsed_again(repo: Path) -> None:
    cache = repo / ".cache"
    lint(repo, cache)
    q1 = repo / "campaigns" / "acme" / "campaigns" / "cto-au-q1.yaml"
    q1.write_text(q1.read_text().replace("goal: book-demos", "goal: book-demo"))
    assert not any(rule == "PF008" for rule, *_ in lint(repo, cache))


def test_files_with_load_findings_are_not_cached(repo: Path) -> None:
    cache = repo / ".cache"
    broken = repo / "campaigns" / "globex" / "broken.yaml"
    broken.write_text("a: [\n")
    lint(repo, cache)
    stored = {name for shard in cache.glob("parse-*.json")
              for name in json.loads(shard.read_text())["files"]}
    assert "campaigns/globex/broken.yaml" not in stored
    assert "campaigns/globex/client.yaml" in stored


def test_a_shard_of_other_code_is_ignored(repo: Path) -> None:
    cache = repo / ".cache"
    lint(repo, cache)
    for shard in cache.glob("parse-*.json"):
        data = json.loads(shard.read_text())
        data["code"] = "older"
        data["files"] = {name: [entry[0], entry[1], []] for name, entry in data["files"].items()}
        shard.write_text(json.dumps(data))
    assert lint(repo, cache) == lint(repo, None)  # the emptied documents were not used


def test_symlinks_are_never_cached(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "x.yaml"
    outside.write_text("a: 1\n")
    os.symlink(outside, repo / "campaigns" / "acme" / "link.yaml")
    cache = repo / ".cache"
    for _ in range(2):
        assert any("symlink points outside" in message for *_, message in lint(repo, cache))


def test_shards_hash_top_level_folders(repo: Path) -> None:
    prefix = folder_prefix(repo / "campaigns", repo)
    assert prefix == "campaigns/"
    assert folder_prefix(repo, repo) == ""
    assert top_folder("campaigns/acme/x/y.yaml", prefix) == "acme"
    assert top_folder("campaigns/top.yaml", prefix) == ""
    assert top_folder("elsewhere.yaml", prefix) == ""
    assert top_folder("campaigns-2/acme/y.yaml", prefix) == ""
    assert top_folder("/outside/acme/y.yaml", prefix) == ""
    assert top_folder("acme/y.yaml", "") == "acme"
    assert shard_of("campaigns/acme/x/y.yaml", prefix) == folder_shard("acme")
    assert shard_of("campaigns/top.yaml", prefix) == shard_of("elsewhere.yaml", prefix) == ""
    # A folder's shard is stable (not Python's salted hash) and one of SHARDS.
    assert folder_shard("acme") == f"{zlib.crc32(b'acme') % SHARDS:02d}"
    assert len({folder_shard(f"client-{i:04d}") for i in range(1250)}) == SHARDS


def test_a_hit_keeps_the_comments_for_the_secret_scan(repo: Path) -> None:
    goals = repo / "campaigns" / "acme" / "goals.yaml"
    goals.write_text(goals.read_text() + "# old key: AKIAIOSFODNN7EXAMPLE\n")
    cache = repo / ".cache"
    expected = lint(repo, None)
    assert [f for f in expected if f[0] == "PF016" and "comment" in f[4]]
    assert lint(repo, cache) == expected  # fills the cache
    assert lint(repo, cache) == expected  # goals.yaml from the cache, its comments too
