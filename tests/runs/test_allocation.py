"""Allocation: segment matching in SQL, best first, exclusive, suppressions honoured."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from campaign_gitops.runs.allocation import allocate, count_matching, matching_ids
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Lead, Suppression
from tests.runs.runs_helpers import lead_row, write_leads

NOW = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)


def _pool(db, tmp_path: Path, rows) -> None:
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "pool.csv", rows)).errors


def _emails(db, ids) -> list[str]:
    with db.session() as s:
        found = dict(s.execute(select(Lead.id, Lead.email).where(Lead.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_import_writes_new_leads_best_first(db_url: str, tmp_path: Path):
    """Best first on disk (ids follow the insertion order): a run's audience then lies
    on a few pages of the table instead of one page per lead."""
    db = open_database(db_url)
    _pool(db, tmp_path, [lead_row(i, enrichment_confidence=f"{(i * 37) % 100 / 100:.2f}",
                                  email_status="verified" if i % 3 else "unknown")
                         for i in range(60)])
    with db.session() as s:
        written = s.execute(select(Lead.email_status, Lead.enrichment_confidence)
                            .order_by(Lead.id)).all()
    assert written == sorted(written, key=lambda r: (r[0], -r[1]))
    assert len({r[1] for r in written}) > 10


def test_segment_criteria(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    rows = [
        lead_row(1, title="Chief Technology Officer (CTO)", company_country="AU"),
        lead_row(2, company_industry="Retail"),
        lead_row(3, company_country="NZ"),
        lead_row(4, company_employee_count="20"),
        lead_row(5, company_employee_count="5000"),
        lead_row(6, seniority="intern"),
        lead_row(7, title="Office Manager"),
        lead_row(8, company_technologies="excel"),
        lead_row(9, email_status="unknown"),
        lead_row(10, company_technologies="Snowflake;DBT", company_country="au"),
    ]
    _pool(db, tmp_path, rows)
    segment = {"industries": ["software"], "countries": ["AU", "US"], "employeeMin": 50,
               "employeeMax": 1000, "seniorities": ["c_suite"], "titles": ["cto"],
               "technologies": ["dbt", "python"], "emailStatus": ["verified"]}
    with db.session() as s:
        ids = [i for i, _ in matching_ids(s, segment, "acme", 100)]
        assert count_matching(s, segment, "acme") == 2
    assert sorted(_emails(db, ids)) == ["lead0001@example.com", "lead0010@example.com"]
    with db.session() as s:  # emailStatus is a list of accepted values
        assert count_matching(s, {"emailStatus": ["verified", "unknown"]}, "acme") == 10
        assert count_matching(s, {"titles": ["MANAGER"]}, "acme") == 1
        assert count_matching(s, {"titles": ["100%_"]}, "acme") == 0  # no LIKE wildcards


def test_best_first_only_unassigned_and_not_suppressed(db_url: str, tmp_path: Path):
    db = open_database(db_url)
    _pool(db, tmp_path, [lead_row(i, enrichment_confidence=f"0.{i}") for i in range(1, 8)])
    with db.session() as s:
        s.execute(insert(Suppression).values(client="acme", contact="lead0007@example.com",
                                             reason="unsubscribe", created_at=NOW))
        s.execute(insert(Suppression).values(client="acme", contact="+15550000006",
                                             reason="bounce", created_at=NOW))
        s.execute(insert(Suppression).values(client="other", contact="lead0005@example.com",
                                             reason="unsubscribe", created_at=NOW))
    with db.session() as s:
        first = allocate(s, {}, "acme", 2, now=NOW)
    assert _emails(db, [i for i, _ in first]) == ["lead0005@example.com",
                                                  "lead0004@example.com"]
    with db.session() as s:
        second = allocate(s, {}, "acme", 10, now=NOW)
        other = allocate(s, {}, "other", 10, now=NOW)
    assert _emails(db, [i for i, _ in second]) == [f"lead000{i}@example.com"
                                                   for i in (3, 2, 1)]
    # what acme's suppressions kept out is still in the pool for another client
    assert sorted(_emails(db, [i for i, _ in other])) == ["lead0006@example.com",
                                                          "lead0007@example.com"]


ALLOCATOR = textwrap.dedent("""
    import datetime as dt, json, sys
    from campaign_gitops.runs.allocation import allocate
    from campaign_gitops.state.db import open_database
    url, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
    db = open_database(url)
    now = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    taken = []
    for _ in range(8):
        with db.session() as s:
            taken += [i for i, _ in allocate(s, {"industries": ["software"]}, name, 40,
                                             now=now)]
    open(out, "w").write(json.dumps(taken))
