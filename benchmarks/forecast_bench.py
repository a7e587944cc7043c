"""Plan with forecasts: 1,000 runs about to start over a 1,000,000-lead pool.

    .venv/bin/python benchmarks/forecast_bench.py                     # full size, both
    .venv/bin/python benchmarks/forecast_bench.py --leads 100000 --runs 100 --backends sqlite

The repo: 10 clients with 100 active campaigns each, every campaign declaring a run
``launch`` (``type: run``) over its client's segment (an industry and a country, 100,000
leads each, ``limit: 1000``: the 100 runs of a client take consecutive slices of the
same best-first list) with a 3-step sequence (email; LinkedIn after 2 days, skipped
without a LinkedIn URL; email after 3 days), a daily limit of 50 split 60/40, weekdays
09:00-17:00 Europe/London. The pool: leads generated in SQL, a third in New York, a
third in Berlin, a third without a timezone, a third without a LinkedIn URL (spread over the
pool, not sorted by them). Past 50,000 leads per segment the audiences are read in bands
of enrichment confidence (docs/forecast.md), so a run is ~30 groups here.

Measured (the median of ``--repeat`` runs): ``plan_repo`` without forecasts, with them,
and the forecast's parts: reading its inputs (the audiences, credits, today's usage)
and the simulation; ``(cpu)``: this process's CPU seconds for plan+fc, ``(db cpu)``: on
PostgreSQL, the CPU seconds its server processes for the bench database spent meanwhile
(read from /proc: the server on this machine; "-" when they cannot be read). On a
shared machine the wall time is the load's too: compare CPU seconds.
PostgreSQL: a fresh database on ``CAMPAIGN_GITOPS_TEST_PG``'s server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconcile_bench import database  # a fresh PostgreSQL database, dropped afterwards
from sqlalchemy import text

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)  # a Monday morning
INDUSTRIES = ("software", "fintech", "logistics", "retail", "health")
COUNTRIES = ("US", "GB")

CLIENT = """\
apiVersion: campaign-gitops/v1
kind: Client
metadata: {{name: {client}}}
spec: {{tier: dominance, timezone: Europe/London, resources: {{emailDomain: {client}.test,
  linkedinSeat: seat@{client}.test}}}}
---
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {{name: book-demo, client: {client}}}
spec: {{outcome: meeting, description: Book a demo}}
---
apiVersion: campaign-gitops/v1
kind: Segment
metadata: {{name: pool-slice, client: {client}}}
spec: {{industries: [{industry}], countries: [{country}], limit: 1000}}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: intro, client: {client}}}
spec:
  channel: email
  subject: "Hello {{{{first_name | there}}}}"
  body: "Hi {{{{first_name | there}}}}, a short note. Unsubscribe: {{{{unsubscribe_url}}}}"
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: connect, client: {client}}}
spec: {{channel: linkedin, body: "Let's connect, {{{{first_name | there}}}}"}}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: follow-up, client: {client}}}
spec:
  channel: email
  subject: "A case study"
  body: "{{{{first_name | there}}}}, a case study. Unsubscribe: {{{{unsubscribe_url}}}}"
---
apiVersion: campaign-gitops/v1
kind: Sequence
metadata: {{name: three-steps, client: {client}}}
spec:
  steps:
    - {{channel: email, delayDays: 0, template: intro}}
    - {{channel: linkedin, delayDays: 2, template: connect, skipIf: linkedin_url_missing}}
    - {{channel: email, delayDays: 3, template: follow-up}}
---
apiVersion: campaign-gitops/v1
kind: Writer
metadata: {{name: plain, client: {client}}}
spec: {{type: template}}
---
apiVersion: campaign-gitops/v1
kind: Reviewer
metadata: {{name: rules, client: {client}}}
spec: {{type: rules, bannedPhrases: [guarantee]}}
---
apiVersion: campaign-gitops/v1
kind: Schedule
metadata: {{name: weekdays, client: {client}}}
spec: {{timezone: Europe/London, dailyLimit: 50}}
"""

CAMPAIGN = """\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {{name: {name}, client: {client}}}
spec:
  status: active
  channel: email
  goal: book-demo
  segment: pool-slice
  writer: plain
  reviewer: rules
  template: intro
  sequence: three-steps
  schedule: weekdays
  dailyLimit: 50
  allocation: {{email: 60, linkedin: 40}}
  testRecipients: [qa@example.com]
  runs:
    - {{name: launch, type: run}}
