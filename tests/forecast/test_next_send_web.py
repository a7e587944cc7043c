"""``next_send`` on the web: the campaigns pane (and the API's campaign detail) and the
run page say when the next messages go out and how many. The web reads the real clock,
so the campaign sends all week round the clock and its enrollments are overdue: the
next send is "now" whatever the date, and its size is the daily limit (10 of 30)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi.testclient import TestClient

from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.web.app import create_app
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
ALWAYS = {"timezone": "UTC", "workHours": {"start": "00:00", "end": "24:00"},
          "workDays": [1, 2, 3, 4, 5, 6, 7]}


def test_campaigns_pane_and_run_page_show_the_next_send(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", base_resources(
        campaign={"dailyLimit": 10, "allocation": {"email": 100}},
        sequence=[{"channel": "email", "delayDays": 0, "template": "intro"}],
        schedule=ALWAYS))
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with db.session() as session:
            import_csv(session, write_leads(tmp_path / "leads.csv",
                                            [lead_row(i) for i in range(30)]), now=START)
        (run_id,) = start_runs(db, root, now=START)
        client = TestClient(create_app(db))
        detail = client.get("/api/v1/campaigns/acme/q1").json()
        assert detail["next_send"]["messages"] == 10
        pane = client.get("/campaigns/acme/q1", headers={"HX-Request": "true"}).text
        assert re.search(r"next send: <b>10</b> message\(s\) at \d{4}-\d\d-\d\d \d\d:\d\d UTC",
                         pane)
        run = client.get(f"/api/v1/runs/{run_id}").json()
        assert run["next_send"]["messages"] == 10
        assert re.search(r'class="card next-send"><span>next send</span><b>10</b> at ',
                         client.get(f"/runs/{run_id}").text)
    finally:
        db.dispose()
