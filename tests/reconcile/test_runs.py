"""Declared runs start once each, pinned to the revision and resolved config of the apply."""

from __future__ import annotations

from sqlalchemy import select, update

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.config.resolved import resolve_with_hash
from campaign_gitops.reconcile.render import render_text
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from campaign_gitops.state import tables as t
from tests.helpers import ACME, make_repo

repo, database = rr.repo, rr.database

RUNS = """
          runs:
            - {name: smoke, type: test_run}
            - {name: launch, type: run}
            - {name: wave, type: schedule, at: "2030-12-01T09:00:00+11:00"}
"""


def campaign(status: str = "active", runs: str = RUNS) -> dict[str, str]:
    text = ACME["acme/q1.yaml"].replace("status: draft", f"status: {status}")
    return {**ACME, "acme/q1.yaml": text.rstrip() + "\n" + runs.strip("\n") + "\n"}


def test_runs_start_once_pinned_to_the_revision(repo, database) -> None:
    project = repo(campaign())
    bundle, plan = plan_repo(project, database)
    assert [(c.action, c.to) for c in plan.changes if c.action in ("run", "transition")] == [
        ("transition", "active"), ("run", "smoke"), ("run", "launch"), ("run", "wave")]
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.ok, result.errors
    assert result.counts()["run"] == 3
    entry = next(e for e in bundle if e.key.name == "q1")
    config, config_hash = resolve_with_hash(entry, bundle)
    with database.session() as s:
        runs = {r.name: r for r in s.scalars(select(t.CampaignRun))}
        revision = s.scalars(select(t.CampaignRevision)).one()
        assert set(runs) == {"smoke", "launch", "wave"}
        assert {r.revision_id for r in runs.values()} == {revision.id}
        assert {r.config_hash for r in runs.values()} == {config_hash}
        assert runs["launch"].config == config
        assert runs["wave"].status == "scheduled"
        assert runs["wave"].scheduled_for.isoformat() == "2030-11-30T22:00:00+00:00"
        log = s.scalars(select(t.ApplyLog.action).where(t.ApplyLog.action == "run")).all()
        assert len(log) == 3
    _, again = plan_repo(project, database)
    assert again.changes == ()


def test_a_new_run_declared_later_starts_alone(repo, database, tmp_path) -> None:
    project = repo(campaign(runs="          runs: [{name: smoke, type: test_run}]"))
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    make_repo(tmp_path, campaign(runs="""
          runs:
            - {name: smoke, type: test_run}
            - {name: smoke-2, type: test_run}
          dailyLimit: 30
        """))
    bundle, plan = plan_repo(project, database)
    assert [(c.action, c.to) for c in plan.changes] == [("update", None), ("run", "smoke-2")]
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    with database.session() as s:
        runs = {r.name: r.revision_id for r in s.scalars(select(t.CampaignRun))}
        revisions = dict(s.execute(select(t.CampaignRevision.revision,
                                          t.CampaignRevision.id)).all())
    assert runs == {"smoke": revisions[1], "smoke-2": revisions[2]}


def test_run_on_a_campaign_that_cannot_activate_is_an_error(repo, database) -> None:
    project = repo(campaign(runs="          runs: [{name: launch, type: run}]"))
    with database.session() as s:
        s.add(t.Client(name="acme", subscription="canceled", credits=10))
    bundle, plan = plan_repo(project, database)
    errors = [(c.instead_of, c.to) for c in plan.changes if c.action == "error"]
    assert errors == [("transition", "active"), ("run", "launch")]
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert not result.ok
    with database.session() as s:
        assert s.scalars(select(t.CampaignRun)).all() == []


def test_test_run_without_recipients_is_a_preflight_error(repo, database) -> None:
    files = campaign(status="draft", runs="          runs: [{name: smoke, type: test_run}]")
    files["acme/q1.yaml"] = files["acme/q1.yaml"].replace("testRecipients: [qa@acme.test]",
                                                          "description: nobody to send to")
    _, plan = plan_repo(repo(files), database)
    errors = [c for c in plan.changes if c.action == "error"]
    assert [c.rules for c in errors] == [("PF009",)]
    assert not [c for c in plan.changes if c.action == "run"]


def test_pausing_after_a_run_started_is_not_blocked_by_its_needs(repo, database,
                                                                  tmp_path) -> None:
    project = repo(campaign(runs="          runs: [{name: launch, type: run}]"))
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: active", "status: paused"))
    _, plan = plan_repo(project, database)
    assert [(c.action, c.from_, c.to) for c in plan.changes] == [
        ("transition", "active", "paused")]
    # A run declared now on the paused campaign still needs it active (PF006).
    path.write_text(path.read_text().replace(
        "[{name: launch, type: run}]", "[{name: launch, type: run}, {name: more, type: run}]"))
    _, plan = plan_repo(project, database)
    # The definition and the pause still apply; only the new run is refused.
    assert [(c.action, str(c.key)) for c in plan.changes] == [
        ("update", "acme/Campaign/q1"), ("transition", "acme/Campaign/q1"),
        ("error", "acme/Campaign/q1")]
    assert plan.changes[-1].rules == ("PF006",)
    assert "more" in plan.changes[-1].reason