""")


def test_eight_concurrent_allocators_never_share_a_lead(pg_url: str, tmp_path: Path):
    db = open_database(pg_url)
    rows = [lead_row(i, enrichment_confidence=f"{(i * 7919) % 1000 / 1000:.3f}")
            for i in range(3000)]
    _pool(db, tmp_path, rows)
    procs = [subprocess.Popen([sys.executable, "-c", ALLOCATOR, pg_url, f"client-{n}",
                               str(tmp_path / f"taken-{n}.json")]) for n in range(8)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    taken = {n: json.loads((tmp_path / f"taken-{n}.json").read_text()) for n in range(8)}
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == 8 * 8 * 40  # everyone got what they asked for
    assert len(set(every)) == len(every)  # and nobody got a lead twice
    with db.session() as s:
        owners = dict(s.execute(select(Lead.id, Lead.client).where(Lead.id.in_(every))).all())
        assert s.execute(select(func.count()).where(Lead.client.is_not(None))).scalar() == \
            len(every)
    assert all(owners[i] == f"client-{n}" for n, ids in taken.items() for i in ids)


def test_allocating_and_releasing_on_postgresql_are_heap_only_updates(pg_url: str,
                                                                     tmp_path: Path):
    """No index entry per lead: an index over ``client`` (even a partial index's
    predicate) or full pages would make each assignment a non-HOT update. A page has
    room for the new versions of about a fifth of its rows, so the pool here is 20
    imports of 50 (each written best first): the best 60 leads are 3 per import."""
    db = open_database(pg_url)
    rows = [lead_row(i, enrichment_confidence=f"{(i * 7919) % 1000 / 1000:.3f}")
            for i in range(1000)]
    for part in range(20):
        _pool(db, tmp_path, rows[part::20])
    with db.session() as s:
        taken = allocate(s, None, "acme", 60, now=NOW)
        s.execute(update(Lead).where(Lead.id.in_([i for i, _ in taken[:20]]))
                  .values(client=None, assigned_at=None, updated_at=NOW))
        upd, hot = s.execute(text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'leads'")).one()
    assert len(taken) == 60
    assert (upd, hot) == (80, 80)


def test_a_lead_referenced_by_an_uncommitted_row_is_still_allocated(pg_url: str,
                                                                    tmp_path: Path):
    """A foreign-key check (a test run enrolling a sample of free leads, a message row)
    holds FOR KEY SHARE on the lead until it commits; allocation's FOR NO KEY UPDATE
    does not conflict with it, so a run starting meanwhile still gets those leads, while
    another allocator's lock (an update) is still skipped."""
    from campaign_gitops.state.tables import (
        Campaign,
        CampaignRevision,
        CampaignRun,
        Enrollment,
        Resource,
    )

    db = open_database(pg_url)
    _pool(db, tmp_path, [lead_row(i) for i in range(3)])
    with db.session() as s:
        resource = Resource(client="acme", kind="Campaign", name="q1", spec={}, spec_hash="h")
        s.add(resource)
        s.flush()
        s.add(Campaign(resource_id=resource.id, status="active"))
        revision = CampaignRevision(resource_id=resource.id, revision=1, spec={},
                                    content_hash="h")
        s.add(revision)
        s.flush()
        run = CampaignRun(campaign_id=resource.id, name="smoke", type="test_run",
                          revision_id=revision.id, config={}, config_hash="h")
        s.add(run)
        s.flush()
        run_id = s.scalar(select(CampaignRun.id))
        first, second = s.scalars(select(Lead.id).order_by(Lead.id).limit(2)).all()
    sample = db.engine.connect()
    other = db.engine.connect()
    try:
        sample.begin()  # a test run's enrolment, not committed yet: FOR KEY SHARE
        sample.execute(insert(Enrollment.__table__).values(
            run_id=run_id, lead_id=first, state="active", next_step=0, created_at=NOW,
            updated_at=NOW))
        other.begin()  # another allocator holding a lead: skipped, not waited for
        other.execute(update(Lead).where(Lead.id == second).values(client="globex"))
        with db.session() as s:
            taken = [lead for lead, _ in allocate(s, None, "acme", 3, now=NOW)]
        assert sorted(taken) == sorted(set(range(first, first + 3)) - {second})
        assert first in taken
    finally:
        sample.rollback()
        sample.close()
        other.rollback()
        other.close()
