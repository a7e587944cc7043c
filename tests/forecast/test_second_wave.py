"""A run added to a campaign whose first run is still walking: its forecast counts the
first run's enrollments (they share the campaign's daily limit and the client's
credits, and go first: older ids), and equals what the real ticks then send for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.test_runs_three_weeks import moment_at, sent_per_day
from tests.forecast.forecast_helpers import forecast_per_day, three_week_repo


def _add_run(root: Path, name: str) -> None:
    path = root / "campaigns" / "acme" / "all.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "Campaign":
            doc["spec"]["runs"].append({"name": name, "type": "run"})
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))


@pytest.mark.slow
def test_a_second_wave_shares_the_limits_with_the_first(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, run = three_week_repo(db_url, tmp_path, monkeypatch)
    run("apply", "--auto-approve", "--now", moment_at(0, 7))
    for day in range(3):
        for hour in (9, 15):
            run("tick", "--now", moment_at(day, hour))
    _add_run(root, "wave2")
    (change,) = [c for c in run.json("plan", "--now", moment_at(3, 7))["changes"]
                 if c["action"] == "run"]
    forecast = change["forecast"]
    assert forecast["audience"] == 50  # 150 match; the first run holds 100
    run("apply", "--auto-approve", "--now", moment_at(3, 7))
    ids = {r["name"]: r["id"] for r in run.json("runs")["runs"]}
    for day in range(3, 24):
        for hour in (9, 15):
            run("tick", "--now", moment_at(day, hour))
    messages = run.json("communications", "--run", str(ids["wave2"]), "--limit", "100000")[
        "communications"]
    assert forecast_per_day(forecast) == sent_per_day(messages)
    # the first run's backlog goes first: the second wave starts later than its first slot
    assert forecast["first_send"] > moment_at(3, 9)
