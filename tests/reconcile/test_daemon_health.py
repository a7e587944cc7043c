"""The health endpoints over real HTTP on a free port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from campaign_gitops.reconcile.health import Health, HealthServer, Metrics


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_endpoints_follow_the_daemons_state() -> None:
    now = [100.0]
    health, metrics = Health(max_age=60.0, clock=lambda: now[0]), Metrics()
    health.update(db_answered=100.0)  # the database answered the loop's probe
    server = HealthServer(health, metrics, 0).start()
    try:
        assert get(server.port, "/healthz")[0] == 200
        status, body = get(server.port, "/readyz")
        assert status == 503 and json.loads(body)["role"] == "starting"

        health.update(role="follower")
        assert get(server.port, "/readyz")[0] == 200  # a follower is ready without reconciling

        problem = {"file": "campaigns/a.yaml", "line": 3, "column": 1, "rule": "PF008",
                   "message": "no such goal", "resource": "acme/Campaign/q1"}
        health.update(role="leader", last_ok=False, failing=[problem])
        status, body = get(server.port, "/readyz")
        assert status == 503
        assert json.loads(body)["failing_files"] == ["campaigns/a.yaml:3:PF008"]

        health.update(last_ok=True, failing=[])
        assert get(server.port, "/readyz")[0] == 200

        metrics.leader.set(1)
        metrics.changes.labels("update").inc(2)
        status, text = get(server.port, "/metrics")
        assert status == 200
        assert "campaign_gitops_leader 1.0" in text
        assert 'campaign_gitops_changes_applied_total{action="update"} 2.0' in text
        assert "python_gc" not in text  # our own registry, not the global one
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_ready_only_while_the_database_answers_within_the_interval() -> None:
    """The probe's last answer ages on the injected clock; an error is named (redacted by
    the loop before it gets here), a missing answer past max_age too."""
    now = [0.0]
    health = Health(role="leader", last_ok=True, max_age=60.0, clock=lambda: now[0])
    ok, body = health.ready()
    assert not ok and body["database"]["error"] == "not probed yet"
    health.update(db_answered=0.0)
    now[0] = 59.0
    assert health.ready()[0]
    now[0] = 61.0  # the loop is stuck in a call that never returns: no fresh answer
    ok, body = health.ready()
    assert not ok and body["database"]["ok"] is False and body["database"]["answered_s_ago"] == 61
    health.update(db_answered=61.0, db_error="OperationalError: connection refused")
    ok, body = health.ready()
    assert not ok and body["database"]["error"] == "OperationalError: connection refused"
    health.update(db_answered=62.0, db_error=None)
    now[0] = 62.5
    assert health.ready() == (True, health.ready()[1]) and health.ready()[1]["database"]["ok"]
