"""A run added to a campaign whose first run is still walking: its forecast counts the
first run's enrollments (they share the campaign's daily limit and the client's
credits, and go first: older ids), and equals what the real ticks then send for it."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runs"))
from runs_helpers import write_leads
from test_runs_three_weeks import Cli, _at, _leads, _repo


def _add_run(root: Path, name: str) -> None:
    path = root / "campaigns" / "acme" / "all.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "Campaign":
            doc["spec"]["runs"].append({"name": name, "type": "run"})
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))


def _sent_per_day(messages: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    days: dict[str, Counter[str]] = {}
    for m in messages:
        if m["status"] == "sent":
            days.setdefault(m["sent_at"][:10], Counter())[m["channel"]] += 1
    return {d: dict(sorted(c.items())) for d, c in sorted(days.items())}


@pytest.mark.slow
def test_a_second_wave_shares_the_limits_with_the_first(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    run = Cli(db_url)
    run("leads", "import", str(write_leads(tmp_path / "leads.csv", _leads())))
    run("apply", "--auto-approve", "--now", _at(0, 7))
    for day in range(3):
        for hour in (9, 15):
            run("tick", "--now", _at(day, hour))
    _add_run(root, "wave2")
    (change,) = [c for c in run.json("plan", "--now", _at(3, 7))["changes"]
                 if c["action"] == "run"]
    forecast = change["forecast"]
    assert forecast["audience"] == 50  # 150 match; the first run holds 100
    run("apply", "--auto-approve", "--now", _at(3, 7))
    ids = {r["name"]: r["id"] for r in run.json("runs")["runs"]}
    for day in range(3, 24):
        for hour in (9, 15):
            run("tick", "--now", _at(day, hour))
    messages = run.json("communications", "--run", str(ids["wave2"]), "--limit", "100000")[
        "communications"]
    per_day: dict[str, Counter[str]] = {}
    for row in forecast["per_day"]:
        per_day.setdefault(row["date"], Counter())[row["channel"]] += row["messages"]
    expected = {d: dict(sorted(c.items())) for d, c in sorted(per_day.items())}
    assert expected == _sent_per_day(messages)
    # the first run's backlog goes first: the second wave starts later than its first slot
    assert forecast["first_send"] > _at(3, 9)
