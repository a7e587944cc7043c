"""The daemon's sources: the worktree with a content-hash cache, and a git commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from campaign_gitops.reconcile.sources import GitSource, WorktreeSource

GOAL = """apiVersion: campaign-gitops/v1
kind: Goal
metadata: {{name: {name}, client: acme}}
spec: {{outcome: meeting, description: "{text}"}}
"""


def write(root: Path, rel: str, name: str, text: str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(GOAL.format(name=name, text=text))
    return path


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    write(tmp_path, "campaigns/a.yaml", "a")
    write(tmp_path, "campaigns/sub/b.yml", "b")
    (tmp_path / "campaigns" / "notes.txt").write_text("not yaml")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def test_worktree_rereads_only_changed_files(repo: Path) -> None:
    source = WorktreeSource(repo, repo / "campaigns")
    first = source.read()
    assert sorted(first.files) == ["campaigns/a.yaml", "campaigns/sub/b.yml"]
    assert first.changed == set(first.files)
    assert first.commit == git(repo, "rev-parse", "HEAD") and not first.dirty
    kept = first.files["campaigns/sub/b.yml"]

    path = write(repo, "campaigns/a.yaml", "a", text="edited")
    second = source.read([str(path)])
    assert second.changed == {"campaigns/a.yaml"} and second.dirty
    assert second.files["campaigns/sub/b.yml"] is kept
    assert second.files["campaigns/a.yaml"].documents[0].data["spec"]["description"] == "edited"

    path.touch()  # same bytes: nothing to re-read
    assert source.read([str(path)]).changed == frozenset()


def test_worktree_notices_removed_files_and_folders(repo: Path) -> None:
    source = WorktreeSource(repo, repo / "campaigns")
    source.read()
    (repo / "campaigns/a.yaml").unlink()
    assert source.read([str(repo / "campaigns/a.yaml")]).changed == {"campaigns/a.yaml"}
    (repo / "campaigns/sub/b.yml").unlink()
    (repo / "campaigns/sub").rmdir()
    result = source.read([str(repo / "campaigns/sub")])
    assert result.changed == {"campaigns/sub/b.yml"} and result.files == {}


@pytest.mark.parametrize("temp_name", ["sedAb12Cd", ".a.yaml.tmp", "a.yaml___jb_tmp___"])
@pytest.mark.parametrize("temp_first", [True, False])
def test_worktree_save_by_rename_is_seen_in_either_event_order(
        repo: Path, temp_name: str, temp_first: bool) -> None:
    """A save by temp file + rename: the batch names the target and the vanished temp
    file, in any order; the target's new bytes are read either way (issue 13)."""
    source = WorktreeSource(repo, repo / "campaigns")
    source.read()
    temp = write(repo, f"campaigns/{temp_name}", "a", text="saved")
    target = repo / "campaigns/a.yaml"
    temp.replace(target)
    batch = [str(temp), str(target)] if temp_first else [str(target), str(temp)]
    result = source.read(batch)
    assert result.changed == {"campaigns/a.yaml"}
    assert result.files["campaigns/a.yaml"].documents[0].data["spec"]["description"] == "saved"


def test_worktree_folder_moved_in_and_out_is_rescanned(repo: Path, tmp_path: Path) -> None:
    source = WorktreeSource(repo, repo / "campaigns")
    source.read()
    outside = tmp_path / "elsewhere"
    write(outside, "c/x.yaml", "x")
    (outside / "c").rename(repo / "campaigns/moved")
    edited = write(repo, "campaigns/a.yaml", "a", text="edited")
    assert source.read([str(edited), str(repo / "campaigns/moved")]).changed == {
        "campaigns/a.yaml", "campaigns/moved/x.yaml"}
    (repo / "campaigns/moved").rename(outside / "back")
    assert source.read([str(repo / "campaigns/moved")]).changed == {"campaigns/moved/x.yaml"}


def test_worktree_full_scan_keeps_unchanged_results(repo: Path) -> None:
    source = WorktreeSource(repo, repo / "campaigns")
    first = source.read()
    again = source.read()
    assert again.changed == frozenset()
    assert again.files["campaigns/a.yaml"] is first.files["campaigns/a.yaml"]


def test_git_source_reads_the_commit_not_the_worktree(repo: Path) -> None:
    source = GitSource(repo, repo / "campaigns", ref="main")
    first = source.read()
    assert sorted(first.files) == ["campaigns/a.yaml", "campaigns/sub/b.yml"]
    assert first.commit == git(repo, "rev-parse", "HEAD")

    write(repo, "campaigns/a.yaml", "a", text="half-edited")
    write(repo, "campaigns/c.yaml", "c")
    unchanged = source.read()
    assert unchanged.changed == frozenset()
    assert unchanged.files["campaigns/a.yaml"].documents[0].data["spec"]["description"] == "x"

    git(repo, "add", "campaigns/a.yaml")
    git(repo, "rm", "-q", "campaigns/sub/b.yml")
    git(repo, "commit", "-q", "-m", "two")
    moved = source.read()
    assert moved.commit == git(repo, "rev-parse", "HEAD")
    assert moved.changed == {"campaigns/a.yaml", "campaigns/sub/b.yml"}
    assert sorted(moved.files) == ["campaigns/a.yaml"]
    text = moved.files["campaigns/a.yaml"].documents[0].data["spec"]["description"]
    assert text == "half-edited"


def test_git_source_reports_a_bad_file_as_findings(repo: Path) -> None:
    (repo / "campaigns/bad.yaml").write_text("kind: [unclosed\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "bad")
    result = GitSource(repo, repo / "campaigns").read()
    bad = result.files["campaigns/bad.yaml"]
    assert bad.failed and bad.findings[0].location.line == 2
