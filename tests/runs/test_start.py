"""start_run: a run allocates and enrols, a schedule waits, a test run samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import CampaignRun, Enrollment, Lead
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # a Monday, before 09:00 UTC


def _pool(db, tmp_path: Path, rows) -> None:
    with db.session() as s:
        report = import_csv(s, write_leads(tmp_path / "leads.csv", rows))
        assert not report.errors


def test_run_allocates_best_first_and_enrols_in_first_window(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    rows = [lead_row(i) for i in range(10)]
    rows += [lead_row(50, company_industry="retail"), lead_row(51, email_status="unknown"),
             lead_row(52, title="Office manager")]
    _pool(db, tmp_path, rows)
    root = write_repo(tmp_path / "repo", base_resources(
        campaign={"leadAllocationPct": 50}))
    (run_id,) = start_runs(db, root, now=NOW)
    with db.session() as s:
        run = s.get(CampaignRun, run_id)
        assert run.status == "running"
        enrolled = s.execute(select(Lead.email, Enrollment.next_due_at).join(
            Lead, Lead.id == Enrollment.lead_id)).all()
        taken = s.execute(select(Lead.email).where(Lead.client == "acme")).scalars().all()
    # 10 match, 50% of them: the five with the best enrichment_confidence (0.05 .. 0.09)
    assert sorted(e for e, _ in enrolled) == [f"lead{i:04d}@example.com" for i in range(5, 10)]
    assert sorted(taken) == sorted(e for e, _ in enrolled)
    assert {due for _, due in enrolled} == {dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)}


def test_schedule_waits_and_test_run_takes_no_lead(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    _pool(db, tmp_path, [lead_row(i) for i in range(8)])
    root = write_repo(tmp_path / "repo", base_resources(campaign={"runs": [
        {"name": "smoke", "type": "test_run"},
        {"name": "wave", "type": "schedule", "at": "2026-12-01T09:00:00+11:00"}]}))
    smoke, wave = start_runs(db, root, now=NOW)
    with db.session() as s:
        assert s.get(CampaignRun, wave).status == "scheduled"
        assert s.get(CampaignRun, wave).scheduled_for == dt.datetime(2026, 11, 30, 22, 0,
                                                                     tzinfo=dt.UTC)
        assert s.get(CampaignRun, smoke).status == "running"
        sample = s.execute(select(func.count()).where(Enrollment.run_id == smoke)).scalar()
        assert sample == 5
        assert s.execute(select(func.count()).where(Lead.client.is_not(None))).scalar() == 0


def test_test_run_without_segment_uses_sample_data(sqlite_url: str, tmp_path: Path):
    db = open_database(sqlite_url)
    docs = base_resources(campaign={"segment": None, "runs": [{"name": "smoke",
                                                                 "type": "test_run"}]})
    for d in docs:
        d["spec"] = {k: v for k, v in d["spec"].items() if v is not None}
    (smoke,) = start_runs(db, write_repo(tmp_path / "repo", docs), now=NOW)
    with db.session() as s:
        (enrollment,) = s.execute(select(Enrollment).where(Enrollment.run_id == smoke)).scalars()
        assert enrollment.lead_id is None
        assert enrollment.sample["first_name"] == "Alex"
