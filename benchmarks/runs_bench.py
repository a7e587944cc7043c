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

SMTP: the same tick with the ``smtp`` transport against a local aiosmtpd server (the
per-message protocol: ``sending`` committed before each send, the result after; one
connection reused for the whole tick); reports messages/s and the connections the
server saw (``--smtp-campaigns``, default 4 = 2,000 messages; 0 skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import statistics
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


LAYOUTS = {
    "imported": "built by 10 imports of a tenth each, every file written best first "
                "by `leads import`",
    "scattered": "the best leads spread over every page (confidence unrelated to where "
                 "a row lies: in-place re-imports over time)",
}


def _fill_pool_pg(db: Database, size: int, *, layout: str = "scattered") -> None:
    """N leads generated in SQL (varied industry, status, confidence), laid out on disk
    as ``layout`` says (see LAYOUTS); the values are the same in every layout."""
    industries = "ARRAY[" + ",".join(f"'{i}'" for i in INDUSTRIES) + "]"
    files = 10 if layout == "imported" else 1
    # the order runs/leads.py::upsert_leads writes an import file in
    order = ("ORDER BY email_status, enrichment_confidence DESC" if layout == "imported"
             else "")
    with db.engine.begin() as conn:
        for part in range(files):
            first, last = part * size // files + 1, (part + 1) * size // files
            conn.execute(text(f"""
                INSERT INTO leads (email, phone, first_name, last_name, title, seniority,
                    company, company_industry, company_country, company_employee_count,
                    company_technologies, email_status, enrichment_confidence, converted,
                    created_at, updated_at)
                SELECT * FROM (
                    SELECT 'lead' || g || '@example.com' AS email,
                        '+1555' || lpad(g::text, 7, '0'), 'First' || g, 'Last' || g, 'CTO',
                        'c_suite', 'Company ' || g, ({industries})[1 + g % 5], 'US',
                        10 + g % 5000, '["python", "postgres"]'::json,
                        CASE WHEN g % 10 = 0 THEN 'unknown' ELSE 'verified' END
                            AS email_status,
                        ((g::bigint * 7919) % 100000) / 100000.0 AS enrichment_confidence,
                        false, now(), now()
                    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint))
                        AS g) AS file
                {order}"""), {"first": first, "last": last})
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


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a local server process, from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _allocator(url: str, client: str, count: int, ready: Any, start: Any, out: Any) -> None:
    from campaign_gitops.runs.allocation import allocate

    db = open_database(url, migrate=False)
    with db.engine.connect() as conn:  # connect before the start signal
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    ready.put(client)
    start.wait()
    began = time.monotonic()  # system-wide clock: comparable across processes
    cpu, server_cpu = time.process_time(), _backend_cpu(backend)
    with db.session() as session:
        taken = allocate(session, SEGMENT, client, count, now=NOW)
    ended = time.monotonic()
    cpu = time.process_time() - cpu
    after = _backend_cpu(backend)
    server = None if server_cpu is None or after is None else after - server_cpu
    out.put((client, len(taken), began, ended, cpu, server))
    db.dispose()


def bench_allocation(pool: int, take: int, workers: int, *,
                     layout: str = "scattered") -> dict[str, Any]:
    url, drop = _pg_database()
    try:
        db = open_database(url)
        began = time.perf_counter()
        _fill_pool_pg(db, pool, layout=layout)
        with db.engine.connect() as conn:  # start the WAL cycle fresh for both layouts
            conn.execute(text("CHECKPOINT"))
            wal_before = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
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
        load = os.getloadavg()[0]
        start.set()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join()
        wall = max(r[3] for r in results) - min(r[2] for r in results)
        with db.session() as session:
            assigned = session.execute(select(func.count()).where(
                Lead.client.is_not(None))).scalar_one()
            wal = session.execute(text("SELECT pg_current_wal_lsn() - CAST(:lsn AS pg_lsn)"),
                                  {"lsn": wal_before}).scalar_one()
        got = sum(r[1] for r in results)
        servers = [r[5] for r in results]
        server_cpu = None if None in servers else sum(servers)
        db.dispose()
        return {"pool": pool, "allocators": workers, "taken": got, "assigned_rows": assigned,
                "exclusive": assigned == got == share * workers, "seconds": round(wall, 3),
                "leads_per_s": round(got / wall), "pool_fill_s": round(fill, 1),
                "client_cpu_s": round(sum(r[4] for r in results), 2),
                "server_cpu_s": None if server_cpu is None else round(server_cpu, 2),
                "wal_mb": round(float(wal) / 1e6), "load_at_start": round(load, 1),
                "per_allocator_s": sorted(round(r[3] - r[2], 2) for r in results)}
    finally:
        drop()


def server_settings() -> dict[str, str]:
    """The settings of the PostgreSQL server that shape allocation's cost."""
    import psycopg

    names = ("server_version", "shared_buffers", "wal_compression", "max_wal_size",
             "synchronous_commit")
    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in names}


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


class _SmtpSink:
    """An aiosmtpd handler that takes every message and counts messages and sessions."""

    def __init__(self) -> None:
        self.messages = 0
        self.sessions = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 OK"


