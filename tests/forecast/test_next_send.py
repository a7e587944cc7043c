"""``next_send``: when a run's next messages go out and how many, from the forecast of
its active enrollments (the same simulation plan uses); then the real tick at that
moment sends exactly that many."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_runs_three_weeks import moment_at
from tests.forecast.forecast_helpers import three_week_repo


def test_next_send_says_when_and_how_many_and_tick_agrees(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _root, run = three_week_repo(db_url, tmp_path, monkeypatch)
    run("apply", "--auto-approve", "--now", moment_at(0, 7))
    ((launch,),) = [[r["id"] for r in run.json("runs")["runs"] if r["name"] == "launch"]]
    shown = run.json("runs", "show", str(launch), "--now", moment_at(0, 7))
    # the work day opens at 09:00; the daily limit 40 gives email 40% = 16
    assert shown["next_send"] == {"at": moment_at(0, 9), "messages": 16}
    assert "next send:   16 message(s) at 2026-11-30 09:00 UTC" in run(
        "runs", "show", str(launch), "--now", moment_at(0, 7))
    assert run.json("tick", "--now", moment_at(0, 9))["totals"]["sent"] == 16
    # the day's email share is spent: the rest waits for Tuesday 09:00
    shown = run.json("runs", "show", str(launch), "--now", moment_at(0, 10))
    assert shown["next_send"] == {"at": moment_at(1, 9), "messages": 16}
    assert run.json("tick", "--now", moment_at(1, 9))["totals"]["sent"] == 16
    run("halt", "--reason", "test")
    assert run.json("runs", "show", str(launch), "--now", moment_at(1, 10))["next_send"] is None
