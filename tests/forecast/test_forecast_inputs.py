"""The forecast's audiences read from the pool (runs/forecasting.Pool): runs of one plan
with the same client and segment take consecutive slices of the best-first list, as
apply allocates them one after the other; the one-pass reading of large pools (bands of
enrichment confidence) gives the same audiences when every band holds one lead."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from campaign_gitops.runs import forecasting
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from tests.runs.runs_helpers import lead_row, write_leads


def _config(client: str = "acme", limit: int | None = 10, pct: int = 100) -> dict[str, Any]:
    segment: dict[str, Any] = {"industries": ["software"], "emailStatus": ["verified"]}
    if limit is not None:
        segment["limit"] = limit
    return {"campaign": {"client": client, "name": "q1", "spec": {"leadAllocationPct": pct}},
            "segment": segment,
            "steps": [{"channel": "email", "delayDays": 0},
                      {"channel": "sms", "delayDays": 1, "skipIf": ["phone_missing"]}]}


def _profile(cohorts: list[forecasting.Cohort]) -> Counter[tuple[Any, ...]]:
    """Leads by timezone and the contacts the steps look at (email and phone: the large
    pool's reading leaves out the others)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for c in cohorts:
        out[(c.timezone, tuple(sorted(c.contacts & {"email", "phone"})))] += c.count
    return out


@pytest.mark.parametrize("exact", [True, False], ids=["one-by-one", "bands"])
def test_runs_take_consecutive_slices(db_url: str, tmp_path: Path, exact: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [lead_row(i, enrichment_confidence=f"{(i * 37) % 100 / 100:.2f}",
                     phone="" if i % 3 == 0 else f"+1555{i:07d}",
                     timezone="America/New_York" if i % 4 == 0 else "",
                     company_industry="retail" if i % 5 == 0 else "software")
            for i in range(40)]
    db = open_database(db_url)
    try:
        with db.session() as session:
            import_csv(session, write_leads(tmp_path / "leads.csv", rows))
        with db.session() as session:
            reference = forecasting.Pool(session).audiences(
                [_config(), _config(), _config(pct=50)])
            if not exact:
                monkeypatch.setattr(forecasting, "EXACT_LEADS", 0)
            first, second, half = forecasting.Pool(session).audiences(
                [_config(), _config(), _config(pct=50)])
    finally:
        db.dispose()
    # 32 match: 10, the next 10, then min(half of 32, the limit 10) of the 12 left
    assert [sum(c.count for c in a) for a in (first, second, half)] == [10, 10, 10]
    assert _profile(first) == _profile(reference[0])
    assert _profile(second) == _profile(reference[1])
    assert _profile(half) == _profile(reference[2])


def test_the_contacts_read_are_those_the_steps_look_at() -> None:
    assert forecasting.read_contacts([_config()]) == {"email", "phone"}
    assert forecasting.read_contacts([{"steps": [
        {"channel": "linkedin", "skipIf": "linkedin_url_missing"},
        {"channel": "mail"}]}]) == {"linkedin_url", "mail"}
    assert forecasting.read_contacts([{}]) == frozenset()


def test_bands_are_floored_on_both_backends(db_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A band is floor(confidence × BANDS) on SQLite and PostgreSQL alike (PostgreSQL's
    CAST rounds: 0.95 would fall in a band of its own above 0.92, and 0.88 join 0.92's),
    so both backends cut the same slices."""
    berlin, new_york = "Europe/Berlin", "America/New_York"
    rows = [lead_row(i, enrichment_confidence=confidence, timezone=tz)
            for i, (confidence, tz) in enumerate([
                ("0.99", berlin), ("0.95", berlin), ("0.93", berlin), ("0.92", berlin),
                ("0.88", new_york), ("0.85", new_york), ("0.50", new_york)])]
    db = open_database(db_url)
    try:
        with db.session() as session:
            import_csv(session, write_leads(tmp_path / "leads.csv", rows))
        monkeypatch.setattr(forecasting, "EXACT_LEADS", 0)
        monkeypatch.setattr(forecasting, "BANDS", 10)
        with db.session() as session:
            best, rest = forecasting.Pool(session).audiences([_config(limit=4),
                                                              _config(limit=4)])
    finally:
        db.dispose()
    assert [(c.timezone, c.count) for c in best] == [(berlin, 4)]
    assert [(c.timezone, c.count) for c in rest] == [(new_york, 2), (new_york, 1)]
