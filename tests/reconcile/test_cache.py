"""plan goes through lint's path: its caches are shared, and never answer for old files."""

from __future__ import annotations

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.preflight.lint import lint
from campaign_gitops.reconcile.service import (
    apply_plan,
    cache_dir_of,
    plan_repo,
    project_config,
)

repo, database = rr.repo, rr.database


def actions(plan):
    return [(c.action, str(c.key), c.rules) for c in plan.changes]


def test_plan_warms_lints_cache_and_lint_warms_plans(repo, database) -> None:
    project = repo()
    config = project_config(project)
    plan_repo(project, database)
    cache_dir = cache_dir_of(project)
    assert (cache_dir / "lint.json").is_file()
    assert cache_dir == project.root / ".campaign-gitops" / "cache"
    result = lint(project.resources_dir, project.root, config=config, cache_dir=cache_dir)
    assert result.cached and result.files == 3


def test_an_edit_after_a_cached_plan_is_planned_with_its_preflight(repo, database) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    assert actions(plan_repo(project, database)[1]) == []  # warm: both caches answer
    path = project.resources_dir / "acme/q1.yaml"
    original = path.read_text()
    path.write_text(original.replace("segment: cto-au", "segment: nowhere"))
    _, cached = plan_repo(project, database)
    _, uncached = plan_repo(project, database, cache=False)
    assert actions(cached) == actions(uncached)
    assert [(a, k) for a, k, _ in actions(cached)] == [("error", "acme/Campaign/q1")]
    assert "PF008" in cached.changes[0].rules
    path.write_text(original)
    assert actions(plan_repo(project, database)[1]) == []


def test_cached_plan_keeps_file_hashes_of_the_files(repo, database) -> None:
    project = repo()
    _, cold = plan_repo(project, database, cache=False)
    plan_repo(project, database)
    _, warm = plan_repo(project, database)
    assert dict(warm.file_hashes) == dict(cold.file_hashes)
    assert len(warm.file_hashes) == 3


def test_create_restores_an_archived_row_in_place(repo, database) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    path = project.resources_dir / "acme/q1.yaml"
    text = path.read_text()
    path.unlink()
    bundle, plan = plan_repo(project, database, prune=True)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    path.write_text(text)
    bundle, plan = plan_repo(project, database)
    assert [(a, k) for a, k, _ in actions(plan)] == [("create", "acme/Campaign/q1")]
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.ok and result.counts()["create"] == 1
    assert actions(plan_repo(project, database)[1]) == []
