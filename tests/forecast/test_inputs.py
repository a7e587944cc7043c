"""The forecast's audiences read from the pool (runs/forecast_pool.Pool): runs of one plan
with the same client and segment take consecutive slices of the best-first list, as
apply allocates them one after the other; the one-pass reading of large pools (bands of
enrichment confidence) gives the same audiences when every band holds one lead."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from campaign_gitops.runs import forecast_pool
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from tests.runs.runs_helpers import lead_row, write_leads


def _config(client: str = "acme", limit: int | None = 10, pct: int = 100,
            **more: Any) -> dict[str, Any]:
    segment: dict[str, Any] = {"industries": ["software"], "emailStatus": ["verified"], **more}
    if limit is not None:
        segment["limit"] = limit
    return {"campaign": {"client": client, "name": "q1", "spec": {"leadAllocationPct": pct}},
            "segment": segment,
            "steps": [{"channel": "email", "delayDays": 0},
                      {"channel": "sms", "delayDays": 1, "skipIf": ["phone_missing"]}]}


def _profile(cohorts: list[forecast_pool.Cohort]) -> Counter[tuple[Any, ...]]:
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
            reference = forecast_pool.Pool(session).audiences(
                [_config(), _config(), _config(pct=50)])
            if not exact:
                monkeypatch.setattr(forecast_pool, "EXACT_LEADS", 0)
            first, second, half = forecast_pool.Pool(session).audiences(
                [_config(), _config(), _config(pct=50)])
    finally:
        db.dispose()
    # 32 match: 10, the next 10, then min(half of 32, the limit 10) of the 12 left
    assert [sum(c.count for c in a) for a in (first, second, half)] == [10, 10, 10]
    assert _profile(first) == _profile(reference[0])
    assert _profile(second) == _profile(reference[1])
    assert _profile(half) == _profile(reference[2])


def test_the_contacts_read_are_those_the_steps_look_at() -> None:
    assert forecast_pool.read_contacts([_config()]) == {"email", "phone"}
    assert forecast_pool.read_contacts([{"steps": [
        {"channel": "linkedin", "skipIf": "linkedin_url_missing"},
        {"channel": "mail"}]}]) == {"linkedin_url", "mail"}
    assert forecast_pool.read_contacts([{}]) == frozenset()


@pytest.mark.parametrize("titles", [None, (["cto"], ["ct"])],
                         ids=["grouped-first", "lead-by-lead"])
def test_bands_are_floored_on_both_backends(db_url: str, tmp_path: Path, titles: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A band is floor(confidence × BANDS) on SQLite and PostgreSQL alike (PostgreSQL's
    CAST rounds: 0.99 and 0.95 would fall in a band above 0.93 and 0.92's), so both
    backends cut the same slices; whether the segments' own conditions are evaluated on
    groups of alike leads (industries) or lead by lead (titles)."""
    berlin, new_york = "Europe/Berlin", "America/New_York"
    rows = [lead_row(i, enrichment_confidence=confidence, timezone=tz, company_industry=industry)
            for i, (confidence, tz, industry) in enumerate([
                ("0.99", berlin, "software"), ("0.95", berlin, "software"),
                ("0.93", berlin, "software"), ("0.92", berlin, "software"),
                ("0.88", new_york, "retail"), ("0.85", new_york, "retail"),
                ("0.50", new_york, "retail")])]
    first, second = ({"titles": titles[0]}, {"titles": titles[1]}) if titles else ({}, {})
    configs = [_config(limit=4, **first), _config(limit=4, industries=["retail"], **second)]
    db = open_database(db_url)
    try:
        with db.session() as session:
            import_csv(session, write_leads(tmp_path / "leads.csv", rows))
        monkeypatch.setattr(forecast_pool, "EXACT_LEADS", 0)
        monkeypatch.setattr(forecast_pool, "BANDS", 10)
        with db.session() as session:
            parts = [forecast_pool._filter(session, c["segment"], "acme") for c in configs]
            own = [c for part in parts for c in part
                   if not forecast_pool._among(c, forecast_pool._common(parts))]
            assert (forecast_pool._few_valued(own) is None) == bool(titles)
            software, retail = forecast_pool.Pool(session).audiences(configs)
    finally:
        db.dispose()
    assert [(c.timezone, c.count) for c in software] == [(berlin, 4)]
    assert [(c.timezone, c.count) for c in retail] == [(new_york, 2), (new_york, 1)]
