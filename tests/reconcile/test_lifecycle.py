"""Every lifecycle transition, legal and illegal, as a table and through plan/apply."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.reconcile.lifecycle import TRANSITIONS, check_transition
from campaign_gitops.reconcile.plan import sync_states
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from campaign_gitops.state import tables as t

repo, database = rr.repo, rr.database
STATUSES = ("draft", "active", "paused", "completed")
LEGAL = {("draft", "active"), ("active", "paused"), ("active", "completed"),
         ("paused", "active"), ("paused", "completed")}


@pytest.mark.parametrize(("current", "desired"), list(itertools.permutations(STATUSES, 2)))
def test_transition_table(current: str, desired: str) -> None:
    problem = check_transition(current, desired)
    assert (problem is None) == ((current, desired) in LEGAL), problem
    assert TRANSITIONS["completed"] == frozenset()


def _set_status(tmp_path, status: str) -> None:
    path = tmp_path / "campaigns/acme/q1.yaml"
    text = path.read_text()
    path.write_text(text.replace(text.split("status: ")[1].split("\n")[0], status, 1))


def _db_status(database) -> str:
    with database.session() as s:
        return s.scalar(select(t.Campaign.status))


@pytest.mark.parametrize(("current", "desired"), sorted(
    (a, b) for a, b in itertools.permutations(STATUSES, 2)))
def test_every_transition_through_plan_and_apply(repo, database, tmp_path, current,
                                                 desired) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    with database.session() as s:  # put the campaign in `current`, outside the files
        s.execute(update(t.Campaign).values(status=current))
    _set_status(tmp_path, desired)
    bundle, plan = plan_repo(project, database)
    [change] = plan.changes
    if (current, desired) in LEGAL:
        assert (change.action, change.from_, change.to) == ("transition", current, desired)
        result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
        assert result.ok and _db_status(database) == desired
        assert plan_repo(project, database)[1].changes == ()
    else:
        assert (change.action, change.instead_of) == ("error", "transition")
        assert current in change.reason and desired in change.reason
        result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
        assert not result.ok and _db_status(database) == current


def test_illegal_transition_does_not_block_the_rest(repo, database, tmp_path) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    with database.session() as s:
        s.execute(update(t.Campaign).values(status="completed"))
    _set_status(tmp_path, "active")
    goal = tmp_path / "campaigns/acme/parts.yaml"
    goal.write_text(goal.read_text().replace("Book a demo", "Book a call"))
    bundle, plan = plan_repo(project, database)
    assert [(c.action, c.key.name) for c in plan.changes] == [
        ("update", "book-demo"), ("error", "q1")]
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.counts()["update"] == 1 and len(result.errors) == 1


def test_new_active_campaign_is_created_then_activated(repo, database, tmp_path) -> None:
    project = repo()
    _set_status(tmp_path, "active")
    bundle, plan = plan_repo(project, database)
    assert [(c.action, c.from_, c.to) for c in plan.changes][-1] == (
        "transition", "draft", "active")
    assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
    with database.session() as s:
        campaign = s.scalars(select(t.Campaign)).one()
        assert campaign.status == "active" and campaign.activated_at is not None


@pytest.mark.parametrize(("subscription", "credits", "allowed"), [
    ("trialing", 1000, True), ("active", 1, True), ("past_due", 1000, False),
    ("canceled", 1000, False), ("active", 0, False)])
def test_activation_checks_the_client(repo, database, tmp_path, subscription, credits,
                                      allowed) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    with database.session() as s:
        s.execute(update(t.Client).values(subscription=subscription, credits=credits))
    _set_status(tmp_path, "active")
    _, plan = plan_repo(project, database)
    [change] = plan.changes
    assert change.action == ("transition" if allowed else "error")
    if not allowed:
        assert "client set acme" in change.reason


def test_freeze_window_holds_activation_and_run_starts(repo, database, tmp_path) -> None:
    import datetime as dt

    from campaign_gitops.config.project import FreezeWindow, ProjectConfig

    config = ProjectConfig(freeze_windows=[FreezeWindow(name="holidays", cron="0 0 * * *",
                                                        duration="1d")])
    project = repo()
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    _set_status(tmp_path, "active")
    now = dt.datetime(2026, 12, 24, 12, tzinfo=dt.UTC)
    _, plan = plan_repo(project, database, now=now, config=config)
    [change] = plan.changes  # held, not failed: it activates when the window ends
    assert (change.action, change.left_alone, change.instead_of, change.to) == (
        "noop", "frozen", "transition", "active")
    assert "freeze window 'holidays'" in change.reason
    assert sync_states(plan) == {"acme/Campaign/q1": "OutOfSync"}
    _, plan = plan_repo(project, database, now=now, config=ProjectConfig())
    assert [c.action for c in plan.changes] == ["transition"]
