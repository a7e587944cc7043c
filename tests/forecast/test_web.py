"""The web plan page shows each run the plan would start with its forecast: the one
line and a per-day SVG chart stacked by channel (the run page's chart style); the API's
plan carries the same ``forecast``. The web reads the real clock, so only what does not
depend on today is asserted here (the numbers are tested against a fixed clock in
test_vs_tick.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from campaign_gitops.config.project import Project
from campaign_gitops.reconcile.service import project_config
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.web.app import create_app
from campaign_gitops.web.charts import forecast_per_day
from tests.runs.runs_helpers import base_resources, lead_row, write_leads, write_repo


def test_plan_page_shows_the_forecast_with_a_chart(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", base_resources())
    project = Project(root=root, resources_dir=root / "campaigns")
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with db.session() as session:
            import_csv(session, write_leads(tmp_path / "leads.csv",
                                            [lead_row(i) for i in range(30)]), now=None)
        client = TestClient(create_app(db, project=project, config=project_config(project)))
        plan = client.get("/api/v1/plan").json()["plan"]
        (run,) = [c for c in plan["changes"] if c["action"] == "run"]
        assert run["forecast"]["audience"] == 30
        assert run["forecast"]["per_day"] and run["forecast"]["first_send"]
        page = client.get("/plan").text
        assert 'class="forecast-line">forecast: 30 leads' in page
        assert 'aria-label="forecast: messages per day"' in page
    finally:
        db.dispose()


def test_forecast_chart_stacks_channels() -> None:
    svg, legend = forecast_per_day({"per_day": [
        {"date": "2026-12-01", "channel": "email", "messages": 16},
        {"date": "2026-12-01", "channel": "voice", "messages": 8},
        {"date": "2026-12-03", "channel": "email", "messages": 4}]})
    assert "2026-12-01 email: 16" in svg and "2026-12-01 voice: 8" in svg
    assert ">12-02<" in svg  # the day without messages keeps its slot
    assert legend == [("email", "#3c7dd9"), ("voice", "#e0a526")]
