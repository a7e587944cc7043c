"""The /api/v1 endpoints and the pages over the example repo applied and ticked (SQLite).

One world per module (building it applies the repo and ticks six days); tests that
change state (review decisions) work on their own world.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from campaign_gitops.state.tables import Message
from campaign_gitops.web.app import create_app
from tests.web.web_world import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("web")
    w = build_world(tmp, f"sqlite:///{tmp / 'state.db'}")
    yield w
    w.db.dispose()


@pytest.fixture(scope="module")
def client(world: World) -> TestClient:
    return TestClient(create_app(world.db, project=world.project, config=world.config))


def test_status_header_reports_delivery_and_no_reconcile_yet(client: TestClient) -> None:
    data = client.get("/api/v1/status").json()
    assert data["halted"] is False
    assert data["halted_clients"] == []
    assert data["last_reconcile"] is None
    assert data["plan_error"] is None


def test_campaigns_lists_every_example_campaign_synced(client: TestClient) -> None:
    data = client.get("/api/v1/campaigns").json()
    names = [(c["client"], c["name"]) for c in data["items"]]
    assert names == sorted(names)
    assert ("acme", "cto-au-q1") in names and ("globex", "emea-ops-default") in names
    assert data["total"] == len(names)
    assert {c["sync"] for c in data["items"]} == {"Synced"}
    cto = next(c for c in data["items"] if c["name"] == "cto-au-q1")
    assert cto["status"] == "active"
    assert cto["channels"] == ["email", "sms", "voice"]
    assert cto["active_runs"] >= 1


@pytest.mark.parametrize(("query", "expected"), [
    ("client=globex", {"emea-ops-default", "plant-managers-voice"}),
    ("q=RENEWAL", {"pilot-renewals"}),
    ("q=zzz", set()),
    ("q=pilot", {"pilot-renewals"}),
    ("status=draft", {"ops-sms-reminders"}),
    ("channel=sms&client=acme", {"ops-sms-reminders"}),
    ("q=%25", set()),  # a LIKE wildcard is searched for literally
])
def test_campaign_filters(client: TestClient, query: str, expected: set[str]) -> None:
    items = client.get(f"/api/v1/campaigns?{query}").json()["items"]
    assert {c["name"] for c in items} == expected


def test_campaigns_paginate(client: TestClient) -> None:
    first = client.get("/api/v1/campaigns?per_page=2&page=1").json()
    second = client.get("/api/v1/campaigns?per_page=2&page=2").json()
    assert len(first["items"]) == 2 and first["pages"] == -(-first["total"] // 2)
    assert {c["name"] for c in first["items"]}.isdisjoint(c["name"] for c in second["items"])
    assert client.get("/api/v1/campaigns?per_page=0").status_code == 422


def test_campaign_detail_resolves_references(client: TestClient) -> None:
    data = client.get("/api/v1/campaigns/acme/cto-au-q1").json()
    refs = data["refs"]
    assert refs["goal"]["name"] == "book-demo"
    assert refs["segment"]["name"] == "cto-au" and refs["segment"]["lead_count"] == 0
    assert refs["writer"]["spec"]["type"] == "template"
    assert refs["reviewer"]["name"] == "brand-rules"
    assert refs["sequence"]["spec"]["steps"]
    assert data["file"] == "campaigns/acme/campaigns/cto-au-q1.yaml"
    assert data["sync"] == "Synced"
    assert data["daily_limit"] == 60  # the campaign's own (runs/sequences.daily_limit)
    assert {r["name"] for r in data["runs"]} >= {"smoke-1", "launch"}
    assert client.get("/api/v1/campaigns/acme/nope").status_code == 404


def test_runs_and_run_detail(client: TestClient) -> None:
    runs = client.get("/api/v1/runs").json()["items"]
    launch = next(r for r in runs if r["campaign"] == "cto-au-q1" and r["name"] == "launch")
    detail = client.get(f"/api/v1/runs/{launch['id']}").json()
    assert detail["revision"] == 1
    assert sum(detail["enrollments"].values()) == detail["metrics"]["enrolled"] > 0
    assert detail["messages"].get("sent", 0) == detail["metrics"]["sent"] > 0
    assert sum(sum(d.values()) for d in detail["messages_by_day"].values()) == sum(
        detail["messages"].values())
    assert detail["steps"][0]["step"] == 1
    # when the next messages go out (runs/forecasting.next_send; its numbers are tested in
    # tests/forecast/test_next_send.py against a fixed clock, the web reads the real one)
    assert detail["next_send"] is None or set(detail["next_send"]) == {"at", "messages"}
    config = client.get(f"/api/v1/runs/{launch['id']}/config").json()
    assert config["config"]["campaign"]["name"] == "cto-au-q1"
    assert config["revision_spec"]["goal"] == "book-demo"
    assert client.get("/api/v1/runs/999999").status_code == 404
    assert client.get("/api/v1/runs/999999/config").status_code == 404


def test_runs_keyset_pages(client: TestClient) -> None:
    first = client.get("/api/v1/runs?limit=2").json()
    assert len(first["items"]) == 2 and first["next_before"] == first["items"][-1]["id"]
    rest = client.get(f"/api/v1/runs?before={first['next_before']}&limit=200").json()
    ids = [r["id"] for r in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert rest["next_before"] is None


def test_communications_filters_and_pages(client: TestClient) -> None:
    sent = client.get("/api/v1/communications?status=sent&limit=3").json()
    assert sent["items"] and {m["status"] for m in sent["items"]} == {"sent"}
    assert all(m["body"] for m in sent["items"])
    older = client.get(f"/api/v1/communications?status=sent&limit=3"
                       f"&before={sent['next_before']}").json()
    assert max(m["id"] for m in older["items"]) < min(m["id"] for m in sent["items"])
    run_id = sent["items"][0]["run_id"]
    by_run = client.get(f"/api/v1/communications?run={run_id}&limit=200").json()["items"]
    assert {m["run_id"] for m in by_run} == {run_id}
    sms = client.get("/api/v1/communications?channel=sms&client=acme").json()["items"]
    assert {(m["channel"], m["client"]) for m in sms} <= {("sms", "acme")}


def test_replies(client: TestClient) -> None:
    items = client.get("/api/v1/replies").json()["items"]
    assert [r["body"] for r in items if r["kind"] == "reply"] == [
        "Sounds good, Tuesday works for a demo."]
    assert client.get("/api/v1/replies?kind=bounce").json()["items"] == []


def test_plan_has_nothing_to_do_after_apply(client: TestClient) -> None:
    data = client.get("/api/v1/plan").json()
    assert data["error"] is None
    assert not [c for c in data["plan"]["changes"] if c["action"] != "noop"]


def test_review_queue_lists_pending_messages(client: TestClient) -> None:
    items = client.get("/api/v1/review").json()["items"]
    assert items and {m["campaign"] for m in items} == {"review-demo"}
    assert all(m["body"] for m in items)


def test_review_approve_and_reject(tmp_path: Path) -> None:
    w = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    c = TestClient(create_app(w.db, project=w.project, config=w.config))
    csrf = {"X-CSRF-Token": _csrf(c)}
    first, second = (m["id"] for m in c.get("/api/v1/review").json()["items"][:2])
    ok = c.post(f"/api/v1/review/{first}/approve", headers=csrf)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    no = c.post(f"/api/v1/review/{second}/reject", headers=csrf, json={"reason": "off-brand"})
    assert no.json() == {"id": second, "status": "rejected", "reason": "off-brand"}
    again = c.post(f"/api/v1/review/{first}/reject", headers=csrf)
    assert again.status_code == 409
    assert c.post("/api/v1/review/987654/approve", headers=csrf).status_code == 404
    with w.db.session() as session:
        statuses = dict(session.execute(select(Message.id, Message.status).where(
            Message.id.in_([first, second]))).all())
    assert statuses == {first: "approved", second: "rejected"}
    remaining = {m["id"] for m in c.get("/api/v1/review").json()["items"]}
    assert first not in remaining and second not in remaining
    w.db.dispose()


def test_openapi_document_lists_the_api(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]) == {
        "/api/v1/status", "/api/v1/campaigns", "/api/v1/campaigns/{client}/{name}",
        "/api/v1/runs", "/api/v1/runs/{run_id}", "/api/v1/runs/{run_id}/config",
        "/api/v1/communications", "/api/v1/replies", "/api/v1/plan", "/api/v1/review",
        "/api/v1/review/{message_id}/approve", "/api/v1/review/{message_id}/reject"}
    posts = [p for p, ops in doc["paths"].items() if "post" in ops]
    assert all(p.startswith("/api/v1/review/") for p in posts)


@pytest.mark.parametrize("path", ["/campaigns", "/runs", "/communications", "/replies",
                                  "/plan", "/review", "/campaigns?client=acme&q=cto"])
def test_pages_render(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "delivery on" in response.text
    assert 'hx-headers=\'{"X-CSRF-Token": "' in response.text


def test_campaign_row_opens_the_pane_fragment(client: TestClient) -> None:
    page = client.get("/campaigns").text
    assert 'hx-get="/campaigns/acme/cto-au-q1" hx-target="#pane"' in page
    pane = client.get("/campaigns/acme/cto-au-q1", headers={"HX-Request": "true"}).text
    assert "<html" not in pane
    assert "book-demo" in pane and "cto-au" in pane and "brand-rules" in pane
    assert "<dt>daily limit</dt>\n    <dd>60</dd>" in pane
    full = client.get("/campaigns?selected=acme/cto-au-q1").text
    assert 'data-campaign="acme/cto-au-q1"' in full and "plain-template" in full


def test_filter_request_returns_only_the_rows(client: TestClient) -> None:
    rows = client.get("/campaigns?client=globex",
                      headers={"HX-Request": "true", "HX-Target": "rows"}).text
    assert rows.lstrip().startswith('<div id="rows">')
    assert "plant-managers-voice" in rows and "cto-au-q1" not in rows


def test_run_page_has_chart_and_config_link(client: TestClient) -> None:
    runs = client.get("/api/v1/runs").json()["items"]
    launch = next(r for r in runs if r["campaign"] == "cto-au-q1" and r["name"] == "launch")
    page = client.get(f"/runs/{launch['id']}").text
    assert '<svg class="chart" role="img" aria-label="messages per day"' in page
    assert f'href="/runs/{launch["id"]}/config"' in page
    assert client.get(f"/runs/{launch['id']}/config").status_code == 200
    assert client.get("/runs/424242").status_code == 404


def _csrf(c: TestClient) -> str:
    c.get("/api/v1/status")
    return c.cookies["cg_csrf"]


def test_header_shows_halts_and_the_last_reconcile(tmp_path: Path) -> None:
    from campaign_gitops.state.db import open_database
    from campaign_gitops.state.tables import Client, KeyValue

    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    with db.session() as session:
        session.add_all([Client(name="acme", halted=True), Client(name="globex")])
        session.add(KeyValue(key="reconcile:last", value={
            "at": "2026-12-01T09:30:00+00:00", "commit": "0123456789abcdef", "ok": True,
            "mode": "full", "applied": 3, "failing_files": [], "errors": []}))
    c = TestClient(create_app(db))
    data = c.get("/api/v1/status").json()
    assert data["halted"] is False and data["halted_clients"] == ["acme"]
    assert data["last_reconcile"]["commit"] == "0123456789abcdef"
    page = c.get("/campaigns").text
    assert "halted: acme" in page and "0123456789" in page and "2026-12-01 09:30:00" in page
    with db.session() as session:
        session.add(KeyValue(key="halt:global", value={"halted": True}))
    assert c.get("/api/v1/status").json()["halted"] is True
    assert "delivery halted (global)" in c.get("/review").text
    db.dispose()