"""


def write_repo(root: Path, runs: int, clients: int = 10) -> None:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "campaign-gitops.yaml").write_text(
        "tiers:\n  dominance: {ai: 100000, custom: 100000}\n"
        "clientDefaults: {subscription: active, credits: 10000000}\n")
    per_client = -(-runs // clients)
    made = 0
    for c in range(clients):
        client = f"client-{c:02d}"
        base = root / "campaigns" / client
        (base / "campaigns").mkdir(parents=True, exist_ok=True)
        (base / "parts.yaml").write_text(CLIENT.format(
            client=client, industry=INDUSTRIES[c % 5], country=COUNTRIES[c // 5 % 2]))
        for i in range(per_client):
            if made == runs:
                break
            name = f"campaign-{i:04d}"
            (base / "campaigns" / f"{name}.yaml").write_text(
                CAMPAIGN.format(name=name, client=client))
            made += 1


# The pool, generated in SQL: the same values on both backends.
POOL_SELECT = """
    SELECT 'lead' || g || '@example.com', '+1555' || g, {linkedin}, 'First' || g,
        'Last' || g, 'CTO', 'c_suite', 'Company ' || g, {industry}, {country}, 100,
        'verified', ((CAST(g AS BIGINT) * 7919) % 100000) / 100000.0, {timezone}, {false},
        {now}, {now}, {techs}
