"""Property: whatever sequence of statuses the file goes through, plan/apply keep the
lifecycle machine's promises (SPEC section 3), on a real SQLite database.

* the database status only ever moves along a legal edge, one edge per apply;
* a legal desired status is reached by one apply, after which the plan is empty;
* an illegal one is a plan error that leaves the status as it was, and apply says so;
* completed is terminal.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.config.project import Project
from campaign_gitops.reconcile.lifecycle import TRANSITIONS, check_transition
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database
from tests.helpers import ACME, make_repo

STATUSES = ("draft", "active", "paused", "completed")


@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6))
def test_check_transition_agrees_with_the_table(path: list[str]) -> None:
    for current, desired in zip(["draft", *path], path, strict=False):
        legal = current == desired or desired in TRANSITIONS[current]
        assert (check_transition(current, desired) is None) == legal


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6))
def test_plan_and_apply_follow_the_lifecycle(desired_statuses: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_repo(root, ACME)
        project = Project(root=root, resources_dir=root / "campaigns")
        database = open_database(f"sqlite:///{root / 'state.db'}")
        campaign = root / "campaigns/acme/q1.yaml"
        template = textwrap.dedent(ACME["acme/q1.yaml"]).lstrip()
        try:
            bundle, plan = plan_repo(project, database)
            assert apply_plan(database, plan, bundle, project=project, now=rr.NOW).ok
            current = "draft"
            for desired in desired_statuses:
                campaign.write_text(template.replace("status: draft", f"status: {desired}"))
                bundle, plan = plan_repo(project, database)
                legal = check_transition(current, desired) is None
                result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
                with database.session() as s:
                    now = s.scalar(select(t.Campaign.status))
                if legal:
                    assert result.ok and now == desired
                    assert plan_repo(project, database)[1].changes == ()
                else:
                    errors = [c for c in plan.changes if c.action == "error"]
                    assert [c.instead_of for c in errors] == ["transition"]
                    assert not result.ok and now == current
                assert now == current or now in TRANSITIONS[current]
                if current == "completed":
                    assert now == "completed"
                current = now
        finally:
            database.dispose()
