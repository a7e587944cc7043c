"""The one entry point the CLI, the daemon and the web UI share: plan a repo, apply a plan.

    bundle, plan = plan_repo(project, db, prune=False)
    result = apply_plan(db, plan, bundle, project=project, actor="cli")
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from campaign_gitops.config.bundle import Bundle, load_bundle
from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.reconcile.apply import ApplyResult, apply_changes, git_info
from campaign_gitops.reconcile.plan import Plan, PlanOptions, build_plan
from campaign_gitops.state.db import Database
from campaign_gitops.state.snapshot import Snapshot, load_snapshot

__all__ = ["ApplyResult", "apply_plan", "load_project_bundle", "plan_repo", "project_config"]


def project_config(project: Project) -> ProjectConfig:
    """The root's campaign-gitops.yaml (its errors raise), else the defaults."""
    try:
        from campaign_gitops.config.project_file import load_project_file
    except ImportError:  # the configuration file part is not installed
        return ProjectConfig()
    return load_project_file(project.root).require()


def load_project_bundle(project: Project) -> Bundle:
    if not project.resources_dir.is_dir():
        raise CampaignGitopsError(
            f"no resources folder at {project.resources_dir}",
            "run from the repo root or pass --dir (a missing folder is never read as "
            "'everything deleted')")
    return load_bundle(project.resources_dir, project.root)


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def snapshot_of(db: Database) -> Snapshot:
    with db.session() as session:
        return load_snapshot(session)


def plan_repo(project: Project, db: Database, *, prune: bool = False,
              now: dt.datetime | None = None,
              config: ProjectConfig | None = None) -> tuple[Bundle, Plan]:
    """Load the files and the database and compute the plan between them."""
    config = config or project_config(project)
    with _no_gc():  # tens of thousands of fresh objects, few cycles: ~15% faster
        bundle = load_project_bundle(project)
        snapshot = snapshot_of(db)
        options = PlanOptions(prune=prune, now=now or dt.datetime.now(dt.UTC), config=config)
        return bundle, build_plan(bundle, snapshot, options)


def apply_plan(db: Database, plan: Plan, bundle: Bundle, *, project: Project,
               actor: str = "cli", now: dt.datetime | None = None,
               config: ProjectConfig | None = None, on_change: Any = None) -> ApplyResult:
    """Execute ``plan`` (one transaction per change); see ``reconcile.apply``."""
    return apply_changes(db, plan, bundle, config=config or project_config(project),
                         git=git_info(project.root), actor=actor, now=now,
                         on_change=on_change)
