"""apply: only the expected races (run name, resource identity) read as "made
concurrently"; any other constraint failure is an error change with the reason."""

from __future__ import annotations

from sqlalchemy import text

import tests.reconcile.reconcile_repos as rr
from campaign_gitops.reconcile.service import apply_plan, plan_repo
from tests.helpers import ACME

repo, database = rr.repo, rr.database

BETA = {
    "beta/client.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Client
        metadata: {name: beta}
        spec: {tier: velocity, resources: {emailDomain: beta.test}}
        """,
    "beta/goal.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Goal
        metadata: {name: book-demo, client: beta}
        spec: {outcome: meeting}
        """,
}


def test_a_real_constraint_failure_is_an_error_not_a_concurrent_success(
        repo, database) -> None:
    # A constraint apply does not expect: goal names unique across clients.
    with database.engine.begin() as connection:
        connection.execute(text(
            "CREATE UNIQUE INDEX test_uq_kind_name ON resources (kind, name)"))
    project = repo({**ACME, **BETA})
    bundle, plan = plan_repo(project, database)
    result = apply_plan(database, plan, bundle, project=project, now=rr.NOW)
    goals = {"acme/Goal/book-demo", "beta/Goal/book-demo"}  # one wins (parallel on PG)
    assert not goals & set(result.skipped)
    [(resource, reason)] = result.errors
    assert resource in goals
    assert "constraint" in reason.lower() and "concurrent" not in reason
    _, again = plan_repo(project, database)  # still to do: the daemon retries it
    assert [(c.action, c.resource) for c in again.changes] == [("create", resource)]
