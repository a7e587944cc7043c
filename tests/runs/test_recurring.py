"""Recurring schedule runs (a Schedule with a cron) through the real CLI: ``apply``, then
``tick --now`` at simulated times over six weeks, on SQLite and PostgreSQL.

Asserted: one occurrence per fire with the leads imported since (an earlier
occurrence's leads stay with the client while the series goes on, even once that
occurrence finished), nothing between fires, missed fires coalescing into one
occurrence, a pause holding the series, completing the campaign ending the series and
its occurrences; ``plan``, ``runs`` and ``runs show`` showing the series; two tick
processes racing at a fire starting it once. The timeline lies in 2030 so that
apply's real clock is before every fire.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from campaign_gitops.runs.start import occurrence_name
from tests.runs.runs_helpers import base_resources, lead_row, write_leads, write_repo

EXE = str(Path(sys.executable).with_name("campaign-gitops"))
SYDNEY = dt.timezone(dt.timedelta(hours=11))  # December and January: daylight time
CRON = "0 9 * * 1"  # Mondays 09:00 in Australia/Sydney
STEPS = [{"channel": "email", "delayDays": 0, "template": "intro"},
         {"channel": "email", "delayDays": 2, "template": "value"}]


WAVE = {"name": "wave", "type": "schedule", "at": "2030-12-02T09:00:00+11:00"}


def _repo(root: Path, status: str = "active", runs: tuple[dict[str, str], ...] = (WAVE,)
          ) -> Path:
    docs = base_resources(
        campaign={"status": status, "allocation": None, "dailyLimit": 100,
                  "runs": list(runs)},
        sequence=STEPS,
        schedule={"timezone": "Australia/Sydney", "cron": CRON, "dailyLimit": 100,
                  "workHours": {"start": "09:00", "end": "17:00"}})
    write_repo(root, docs)
    (root / "campaign-gitops.yaml").write_text(
        "clientDefaults: {subscription: active, credits: 1000}\n")
    return root


class Cli:
    def __init__(self, db_url: str, root: Path) -> None:
        self.db_url, self.root, self.batches = db_url, root, 0

    def __call__(self, *args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", self.db_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--format", "json"))

    def tick(self, day: str, hhmm: str = "10:00") -> dict[str, Any]:
        return self.json("tick", "--now", f"{day}T{hhmm}:00+11:00")

    def import_batch(self) -> list[str]:
        """Three fresh leads matching the segment."""
        first = 10 * self.batches
        self.batches += 1
        rows = [lead_row(i) for i in range(first, first + 3)]
        path = write_leads(self.root.parent / f"leads-{self.batches}.csv", rows)
        assert "imported 3 lead(s)" in self("leads", "import", str(path))
        return sorted(r["email"] for r in rows)

    def runs(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.json("runs")["runs"]}

    def audience(self, run: str) -> list[str]:
        messages = self.json("communications", "--run", f"acme/q1/{run}")["communications"]
        return sorted(m["lead"] for m in messages if m["step"] == 1)


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    root = _repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    return Cli(db_url, root)


def test_a_recurring_schedule_over_six_weeks(run: Cli) -> None:
    planned = run.json("plan")["changes"]
    (wave,) = [c for c in planned if c["action"] == "run"]
    assert wave["reason"] == ("schedule, recurring 0 9 * * 1 (Australia/Sydney), "
                              "first 2030-12-02T09:00:00+11:00")
    assert "schedule, recurring 0 9 * * 1 (Australia/Sydney), first 2030-12-02T09:00:00+11:00" \
        in run("plan")
    assert "1 runs started" in run("apply", "--auto-approve")
    series = run.runs()["wave"]
    assert (series["status"], series["next_run_at"], series["series"]) == (
        "scheduled", "2030-12-02T09:00:00+11:00", None)
    assert series["recurring"] == {"cron": CRON, "timezone": "Australia/Sydney"}

    # the first fire: one occurrence with the pool's leads; nothing before it
    week1 = run.import_batch()
    assert run.tick("2030-12-02", "08:59")["started_runs"] == []
    first = run.tick("2030-12-02", "09:00")
    assert first["started_runs"] == ["acme/q1/wave-20301202-0900 (3 leads)"]
    assert first["notes"] == ["series acme/q1/wave: started wave-20301202-0900 for the fire at "
                              "2030-12-02T09:00:00+11:00; next at 2030-12-09T09:00:00+11:00"]
    assert run.audience("wave-20301202-0900") == week1
    # between fires nothing starts, however often tick runs; the occurrence walks on
    for day, hhmm in (("2030-12-03", "10:00"), ("2030-12-05", "10:00"), ("2030-12-09", "08:59")):
        assert run.tick(day, hhmm)["started_runs"] == []
    assert run.runs()["wave-20301202-0900"]["status"] == "completed"
    assert _pool(run) == {"acme": 3, None: 0}  # its leads stay with the client

    # the next fire: fresh leads only, not the ones the first week walked
    week2 = run.import_batch()
    assert run.tick("2030-12-09", "09:30")["started_runs"] == [
        "acme/q1/wave-20301209-0900 (3 leads)"]
    assert run.audience("wave-20301209-0900") == week2

    # down for two fires (Dec 16 and 23): one occurrence, for the latest, then the next
    week4 = run.import_batch()
    late = run.tick("2030-12-25")
    assert late["started_runs"] == ["acme/q1/wave-20301223-0900 (3 leads)"]
    assert late["notes"] == [
        "series acme/q1/wave: started wave-20301223-0900 for the fire at "
        "2030-12-23T09:00:00+11:00 (fires since 2030-12-16T09:00:00+11:00 coalesced into it); "
        "next at 2030-12-30T09:00:00+11:00"]
    assert run.audience("wave-20301223-0900") == week4
    assert run.tick("2030-12-25", "11:00")["started_runs"] == []

    # paused: the series holds through its fires; resumed: one occurrence, no burst
    _repo(run.root, "paused")
    run("apply", "--auto-approve")
    week6 = run.import_batch()
    for day in ("2030-12-30", "2031-01-06"):
        assert run.tick(day)["started_runs"] == []
    assert run.runs()["wave"]["next_run_at"] == "2030-12-30T09:00:00+11:00"
    _repo(run.root, "active")
    run("apply", "--auto-approve")
    assert run.tick("2031-01-07")["started_runs"] == ["acme/q1/wave-20310106-0900 (3 leads)"]
    assert run.audience("wave-20310106-0900") == week6
    occurrences = ["wave-20301202-0900", "wave-20301209-0900", "wave-20301223-0900",
                   "wave-20310106-0900"]
    runs = run.runs()
    assert sorted(runs) == ["wave", *occurrences]
    assert {runs[o]["series"] for o in occurrences} == {"wave"}
    assert {runs[o]["series_id"] for o in occurrences} == {runs["wave"]["id"]}
    assert [runs[o]["status"] for o in occurrences] == ["completed"] * 3 + ["running"]
    assert {runs[o]["revision"] for o in runs} == {runs["wave"]["revision"]}
    assert {runs[o]["content_hash"] for o in runs} == {runs["wave"]["content_hash"]}
    assert runs["wave"]["next_run_at"] == "2031-01-13T09:00:00+11:00"
    _check_runs_show(run, occurrences)
    _check_series_filter(run, occurrences)
    _check_web(run, runs["wave"]["id"])

    # completed: the series ends with its occurrences, and nothing starts again
    _repo(run.root, "completed")
    run("apply", "--auto-approve")
    run.import_batch()
    assert run.tick("2031-01-13")["started_runs"] == []
    assert run.tick("2031-01-20")["started_runs"] == []
    runs = run.runs()
    assert sorted(runs) == ["wave", *occurrences]
    assert {r["status"] for r in runs.values()} == {"completed"}
    assert [name for name, r in runs.items() if r["status_reason"] == "campaign completed"] \
        == ["wave", "wave-20310106-0900"]  # the series, and the occurrence still running
    assert runs["wave"]["next_run_at"] is None
    assert _pool(run) == {"acme": 0, None: 15}  # the series ended: every lead went back


def test_removing_the_series_declaration_cancels_it(run: Cli) -> None:
    """No more occurrences; the one still walking goes on with its leads, and the
    finished ones' leads go back to the pool (they were held for the series)."""
    run("apply", "--auto-approve")
    run.import_batch()
    assert run.tick("2030-12-02", "09:00")["started_runs"] == [
        "acme/q1/wave-20301202-0900 (3 leads)"]
    run.tick("2030-12-05")  # the first occurrence walked its two steps
    run.import_batch()
    assert run.tick("2030-12-09", "09:00")["started_runs"] == [
        "acme/q1/wave-20301209-0900 (3 leads)"]
    assert _pool(run) == {"acme": 6, None: 0}

    _repo(run.root, runs=())
    assert ("cancel run wave (no longer declared; a recurring series (0 9 * * 1): no more "
            "occurrences; those started walk on)") in run("plan")
    applied = run("apply", "--auto-approve")
    assert "run wave: cancelled" in applied and "1 cancelled" in applied
    assert _pool(run) == {"acme": 3, None: 3}  # the running occurrence keeps its leads
    run.import_batch()
    assert run.tick("2030-12-16", "09:00")["started_runs"] == []
    runs = run.runs()
    assert (runs["wave"]["status"], runs["wave"]["next_run_at"]) == ("cancelled", None)
    # the second occurrence finished its steps since, and with the series gone its
    # leads went back too
    assert runs["wave-20301209-0900"]["status"] == "completed"
    assert _pool(run) == {"acme": 0, None: 9}
    assert "No changes" in run("plan")


