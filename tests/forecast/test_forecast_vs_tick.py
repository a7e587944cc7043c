"""The forecast against the real thing: ``plan`` forecasts the three-week multi-channel
campaign (tests/e2e/test_runs_three_weeks.py's repo, 200 imported leads, weekends, a
holiday, lead timezones, a daily limit split by allocation, credits running out), then
``apply`` and ``tick --now`` twice a day for three weeks deliver it through the real
CLI; the forecast's messages per day and channel equal what was sent, on SQLite and
PostgreSQL. Without the replies and the pause of that test: nobody can forecast those.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runs"))
from runs_helpers import write_leads
from test_runs_three_weeks import CREDITS, Cli, _at, _leads, _per_day, _repo


def _forecast_per_day(forecast: dict[str, Any]) -> dict[str, dict[str, int]]:
    days: dict[str, Counter[str]] = {}
    for row in forecast["per_day"]:
        days.setdefault(row["date"], Counter())[row["channel"]] += row["messages"]
    return {d: dict(sorted(c.items())) for d, c in sorted(days.items())}


@pytest.mark.slow
def test_forecast_equals_three_weeks_of_ticks(db_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    run = Cli(db_url)
    run("leads", "import", str(write_leads(tmp_path / "leads.csv", _leads())))
    plan = run.json("plan", "--now", _at(0, 7))
    (change,) = [c for c in plan["changes"] if c["action"] == "run"]
    forecast = change["forecast"]
    assert forecast["audience"] == 100  # the segment's limit
    assert forecast["credits"] == CREDITS  # they run out
    assert any(w.startswith("credits run out on 2026-12-") for w in forecast["warnings"])
    run("apply", "--auto-approve", "--now", _at(0, 7))
    ((launch,),) = [[r["id"] for r in run.json("runs")["runs"] if r["name"] == "launch"]]
    for day in range(21):
        for hour in (9, 15):
            run("tick", "--now", _at(day, hour))
    messages = run.json("communications", "--run", str(launch), "--limit", "100000")[
        "communications"]
    sent = _per_day(messages)
    assert _forecast_per_day(forecast) == sent
    first = min(m["sent_at"] for m in messages if m["status"] == "sent")
    last = max(m["sent_at"] for m in messages if m["status"] == "sent")
    assert forecast["first_send"][:10] == first[:10]
    assert forecast["last_send"][:10] == last[:10]