"""
COLUMNS = ("email, phone, linkedin_url, first_name, last_name, title, seniority, company, "
           "company_industry, company_country, company_employee_count, email_status, "
           "enrichment_confidence, timezone, converted, created_at, updated_at, "
           "company_technologies")


def _pool_values(backend: str) -> dict[str, str]:
    industries = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(INDUSTRIES))
    return {
        "linkedin": "CASE WHEN g % 3 = 0 THEN NULL ELSE 'https://linkedin.com/in/l' || g END",
        "industry": f"CASE g % 5 {industries} END",
        "country": "CASE (g / 5) % 2 WHEN 0 THEN 'US' ELSE 'GB' END",
        "timezone": "CASE (g / 2) % 3 WHEN 0 THEN NULL WHEN 1 THEN 'America/New_York' "
                    "ELSE 'Europe/Berlin' END",
        "false": "false" if backend == "postgresql" else "0",
        "now": "now()" if backend == "postgresql" else "'2026-11-01 00:00:00.000000'",
        "techs": "'[\"python\"]'::json" if backend == "postgresql" else "'[\"python\"]'",
    }


def fill_pool(db: Any, size: int) -> None:
    backend = "postgresql" if db.is_postgres else "sqlite"
    select = POOL_SELECT.format(**_pool_values(backend))
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text(f"INSERT INTO leads ({COLUMNS}) {select} "
                              "FROM generate_series(1, :n) AS g"), {"n": size})
            conn.execute(text("ANALYZE leads"))
        else:
            conn.execute(text(f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s "
                              f"WHERE g < :n) INSERT INTO leads ({COLUMNS}) {select} FROM s"),
                         {"n": size})
            conn.execute(text("ANALYZE"))


CPU: list[float] = []  # this process's CPU seconds of each timed call (last call's last)
DB_CPU: list[float | None] = []  # the database server's, likewise (None: not readable)


def server_cpu(db: Any) -> float | None:
    """CPU seconds used so far by the PostgreSQL processes serving the bench database
    (None: SQLite, or the server's processes are not readable from here)."""
    if not db.is_postgres:
        return None
    with db.engine.connect() as conn:
        pids = conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def median_time(fn: Callable[[], Any], repeat: int, db: Any = None) -> tuple[float, Any]:
    times, cpus, db_cpus, value = [], [], [], None
    for _ in range(repeat):
        server = server_cpu(db) if db is not None else None
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        after = server_cpu(db) if server is not None else None
        db_cpus.append(None if server is None or after is None else after - server)
    CPU.append(statistics.median(cpus))
    known = [c for c in db_cpus if c is not None]
    DB_CPU.append(statistics.median(known) if len(known) == len(db_cpus) else None)
    return statistics.median(times), value


def bench(backend: str, root: Path, leads: int, repeat: int) -> dict[str, Any]:
    from campaign_gitops.config.project import Project
    from campaign_gitops.reconcile import forecast as fc
    from campaign_gitops.reconcile.service import plan_repo, project_config, snapshot_of
    from campaign_gitops.runs import forecast_pool, forecasting
    from campaign_gitops.state.db import open_database

    project = Project(root=root, resources_dir=root / "campaigns")
    config = project_config(project)
    with database(backend, root.parent) as url:
        db = open_database(url)
        try:
            fill_pool(db, leads)
            plan_repo(project, db, now=NOW, config=config)  # warm the parse cache
            plain, _ = median_time(lambda: plan_repo(project, db, now=NOW, config=config),
                                   repeat)
            full, (bundle, plan) = median_time(lambda: plan_repo(
                project, db, now=NOW, config=config, forecast=True), repeat, db)
            full_cpu, full_db_cpu = CPU[-1], DB_CPU[-1]
            starts = [c for c in plan.changes if c.forecast is not None]
            bare = plan_repo(project, db, now=NOW, config=config)[1]
            snapshot = snapshot_of(db)

            def inputs() -> Any:
                with db.session() as session:
                    found = forecasting.run_starts(bare, bundle, snapshot, NOW)
                    audiences = forecast_pool.Pool(session).audiences(
                        [s.plan.config for _, s, _ in found])
                    sims = [fc.SimRun(s.plan, s.start, tuple(a))
                            for (_, s, _), a in zip(found, audiences, strict=True)]
                    credits, used = forecasting.budget_now(
                        session, [s.plan for s in sims], NOW, config.client_defaults.credits)
                return sims, credits, used

            read, (sims, credits, used) = median_time(inputs, repeat)
            simulate, out = median_time(lambda: fc.simulate(NOW, sims, credits=credits,
                                                            used_today=used), repeat)
        finally:
            db.dispose()
    return {"backend": backend, "runs": len(starts), "leads": leads,
            "audience": sum(f.audience for f in out),
            "groups": sum(len(s.cohorts) for s in sims),
            "messages": sum(f.credits for f in out),
            "plan": plain, "plan+forecast": full, "cpu": full_cpu, "db_cpu": full_db_cpu,
            "inputs": read,
            "simulate": simulate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"forecast bench: {args.runs} runs starting, {args.leads:,} leads in the pool; "
          f"median of {args.repeat}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs (at the start)")
    print(f"{'backend':<11} {'runs':>5} {'audience':>9} {'groups':>7} {'messages':>9} "
          f"{'plan':>7} {'plan+fc':>8} {'(cpu)':>7} {'(db cpu)':>8} {'inputs':>7} "
          f"{'simulate':>9}", flush=True)
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo"
            write_repo(root, args.runs)
            r = bench(backend, root, args.leads, args.repeat)
        db_cpu = "-" if r["db_cpu"] is None else f"{r['db_cpu']:.2f}s"
        print(f"{r['backend']:<11} {r['runs']:>5} {r['audience']:>9,} {r['groups']:>7,} "
              f"{r['messages']:>9,} {r['plan']:>6.2f}s {r['plan+forecast']:>7.2f}s "
              f"{r['cpu']:>6.2f}s {db_cpu:>8} {r['inputs']:>6.2f}s {r['simulate']:>8.2f}s",
              flush=True)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