def _pool(run: Cli) -> dict[str | None, int]:
    """Leads held by the client and leads in the pool."""
    from sqlalchemy import func, select

    from campaign_gitops.state.db import open_database
    from campaign_gitops.state.tables import Lead

    db = open_database(run.db_url)
    try:
        with db.session() as s:
            counts: dict[str | None, int] = {
                client: n for client, n in s.execute(
                    select(Lead.client, func.count()).group_by(Lead.client))}
    finally:
        db.dispose()
    return {"acme": counts.get("acme", 0), None: counts.get(None, 0)}


def _check_runs_show(run: Cli, occurrences: list[str]) -> None:
    shown = run.json("runs", "show", "acme/q1/wave")
    assert [o["name"] for o in shown["occurrences"]] == occurrences
    assert shown["next_run_at"] == "2031-01-13T09:00:00+11:00"
    text = run("runs", "show", "acme/q1/wave")
    assert "recurring:   0 9 * * 1 (Australia/Sydney), next 2031-01-13T09:00:00+11:00" in text
    assert "occurrences: 4" in text and "wave-20310106-0900  running" in text
    one = run.json("runs", "show", f"acme/q1/{occurrences[0]}")
    assert (one["series"], one["recurring"], one["occurrences"]) == ("wave", None, [])
    assert one["scheduled_for"] == "2030-12-01T22:00:00+00:00"  # the fire it stands for
    assert "series:      wave (run " in run("runs", "show", f"acme/q1/{occurrences[0]}")
    table = run("runs").splitlines()
    assert "NEXT_RUN_AT" in table[0] and "SERIES" in table[0]
    (series_line,) = [line for line in table if " wave " in line and "scheduled" in line]
    assert "2031-01-13T09:00:00+11:00" in series_line and "0 9 * * 1 (Australia/Sydney)" \
        in series_line