def _server_cpu(db: Database) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``db`` (local server); {} on
    SQLite (no server) or when /proc does not show them."""
    if not db.is_postgres:
        return {}
    with db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity "
                                 "WHERE datname = current_database()")).scalars().all()
    used = {pid: _backend_cpu(pid) for pid in pids}
    return {pid: value for pid, value in used.items() if value is not None}


def bench_tick(backend: str, campaigns: int, batch: int,
               transport: str = "outbox") -> dict[str, Any]:
    from campaign_gitops.runs.tick import tick

    load = os.getloadavg()[0]

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
        config, sink, controller = ProjectConfig(), None, None
        if transport == "smtp":
            import socket

            from aiosmtpd.controller import Controller

            with socket.socket() as probe:  # a free port for the server
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            sink = _SmtpSink()
            controller = Controller(sink, hostname="127.0.0.1", port=port)
            controller.start()
            config = ProjectConfig.model_validate({"transports": {"email": {
                "type": "smtp", "host": "127.0.0.1", "port": port,
                "fromAddress": "bench@mail.example"}}})
        try:
            server = _server_cpu(db)
            began, cpu = time.perf_counter(), time.process_time()
            result = tick(db, now=NOW, config=config, batch_size=batch)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            server = {pid: used - server.get(pid, 0.0) for pid, used in _server_cpu(db).items()}
        finally:
            if controller is not None:
                controller.stop()
        with db.session() as session:
            sent = session.execute(select(func.count()).where(
                Message.status == "sent")).scalar_one()
        db.dispose()
        return {"backend": backend, "transport": transport,
                "server_received": sink.messages if sink else None,
                "server_connections": sink.sessions if sink else None,
                "campaigns": campaigns, "batch": batch,
                "messages": sent, "tick_totals": dict(result.totals()),
                "seconds": round(elapsed, 2), "messages_per_s": round(sent / elapsed),
                "tick_cpu_s": round(cpu, 2),
                "server_cpu_s": round(sum(server.values()), 2) if server else None,
                # messages per second of CPU (tick process + its server backends): what
                # the tick does with a core to itself, whatever the load of the machine
                "messages_per_cpu_s": round(sent / (cpu + sum(server.values()))),
                "load_at_start": round(load, 1),
                "run_start_s": round(started, 2),
                "enrolled_per_s": round(campaigns * per_campaign / started)}
    finally:
        if drop:
            drop()


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:,.0f}"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def _allocation_rows(table: Any, args: argparse.Namespace, layout: str, cores: int) -> None:
    trials = [bench_allocation(args.pool, args.take, args.allocators, layout=layout)
              for _ in range(args.repeat)]
    if args.json:
        for trial in trials:
            print(json.dumps({"layout": layout, **trial}))
    rates = [float(t["leads_per_s"]) for t in trials]
    table.add_row(
        f"allocation, {args.allocators} concurrent, {args.take:,} of {args.pool:,} "
        f"(PostgreSQL), pool {layout}", f"{_spread(rates)} leads/s",
        f"{len(trials)} trials, median (min–max); exclusive: "
        f"{all(t['exclusive'] for t in trials)}; load at start "
        f"{', '.join(str(t['load_at_start']) for t in trials)}", "50,000 leads/s")
    if None in [t["server_cpu_s"] for t in trials]:
        return  # a remote server: its CPU is not ours to read
    cpu = [(t["client_cpu_s"] + t["server_cpu_s"]) / t["taken"] * 1e6 for t in trials]
    table.add_row(
        "  CPU per lead (allocator processes + their server backends)", f"{_spread(cpu)} µs",
        f"= {_spread([cores / c * 1e6 for c in cpu])} leads/s with the {cores} cores to "
        f"itself; WAL {_spread([float(t['wal_mb']) for t in trials])} MB", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--take", type=int, default=100_000)
    parser.add_argument("--allocators", type=int, default=8)
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--smtp-campaigns", type=int, default=4,
                        help="Campaigns (x 500 messages) for the SMTP tick; 0 skips it.")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Allocation trials, each on a freshly generated pool.")
    parser.add_argument("--skip-allocation", action="store_true")
    parser.add_argument("--skip-tick", action="store_true")
    parser.add_argument("--layout", choices=[*LAYOUTS, "both"], default="both",
                        help="How the pool lies on disk (see LAYOUTS).")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="Also print each result as JSON.")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    cores = os.cpu_count() or 1
    table = Table(title=f"runs benchmark: {cores} cores, load average "
                        f"{os.getloadavg()[0]:.1f} at start")
    for name, justify in (("measure", "left"), ("result", "right"), ("detail", "left"),
                          ("goal", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if not args.skip_allocation:
        settings = server_settings()
        layouts = list(LAYOUTS) if args.layout == "both" else [args.layout]
        for layout in layouts:
            _allocation_rows(table, args, layout, cores)
        table.add_row("  server", "", ", ".join(f"{k} {v}" for k, v in settings.items()), "")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.skip_tick:
        backends = []
    for backend in backends:
        res = bench_tick(backend, args.campaigns, args.batch)
        if args.json:
            print(json.dumps(res))
        table.add_row(f"tick, {res['messages']:,} messages ({backend})",
                      f"{res['messages_per_s']:,} msg/s",
                      f"{res['seconds']} s at load {res['load_at_start']}; CPU: tick process "
                      f"{res['tick_cpu_s']} s, server {res['server_cpu_s'] or '-'} s = "
                      f"{res['messages_per_cpu_s']:,} msg per CPU-s; run start, allocate + "
                      f"enrol {args.campaigns} × 500: {res['run_start_s']} s",
                      "2,000 msg/s")
        if args.smtp_campaigns <= 0:
            continue
        res = bench_tick(backend, args.smtp_campaigns, args.batch, transport="smtp")
        if args.json:
            print(json.dumps(res))
        table.add_row(f"tick over SMTP, {res['messages']:,} messages ({backend})",
                      f"{res['messages_per_s']:,} msg/s",
                      f"{res['seconds']} s at load {res['load_at_start']} to a local "
                      f"aiosmtpd ({res['messages_per_cpu_s']:,} msg per CPU-s); it received "
                      f"{res['server_received']:,} on {res['server_connections']} "
                      "connection(s); sending committed before each send", "")
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
