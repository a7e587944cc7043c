"""plan -> apply -> plan: the second plan is empty; reformatting changes nothing."""

from __future__ import annotations

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from tests.helpers import make_repo

repo, database = rr.repo, rr.database


def actions(plan):
    return [(c.action, str(c.key)) for c in plan.changes]


def test_first_plan_creates_in_dependency_order(repo, database) -> None:
    project = repo()
    _, plan = plan_repo(project, database)
    assert actions(plan) == [
        ("create", "acme/Client/acme"),
        ("create", "acme/Goal/book-demo"),
        ("create", "acme/Segment/cto-au"),
        ("create", "acme/Template/intro"),
        ("create", "acme/Writer/plain"),
        ("create", "acme/Reviewer/rules"),
        ("create", "acme/Campaign/q1"),
    ]


def test_apply_then_plan_is_empty(repo, database) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    assert result.ok, result.errors
    assert result.counts()["create"] == 7
    _, again = plan_repo(project, database)
    assert actions(again) == []
    assert again.base_serial == result.serial == 7
    second = apply_plan(database, again, bundle, project=project, now=rr.NOW)
    assert second.counts() == {"create": 0, "update": 0, "transition": 0, "run": 0,
                               "cancel": 0, "archive": 0}


def test_reformatting_gives_an_empty_plan(repo, database, tmp_path) -> None:
    project = repo()
    bundle, plan = plan_repo(project, database)
    apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    make_repo(tmp_path, {"acme/q1.yaml": """
        # the same campaign, keys reordered, quoted, commented, block style
        kind: "Campaign"
        apiVersion: 'campaign-gitops/v1'
        metadata:
          client: "acme"   # tenant
          name: q1
        spec:
          testRecipients:
            - "qa@acme.test"
          template: intro
          reviewer: 'rules'
          writer: plain
          segment: cto-au
          goal: book-demo
          channel: email
        """})
    _, again = plan_repo(project, database)
    assert actions(again) == []
