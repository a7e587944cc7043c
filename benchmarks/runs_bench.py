"""Runs throughput: lead allocation on PostgreSQL, and tick on SQLite and PostgreSQL.

Allocation: a pool of N leads (default 1,000,000, generated in SQL), then 8 processes
start at once and each allocates its share of 100,000 leads for its own client with
``runs.allocation.allocate`` (segment filter, best first, ``FOR UPDATE SKIP LOCKED``);
reports leads/s over the wall time and checks that no lead went to two clients.

Tick: C campaigns (default 40, at the schedule's maximum daily limit of 500 each, so
20,000 messages are due), a one-step email sequence, the template writer, the rules
reviewer and the outbox transport; runs are started with ``start_run`` (allocation and
enrolment) and then one ``tick`` delivers everything; reports messages/s.

    .venv/bin/python benchmarks/runs_bench.py                       # full size
    .venv/bin/python benchmarks/runs_bench.py --pool 100000 --take 10000 --campaigns 4
    .venv/bin/python benchmarks/runs_bench.py --skip-tick           # allocation only
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import func, select, text

from campaign_gitops.config.models import content_hash
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Client,
    Lead,
    Message,
    Resource,
)

PG_ADMIN = os.environ.get("CAMPAIGN_GITOPS_TEST_PG",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)  # a Monday
INDUSTRIES = ("software", "fintech", "logistics", "retail", "health")
SEGMENT = {"industries": ["software", "fintech", "logistics"], "emailStatus": ["verified"]}


# ---------------------------------------------------------------- databases


def _pg_database() -> tuple[str, Any]:
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"cg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


def _fill_pool_pg(db: Database, size: int, *, ordered: bool = False) -> None:
    """N leads generated in SQL (varied industry, status, confidence).

    ``ordered``: the rows lie on disk in confidence order (as after importing a file
    sorted by it); else the best leads are scattered over every page of the table.
    """
    confidence = ("(:n - g) / CAST(:n AS float)" if ordered
                  else "((g::bigint * 7919) % 100000) / 100000.0")
    industries = "ARRAY[" + ",".join(f"'{i}'" for i in INDUSTRIES) + "]"
    with db.engine.begin() as conn:
        conn.execute(text(f"""
            INSERT INTO leads (email, phone, first_name, last_name, title, seniority, company,
                company_industry, company_country, company_employee_count,
                company_technologies, email_status, enrichment_confidence, converted,
                created_at, updated_at)
            SELECT 'lead' || g || '@example.com', '+1555' || lpad(g::text, 7, '0'),
                'First' || g, 'Last' || g, 'CTO', 'c_suite', 'Company ' || g,
                ({industries})[1 + g % 5], 'US', 10 + g % 5000,
                '["python", "postgres"]'::json,
                CASE WHEN g % 10 = 0 THEN 'unknown' ELSE 'verified' END,
                {confidence}, false, now(), now()
            FROM generate_series(1, :n) AS g"""), {"n": size})
        conn.execute(text("ANALYZE leads"))


def _fill_pool(db: Database, size: int) -> None:
    from campaign_gitops.runs.leads import upsert_leads

    rows = [{"email": f"lead{g}@example.com", "phone": f"+1555{g:07d}", "linkedin_url": None,
             "first_name": f"First{g}", "last_name": f"Last{g}", "title": "CTO",
             "seniority": "c_suite", "company": f"Company {g}",
             "company_industry": INDUSTRIES[g % 3], "company_country": "US",
             "company_employee_count": 100, "company_technologies": ["python"],
             "email_status": "verified", "enrichment_confidence": (g * 7919) % 1000 / 1000,
             "timezone": None, "created_at": NOW, "updated_at": NOW} for g in range(size)]
    with db.session() as session:
        upsert_leads(session, rows)


# ---------------------------------------------------------------- allocation


def _allocator(url: str, client: str, count: int, ready: Any, start: Any, out: Any) -> None:
    from campaign_gitops.runs.allocation import allocate

    db = open_database(url, migrate=False)
    with db.engine.connect():
        pass  # connect before the start signal
    ready.put(client)
    start.wait()
    began = time.monotonic()  # system-wide clock: comparable across processes
    with db.session() as session:
        taken = allocate(session, SEGMENT, client, count, now=NOW)
    out.put((client, len(taken), began, time.monotonic()))
    db.dispose()


def bench_allocation(pool: int, take: int, workers: int, *,
                     ordered: bool = False) -> dict[str, Any]:
    url, drop = _pg_database()
    try:
        db = open_database(url)
        began = time.perf_counter()
        _fill_pool_pg(db, pool, ordered=ordered)
        with db.engine.connect() as conn:  # start the WAL cycle fresh for both layouts
            conn.execute(text("CHECKPOINT"))
        fill = time.perf_counter() - began
        ctx = mp.get_context("spawn")
        ready, start, out = ctx.Queue(), ctx.Event(), ctx.Queue()
        share = take // workers
        procs = [ctx.Process(target=_allocator,
                             args=(url, f"client-{i}", share, ready, start, out))
                 for i in range(workers)]
        for p in procs:
            p.start()
        for _ in procs:  # every process imported and connected
            ready.get(timeout=600)
        start.set()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        wall = max(r[3] for r in results) - min(r[2] for r in results)
        with db.session() as session:
            assigned = session.execute(select(func.count()).where(
                Lead.client.is_not(None))).scalar_one()
        got = sum(r[1] for r in results)
        db.dispose()
        return {"pool": pool, "allocators": workers, "taken": got, "assigned_rows": assigned,
                "exclusive": assigned == got == share * workers, "seconds": round(wall, 3),
                "leads_per_s": round(got / wall), "pool_fill_s": round(fill, 1),
                "per_allocator_s": sorted(round(r[3] - r[2], 2) for r in results)}
    finally:
        drop()


# ---------------------------------------------------------------- tick


def _config(client: str, name: str, limit: int) -> dict[str, Any]:
    template = {"channel": "email", "subject": "Hi {{first_name | there}}",
                "body": "Hello {{first_name | there}} at {{company}}, worth a chat?\n\n"
                        "{{sender_name}}\nUnsubscribe: {{unsubscribe_url}}"}
    spec = {"status": "active", "channel": "email", "dailyLimit": 500, "leadAllocationPct": 100,
            "runs": [{"name": "launch", "type": "run"}], "testRecipients": []}
    return {
        "campaign": {"client": client, "name": name, "spec": spec},
        "client": {"tier": "dominance", "timezone": "UTC",
                   "resources": {"emailDomain": "mail.example.com"}},
        "goal": {"outcome": "meeting", "description": "demo"},
        "segment": {**SEGMENT, "limit": limit},
        "writer": {"type": "template"},
        "reviewer": {"type": "rules", "bannedPhrases": ["guarantee"], "requireUnsubscribe": True,
                     "maxLength": {}},
        "schedule": {"timezone": "UTC", "workHours": {"start": "00:00", "end": "24:00"},
                     "workDays": [1, 2, 3, 4, 5, 6, 7], "dailyLimit": 500, "skipDates": []},
        "template": template,
        "steps": [{"channel": "email", "delayDays": 0, "template": None, "purpose": "intro",
                   "skipIf": [], "skipIfReplied": True, "skipIfBounced": True}],
        "templates": {},
    }


def _start_runs(db: Database, campaigns: int, per_campaign: int) -> float:
    from campaign_gitops.runs.start import start_run

    began = time.perf_counter()
    with db.session() as session:
        session.add(Client(name="bench", subscription="active", credits=10_000_000))
        for i in range(campaigns):
            config = _config("bench", f"c{i}", per_campaign)
            res = Resource(client="bench", kind="Campaign", name=f"c{i}",
                           spec=config["campaign"]["spec"], spec_hash="x")
            session.add(res)
            session.flush()
            session.add(Campaign(resource_id=res.id, status="active"))
            rev = CampaignRevision(resource_id=res.id, revision=1, spec={}, content_hash="x")
            session.add(rev)
            session.flush()
            run = CampaignRun(campaign_id=res.id, name="launch", type="run", revision_id=rev.id,
                              config=config, config_hash=content_hash(config))
            session.add(run)
            session.flush()
            start_run(session, run, now=NOW - dt.timedelta(minutes=1))
    return time.perf_counter() - began


def bench_tick(backend: str, campaigns: int, batch: int) -> dict[str, Any]:
    from campaign_gitops.runs.tick import tick

    per_campaign = 500
    drop = None
    if backend == "postgresql":
        url, drop = _pg_database()
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='cg-bench-')}/state.db"
    try:
        db = open_database(url)
        pool = campaigns * per_campaign * 2
        if backend == "postgresql":
            _fill_pool_pg(db, pool)
        else:
            _fill_pool(db, pool)
        started = _start_runs(db, campaigns, per_campaign)
        # steady state, as in the daemon: the writer/reviewer/transport modules (and the
        # anthropic SDK they import) are loaded once per process, not per tick
        import campaign_gitops.runs.reviewers
        import campaign_gitops.runs.transports
        import campaign_gitops.runs.writers  # noqa: F401
        began, cpu = time.perf_counter(), time.process_time()
        result = tick(db, now=NOW, config=ProjectConfig(), batch_size=batch)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        with db.session() as session:
            sent = session.execute(select(func.count()).where(
                Message.status == "sent")).scalar_one()
        db.dispose()
        return {"backend": backend, "campaigns": campaigns, "batch": batch,
                "messages": sent, "tick_totals": dict(result.totals()),
                "seconds": round(elapsed, 2), "messages_per_s": round(sent / elapsed),
                "tick_cpu_s": round(cpu, 2),
                "run_start_s": round(started, 2),
                "enrolled_per_s": round(campaigns * per_campaign / started)}
    finally:
        if drop:
            drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--take", type=int, default=100_000)
    parser.add_argument("--allocators", type=int, default=8)
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--skip-allocation", action="store_true")
    parser.add_argument("--skip-tick", action="store_true")
    parser.add_argument("--ordered", action="store_true",
                        help="Lay the pool out on disk in confidence order.")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(argv)
    if not args.skip_allocation:
        alloc = bench_allocation(args.pool, args.take, args.allocators, ordered=args.ordered)
        print(f"allocation (PostgreSQL): {alloc['taken']:,} leads from a pool of "
              f"{alloc['pool']:,} by {alloc['allocators']} concurrent allocators in "
              f"{alloc['seconds']} s = {alloc['leads_per_s']:,} leads/s; exclusive: "
              f"{alloc['exclusive']} (pool generated in {alloc['pool_fill_s']} s, "
              f"{'ordered' if args.ordered else 'scattered'} on disk)")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.skip_tick:
        backends = []
    for backend in backends:
        res = bench_tick(backend, args.campaigns, args.batch)
        print(f"tick ({backend}): {res['messages']:,} messages (template writer, rules "
              f"reviewer, outbox) in {res['seconds']} s = {res['messages_per_s']:,} msg/s; "
              f"tick process CPU {res['tick_cpu_s']} s; run start (allocate + enrol "
              f"{args.campaigns} x 500): {res['run_start_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
