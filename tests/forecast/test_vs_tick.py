"""The forecast against the real thing: ``plan`` forecasts the three-week multi-channel
campaign (tests/e2e/test_runs_three_weeks.py's repo, 200 imported leads, weekends, a
holiday, lead timezones, a daily limit split by allocation, credits running out), then
``apply`` and ``tick --now`` twice a day for three weeks deliver it through the real
CLI; the forecast's messages per day and channel equal what was sent, on SQLite and
PostgreSQL. Without the replies and the pause of that test: nobody can forecast those.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_runs_three_weeks import CREDITS, moment_at, sent_per_day
from tests.forecast.forecast_helpers import (
    apply_and_tick_three_weeks,
    forecast_per_day,
    three_week_repo,
)


@pytest.mark.slow
def test_forecast_equals_three_weeks_of_ticks(db_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _root, run = three_week_repo(db_url, tmp_path, monkeypatch)
    plan = run.json("plan", "--now", moment_at(0, 7))
    (change,) = [c for c in plan["changes"] if c["action"] == "run"]
    forecast = change["forecast"]
    assert forecast["audience"] == 100  # the segment's limit
    assert forecast["credits"] == CREDITS  # they run out
    assert any(w.startswith("credits run out on 2026-12-") for w in forecast["warnings"])
    messages = apply_and_tick_three_weeks(run)
    sent = sent_per_day(messages)
    assert forecast_per_day(forecast) == sent
    first = min(m["sent_at"] for m in messages if m["status"] == "sent")
    last = max(m["sent_at"] for m in messages if m["status"] == "sent")
    assert forecast["first_send"][:10] == first[:10]
    assert forecast["last_send"][:10] == last[:10]