def _check_series_filter(run: Cli, occurrences: list[str]) -> None:
    listed = run.json("runs", "--campaign", "acme/q1", "--series", "wave")["runs"]
    assert [r["name"] for r in listed] == occurrences
    assert run.json("runs", "--series", "no-such-series")["runs"] == []


def _check_web(run: Cli, series_id: int) -> None:
    """The web UI lists the series with its cron and each occurrence with its series."""
    from fastapi.testclient import TestClient

    from campaign_gitops.web.app import create_app

    app = create_app(run.db_url, plan_in_background=False)
    with TestClient(app) as client:
        items = {r["name"]: r for r in client.get("/api/v1/runs").json()["items"]}
        of_series = client.get("/api/v1/runs?series=wave").json()["items"]
        assert {r["series_id"] for r in of_series} == {series_id} and len(of_series) == 4
        assert (items["wave"]["cron"], items["wave"]["series_id"]) == (CRON, None)
        assert (items["wave-20301209-0900"]["cron"],
                items["wave-20301209-0900"]["series_id"]) == (None, series_id)
        page = client.get("/runs")
        assert page.status_code == 200
        assert f"recurring <code>{CRON}</code>" in page.text
        assert page.text.count(f'of <a href="/runs/{series_id}">series {series_id}</a>') == 4
        series = client.get(f"/runs/{series_id}")
        assert series.status_code == 200 and f"recurring <code>{CRON}</code>" in series.text
        occurrence = client.get(f"/runs/{items['wave-20301209-0900']['id']}")
        assert f'an occurrence of <a href="/runs/{series_id}">' in occurrence.text


