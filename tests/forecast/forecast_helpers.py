"""Shared by the forecast tests: the three-week repo (tests/e2e/test_runs_three_weeks.py)
written and its 200 leads imported, and a forecast's per-day counts in the shape that
test's ``sent_per_day`` gives what was sent: {date: {channel: messages}}."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_runs_three_weeks import Cli, build_repo, moment_at, pool_rows
from tests.runs.runs_helpers import write_leads


def three_week_repo(db_url: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Cli]:
    root = build_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    run = Cli(db_url)
    run("leads", "import", str(write_leads(tmp_path / "leads.csv", pool_rows())))
    return root, run


def forecast_per_day(forecast: dict[str, Any]) -> dict[str, dict[str, int]]:
    days: dict[str, Counter[str]] = {}
    for row in forecast["per_day"]:
        days.setdefault(row["date"], Counter())[row["channel"]] += row["messages"]
    return {d: dict(sorted(c.items())) for d, c in sorted(days.items())}


def apply_and_tick_three_weeks(run: Cli) -> list[dict[str, Any]]:
    """Apply at the start, tick twice a workday for three weeks (the forecast's days), and
    return the messages of the ``launch`` run."""
    run("apply", "--auto-approve", "--now", moment_at(0, 7))
    ((launch,),) = [[r["id"] for r in run.json("runs")["runs"] if r["name"] == "launch"]]
    for day in range(21):
        for hour in (9, 15):
            run("tick", "--now", moment_at(day, hour))
    return list(run.json("communications", "--run", str(launch), "--limit", "100000")[
        "communications"])
