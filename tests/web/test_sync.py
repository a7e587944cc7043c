"""Sync state at a glance: Synced, OutOfSync, Orphan, Unknown follow the files and plan."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from campaign_gitops.web.app import create_app
from tests.web.web_world import build_world


def _sync(c: TestClient) -> dict[str, str]:
    return {x["name"]: x["sync"] for x in c.get("/api/v1/campaigns").json()["items"]}


def test_sync_states_follow_the_files(tmp_path: Path) -> None:
    w = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", ticks=0)
    c = TestClient(create_app(w.db, project=w.project, config=w.config, plan_ttl=0,
                              plan_in_background=False))
    assert set(_sync(c).values()) == {"Synced"}
    folder = w.project.resources_dir
    cto = folder / "acme" / "campaigns" / "cto-au-q1.yaml"
    cto.write_text(cto.read_text().replace("dailyLimit: 60", "dailyLimit: 75"))
    (folder / "acme" / "campaigns" / "ops-sms-reminders.yaml").unlink()
    broken = folder / "globex" / "campaigns" / "plant-managers-voice.yaml"
    broken.write_text(broken.read_text() + "\n  dailyLimit: [unclosed\n")
    states = _sync(c)
    assert states["cto-au-q1"] == "OutOfSync"
    assert states["ops-sms-reminders"] == "Orphan"
    assert states["plant-managers-voice"] == "Unknown"
    assert states["emea-ops-default"] == "Synced"
    plan = c.get("/api/v1/plan").json()["plan"]
    assert any(ch["action"] == "update" and ch["resource"] == "acme/Campaign/cto-au-q1"
               for ch in plan["changes"])
    page = c.get("/plan").text
    assert "acme/Campaign/cto-au-q1" in page and "dailyLimit" in page
    assert "1 to update" in page and "built-in method" not in page
    new = folder / "acme" / "campaigns" / "brand-new.yaml"
    new.write_text(cto.read_text().replace("name: cto-au-q1", "name: brand-new")
                   .replace('campaign-gitops/protect: "true"', 'team: growth'))
    rows = c.get("/campaigns").text
    assert "1 campaign(s) in the files are not in the database yet" in rows
    assert "acme/Campaign/brand-new" in rows
    for badge in ("sync-synced", "sync-outofsync", "sync-orphan", "sync-unknown"):
        assert f'class="badge {badge}"' in rows
    w.db.dispose()


def test_without_a_repo_sync_is_unknown_and_plan_explains(tmp_path: Path) -> None:
    w = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", ticks=0)
    c = TestClient(create_app(w.db))
    assert set(_sync(c).values()) == {"Unknown"}
    assert "without a repo" in c.get("/api/v1/plan").json()["error"]
    assert "no plan" in c.get("/plan").text
    w.db.dispose()


def test_a_changed_repo_is_replanned_in_the_background(tmp_path: Path) -> None:
    w = build_world(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", ticks=0)
    app = create_app(w.db, project=w.project, config=w.config, plan_ttl=0)
    c = TestClient(app)
    assert _sync(c)["cto-au-q1"] == "Synced"
    cto = w.project.resources_dir / "acme" / "campaigns" / "cto-au-q1.yaml"
    cto.write_text(cto.read_text().replace("dailyLimit: 60", "dailyLimit: 75"))
    assert _sync(c)["cto-au-q1"] == "Synced"  # the previous result, while it replans
    workspace = app.state.web.workspace
    assert workspace.refreshing is not None
    workspace.refreshing.join()
    assert _sync(c)["cto-au-q1"] == "OutOfSync"
    w.db.dispose()