def test_callers_preflight_errors_are_rechecked_for_started_runs(repo, database,
                                                                  tmp_path) -> None:
    """A caller's findings of the files: started runs must not block the change."""
    from campaign_gitops.config.project import ProjectConfig
    from campaign_gitops.preflight.engine import check_campaign_for_action, run_preflight
    from campaign_gitops.reconcile.blockers import plan_errors
    from campaign_gitops.reconcile.plan import PlanOptions, build_plan
    from campaign_gitops.reconcile.service import load_project_bundle, snapshot_of

    project = repo(campaign(runs="          runs: [{name: launch, type: run}]"))
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    path = tmp_path / "campaigns/acme/q1.yaml"
    path.write_text(path.read_text().replace("status: active", "status: paused"))
    bundle = load_project_bundle(project)
    assert not [f for f in run_preflight(bundle) if f.is_error]  # lint: the run ran already
    # Findings that check the declared run's needs anyway (PF006 for a paused campaign)
    # must not block the pause: the clients with started runs are checked again.
    key = next(k for k in bundle.entries if k.kind == "Campaign")
    findings = [f for f in check_campaign_for_action(bundle, key, "run") if f.is_error]
    assert [f.rule for f in findings] == ["PF006"]
    snapshot = snapshot_of(database)
    errors = plan_errors(bundle, snapshot, ProjectConfig(), findings)
    assert dict(errors.resources) == {} and dict(errors.runs) == {}
    plan = build_plan(bundle, snapshot, errors, PlanOptions())
    assert [(c.action, c.to) for c in plan.changes] == [("transition", "paused")]


def test_a_waiting_run_whose_declaration_left_the_file_is_cancelled(repo, database,
                                                                     tmp_path) -> None:
    """The file is the desired state: a schedule run that has not started and is no
    longer declared is cancelled by the next apply (and never starts); runs already
    started are in flight and stay."""
    project = repo(campaign())
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    make_repo(tmp_path, campaign(runs="          runs: [{name: smoke, type: test_run}]"))
    bundle, plan = plan_repo(project, database)
    runs = [c for c in plan.changes if c.action in ("run", "cancel")]
    assert [(c.action, c.from_, c.to, c.reason) for c in runs] == [
        ("cancel", "wave", None, "no longer declared; scheduled, not started")]
    assert "▶ acme/Campaign/q1: cancel run wave (no longer declared; scheduled, not started)" \
        in render_text(plan)
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.ok and result.counts()["cancel"] == 1 and result.counts()["run"] == 0
    with database.session() as s:
        rows = {r.name: (r.status, r.status_reason) for r in s.scalars(select(t.CampaignRun))}
        log = s.scalars(select(t.ApplyLog.detail).where(t.ApplyLog.action == "run")
                        .order_by(t.ApplyLog.serial.desc()).limit(1)).one()
    assert rows["wave"] == ("cancelled", "cancelled: no longer declared")
    assert rows["smoke"] == ("running", None)  # still declared
    assert rows["launch"][0] == "completed"  # started (no leads here): in flight, left alone
    assert log["cancelled"] is True
    _, again = plan_repo(project, database)
    assert again.changes == ()
    # declared again, the name stays used: a run name starts once (SPEC section 2), and
    # plan says so rather than nothing
    make_repo(tmp_path, campaign())
    _, redeclared = plan_repo(project, database)
    assert [c for c in redeclared.changes if c.action == "run"] == []
    (note,) = [c for c in redeclared.changes if c.left_alone == "cancelled"]
    assert (note.action, note.to) == ("noop", "wave")
    assert ("# acme/Campaign/q1: run wave was cancelled when its declaration was removed; a "
            "run name starts once: declare it under a new name to run it") \
        in render_text(redeclared)


def test_a_cancel_finds_the_run_started_meanwhile_and_leaves_it(repo, database,
                                                                tmp_path) -> None:
    project = repo(campaign())
    bundle, plan = plan_repo(project, database)
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    make_repo(tmp_path, campaign(runs="          runs: [{name: smoke, type: test_run}]"))
    bundle, plan = plan_repo(project, database)
    with database.session() as s:  # tick started it between plan and apply
        s.execute(update(t.CampaignRun).where(t.CampaignRun.name == "wave")
                  .values(status="running"))
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.ok and result.counts()["cancel"] == 0
    assert result.skipped == ["acme/Campaign/q1"]
    with database.session() as s:
        status = s.scalar(select(t.CampaignRun.status).where(t.CampaignRun.name == "wave"))
    assert status == "running"