def test_two_tick_processes_at_a_fire_start_it_once(run: Cli) -> None:
    run("apply", "--auto-approve")
    run.import_batch()
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("CAMPAIGN_GITOPS_DB", None)
    command = [EXE, "--db", run.db_url, "tick", "--now", "2030-12-02T09:00:00+11:00",
               "--format", "json"]
    ticks = [subprocess.Popen(command, cwd=run.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    started = []
    for process in ticks:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        started += json.loads(out)["started_runs"]
    assert started == ["acme/q1/wave-20301202-0900 (3 leads)"]
    assert sorted(run.runs()) == ["wave", "wave-20301202-0900"]


def test_occurrence_names_stay_valid_resource_names() -> None:
    fire = dt.datetime(2026, 12, 6, 22, 0, tzinfo=dt.UTC)
    assert occurrence_name("q1-wave", fire, "Australia/Sydney") == "q1-wave-20261207-0900"
    cut = "a" * 48 + "-" + "b" * 14  # 63 characters: the series part is cut, "-" dropped
    assert occurrence_name(cut, fire, "Australia/Sydney") == "a" * 48 + "-20261207-0900"
    assert len(occurrence_name("c" * 63, fire, "UTC")) == 63


def _series_repo(tmp_path: Path, runs: list[dict[str, Any]]) -> Path:
    docs = base_resources(campaign={"allocation": None, "runs": runs}, sequence=STEPS,
                          schedule={"timezone": "UTC", "cron": "0 9 * * *"})
    return write_repo(tmp_path / "repo", docs)


def _names(db: Any) -> dict[str, tuple[str, str | None]]:
    from sqlalchemy import select

    from campaign_gitops.state.tables import CampaignRun

    with db.session() as s:
        return {r.name: (r.status, r.scheduled_for.isoformat() if r.scheduled_for else None)
                for r in s.scalars(select(CampaignRun))}


def test_a_freeze_window_holds_the_series_and_a_taken_name_is_not_started_twice(
        db_url: str, tmp_path: Path) -> None:
    from campaign_gitops.config.project import ProjectConfig
    from campaign_gitops.runs.tick import tick
    from campaign_gitops.state.db import open_database
    from tests.runs.runs_helpers import start_runs

    db = open_database(db_url)
    # a declared one-shot run already carries the name of the Dec 3 occurrence
    start_runs(db, _series_repo(tmp_path, [
        {"name": "daily", "type": "schedule", "at": "2030-12-02T09:00:00Z"},
        {"name": "daily-20301203-0900", "type": "schedule", "at": "2031-06-01T09:00:00Z"}]),
        now=dt.datetime(2030, 12, 1, tzinfo=dt.UTC))
    frozen = ProjectConfig.model_validate(
        {"freezeWindows": [{"name": "weekend", "cron": "0 0 * * 1", "duration": "1d"}]})
    monday = dt.datetime(2030, 12, 2, 9, 0, tzinfo=dt.UTC)  # inside the freeze
    result = tick(db, now=monday, config=frozen)
    assert result.started_runs == ()
    assert "scheduled runs wait: inside freeze window 'weekend'" in result.notes
    tuesday = dt.datetime(2030, 12, 3, 9, 30, tzinfo=dt.UTC)  # after it: one occurrence
    result = tick(db, now=tuesday, config=frozen)
    assert result.started_runs == ()  # its name is taken: no second run of that name
    assert result.notes == ("series acme/q1/daily: run daily-20301203-0900 exists already, "
                            "not started again (fires since 2030-12-02T09:00:00+00:00 "
                            "coalesced into it); next at 2030-12-04T09:00:00+00:00",)
    assert _names(db) == {
        "daily": ("scheduled", "2030-12-04T09:00:00+00:00"),
        "daily-20301203-0900": ("scheduled", "2031-06-01T09:00:00+00:00")}
    result = tick(db, now=dt.datetime(2030, 12, 4, 9, 0, tzinfo=dt.UTC), config=frozen)
    assert result.started_runs == ("acme/q1/daily-20301204-0900 (0 leads)",)
    db.dispose()
