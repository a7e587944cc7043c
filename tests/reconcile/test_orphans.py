"""Drift, orphans, prune, protect, rename, held files and suspended resources."""

from __future__ import annotations

from sqlalchemy import select, update

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.reconcile.plan import sync_states
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from campaign_gitops.state import tables as t
from tests.helpers import ACME

repo, database = rr.repo, rr.database

OLD = """
    apiVersion: campaign-gitops/v1
    kind: Campaign
    metadata:
      name: old-promo
      client: acme
      annotations: {ANNOTATIONS}
    spec: {goal: book-demo, writer: plain, reviewer: rules, template: intro, status: active}
    """


def applied(project, database, *, prune: bool = False):
    bundle, plan = plan_repo(project, database, prune=prune)
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    return plan, result


def changes(project, database, *, prune: bool = False):
    _, plan = plan_repo(project, database, prune=prune)
    return [(c.action, str(c.key), c.left_alone or c.instead_of or "") for c in plan.changes]


def test_drift_is_reverted(repo, database) -> None:
    project = repo()
    applied(project, database)
    with database.session() as s:
        row = s.scalars(select(t.Resource).where(t.Resource.name == "q1")).one()
        row.spec = {**row.spec, "goal": "something-else", "dailyLimit": 7}
    _, plan = plan_repo(project, database)
    [change] = plan.changes
    assert change.action == "update"
    assert [(f.path, f.old, f.new) for f in change.fields] == [
        ("spec.goal", "something-else", "book-demo"), ("spec.dailyLimit", 7, None)]
    applied(project, database)
    assert changes(project, database) == []
    with database.session() as s:  # the update back made a new revision
        assert s.scalar(select(t.CampaignRevision.revision).order_by(
            t.CampaignRevision.revision.desc()).limit(1)) == 2


def test_status_drift_is_a_transition_back(repo, database) -> None:
    project = repo()
    applied(project, database)
    with database.session() as s:
        s.execute(update(t.Campaign).values(status="active"))
    _, plan = plan_repo(project, database)
    # active -> draft is not a legal move: drift that the machine cannot revert is an error
    assert [(c.action, c.from_, c.to) for c in plan.changes] == [("error", "active", "draft")]


def test_orphan_is_shown_and_archived_only_with_prune(repo, database, tmp_path) -> None:
    project = repo({**ACME, "acme/old.yaml": OLD.replace("{ANNOTATIONS}", "{}")})
    applied(project, database)
    (tmp_path / "campaigns/acme/old.yaml").unlink()
    assert changes(project, database) == [("noop", "acme/Campaign/old-promo", "orphan")]
    plan, result = applied(project, database)
    assert result.counts()["archive"] == 0
    _, plan = plan_repo(project, database, prune=True)
    [change] = plan.changes
    assert (change.action, change.from_, change.to) == ("archive", "active", "archived")
    assert "completed first" in change.reason
    applied(project, database, prune=True)
    with database.session() as s:
        row = s.scalars(select(t.Resource).where(t.Resource.name == "old-promo")).one()
        assert row.deleted_at is not None
        assert s.get(t.Campaign, row.id).status == "completed"
    assert changes(project, database, prune=True) == []


def test_protected_orphan_is_refused_by_prune(repo, database, tmp_path) -> None:
    old = OLD.replace("{ANNOTATIONS}", '{campaign-gitops/protect: "true"}')
    project = repo({**ACME, "acme/old.yaml": old})
    applied(project, database)
    (tmp_path / "campaigns/acme/old.yaml").unlink()
    _, plan = plan_repo(project, database, prune=True)
    [change] = plan.changes  # kept, and why: expected state, not an error
    assert (change.action, change.left_alone) == ("noop", "protected")
    assert "protect" in change.reason
    assert not plan.has_errors and not plan.has_changes
    assert sync_states(plan) == {"acme/Campaign/old-promo": "Orphan"}
    _, result = applied(project, database, prune=True)
    assert result.ok and not result.applied
    with database.session() as s:
        row = s.scalars(select(t.Resource).where(t.Resource.name == "old-promo")).one()
        assert row.deleted_at is None and row.protected


def test_rename_keeps_history_and_runs(repo, database, tmp_path) -> None:
    runs = "\n          runs: [{name: smoke, type: test_run}]\n"
    with_run = ACME["acme/q1.yaml"].rstrip() + runs
    project = repo({**ACME, "acme/q1.yaml": with_run})
    _, result = applied(project, database)
    assert result.counts()["run"] == 1
    with database.session() as s:
        rid = s.scalar(select(t.Resource.id).where(t.Resource.name == "q1"))
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace(
        "metadata: {name: q1, client: acme}",
        "metadata: {name: q1-au, client: acme, annotations: "
        "{campaign-gitops/previous-name: q1}}"))
    _, plan = plan_repo(project, database)
    [change] = plan.changes
    assert (change.action, change.from_, change.to) == ("update", "q1", "q1-au")
    applied(project, database)
    with database.session() as s:
        row = s.get(t.Resource, rid)
        assert row.name == "q1-au" and row.deleted_at is None
        assert s.scalar(select(t.Resource.id).where(t.Resource.name == "q1")) is None
        assert s.scalars(select(t.CampaignRun.campaign_id)).all() == [rid]
        revisions = s.scalars(select(t.CampaignRevision.revision).where(
            t.CampaignRevision.resource_id == rid)).all()
        assert sorted(revisions) == [1, 2]
    assert changes(project, database, prune=True) == []


def test_broken_file_makes_its_resources_unknown(repo, database, tmp_path) -> None:
    project = repo()
    applied(project, database)
    (tmp_path / "campaigns/acme/q1.yaml").write_text(
        "apiVersion: campaign-gitops/v1\nkind: Campaign\nmetadata: {name: q1, client: acme\n")
    parts = tmp_path / "campaigns/acme/parts.yaml"
    parts.write_text(parts.read_text().replace("outcome: meeting", "outcome: meting"))
    got = changes(project, database, prune=True)
    assert ("noop", "acme/Campaign/q1", "unknown") in got
    assert ("noop", "acme/Goal/book-demo", "unknown") in got  # did not validate
    assert ("noop", "acme/Writer/plain", "held") in got  # same file as the bad goal
    assert not [c for c in got if c[0] in ("archive", "update", "create", "error")]


def test_suspended_resource_is_left_alone(repo, database, tmp_path) -> None:
    project = repo()
    applied(project, database)
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace(
        "metadata: {name: q1, client: acme}",
        'metadata: {name: q1, client: acme, annotations: {campaign-gitops/suspend: "true"}}'
    ).replace("status: draft", "status: active"))
    assert changes(project, database) == [("noop", "acme/Campaign/q1", "suspended")]


def test_preflight_errors_become_error_changes(repo, database, tmp_path) -> None:
    project = repo()
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("  writer: plain\n", ""))
    _, plan = plan_repo(project, database)
    errors = [c for c in plan.changes if c.action == "error"]
    assert [(str(c.key), c.rules) for c in errors] == [("acme/Campaign/q1", ("PF002",))]
    assert len([c for c in plan.changes if c.action == "create"]) == 6
