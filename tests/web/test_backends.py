"""The queries that differ by dialect (JSON channel filter, day grouping, ILIKE, keyset)
on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from campaign_gitops.web.app import create_app
from tests.web.web_world import build_world


def test_api_on_both_backends(db_url: str, tmp_path: Path) -> None:
    w = build_world(tmp_path, db_url, ticks=4)
    c = TestClient(create_app(w.db, project=w.project, config=w.config),
                   raise_server_exceptions=False)
    sms = c.get("/api/v1/campaigns?channel=sms").json()["items"]
    assert {x["name"] for x in sms} == {"ops-sms-reminders"}
    assert [x["name"] for x in c.get("/api/v1/campaigns?q=CTO").json()["items"]] == [
        "cto-au-q1"]
    runs = c.get("/api/v1/runs").json()["items"]
    launch = next(r for r in runs if r["campaign"] == "cto-au-q1" and r["name"] == "launch")
    detail = c.get(f"/api/v1/runs/{launch['id']}").json()
    days = sorted(detail["messages_by_day"])
    assert days and all(len(d) == 10 and d.startswith("2026-12-") for d in days)
    assert c.get(f"/runs/{launch['id']}").status_code == 200
    page = c.get(f"/api/v1/communications?run={launch['id']}&limit=2").json()
    more = c.get(f"/api/v1/communications?run={launch['id']}&limit=2"
                 f"&before={page['next_before']}").json()
    assert page["items"] and more["items"]
    assert max(m["id"] for m in more["items"]) < min(m["id"] for m in page["items"])
    csrf = c.cookies["cg_csrf"]
    mid = c.get("/api/v1/review").json()["items"][0]["id"]
    nul = c.post(f"/api/v1/review/{mid}/reject", json={"reason": "no\x00"},
                 headers={"X-CSRF-Token": csrf})
    assert nul.status_code == 422  # PostgreSQL cannot store it: refused, not a 500
    assert c.post(f"/api/v1/review/{mid}/approve",
                  headers={"X-CSRF-Token": csrf}).json()["status"] == "approved"
    assert {x["sync"] for x in c.get("/api/v1/campaigns").json()["items"]} == {"Synced"}
    w.db.dispose()
