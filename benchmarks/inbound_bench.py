"""Recipients at scale: inbound mail classified and recorded, and one-click unsubscribe
committed, in a database of 1,000,000 messages.

Builds, in a temporary folder (or --workdir, reused when it exists), a database with
one client, --campaigns campaigns of one running run each, and --messages messages
(5 email steps per lead, so messages / 5 leads and enrollments; bulk inserts of the
shape tick writes; every message ``sent`` with the Message-ID the SMTP transport gives).

1. Inbound: --mails mails appended to a real dovecot (started from a temporary config,
   as the tests do) -- 70% replies with In-Reply-To, 10% auto-replies, 10% DSN bounces
   (half permanent), 5% ARF complaints, 5% unrelated -- then ``replies fetch`` once
   (inbound/imap.fetch_mailbox): messages per second classified, recorded and moved.
2. Unsubscribe: --posts one-click POSTs (RFC 8058 body) from httpx to the real app on
   uvicorn, each a different lead's signed link; the time until the 200, which comes
   after the suppression committed: p50, p95, p99 (goal: p99 <= 100 ms).

    python benchmarks/inbound_bench.py                       # 1,000,000 / 10,000
    python benchmarks/inbound_bench.py --messages 50000 --mails 1000 --posts 200
    python benchmarks/inbound_bench.py --db postgresql+psycopg://postgres@127.0.0.1/ibench
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "inbound"))
import mails
from dovecot import append, folder_count, running

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.tokens import Signer, Unsubscribe
from campaign_gitops.runs.inbound import fetch_mailbox
from campaign_gitops.runs.transport_smtp import message_id
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Client,
    Enrollment,
    Lead,
    Message,
    Reply,
    Resource,
    Suppression,
)
from campaign_gitops.web.app import create_app, start_in_thread

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
STEPS = 5
FROM = "sales@mail.acme.test"
KEY = "bench-signing-key"


def bulk(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.session() as session:
        for start in range(0, len(rows), 20000):
            session.execute(insert(table), rows[start:start + 20000])


def build(db: Database, campaigns: int, messages: int) -> int:
    """The client, campaigns, runs, leads, enrollments and sent messages; lead count."""
    leads_total = messages // STEPS
    per_campaign = max(1, leads_total // campaigns)
    with db.session() as s:
        s.add(Client(name="acme", subscription="active", credits=10**9))
        s.add(Resource(client="acme", kind="Client", name="acme", spec={}, spec_hash="0"))
        for c in range(campaigns):
            r = Resource(client="acme", kind="Campaign", name=f"c{c:04d}", spec={},
                         spec_hash="0")
            s.add(r)
            s.flush()
            s.add(Campaign(resource_id=r.id, status="active"))
            rev = CampaignRevision(resource_id=r.id, revision=1, spec={}, content_hash="0")
            s.add(rev)
            s.flush()
            s.add(CampaignRun(campaign_id=r.id, name="launch", type="run", status="running",
                              revision_id=rev.id, config_hash="0", config={
                                  "steps": [{"channel": "email"} for _ in range(STEPS)]}))
    with db.session() as s:
        runs = s.execute(select(CampaignRun.id, CampaignRun.campaign_id)
                         .order_by(CampaignRun.id)).all()
    lead_id = 0
    for run_id, campaign_id in runs:
        leads, enrollments, sent = [], [], []
        for _ in range(per_campaign):
            lead_id += 1
            email = f"lead{lead_id}@example.com"
            leads.append({"id": lead_id, "email": email, "client": "acme",
                          "email_status": "verified", "assigned_at": T0,
                          "created_at": T0, "updated_at": T0})
            enrollments.append({"id": lead_id, "run_id": run_id, "lead_id": lead_id,
                                "state": "active", "next_step": STEPS, "created_at": T0,
                                "updated_at": T0})
            for k in range(STEPS):
                key = f"{lead_id}:{k}"
                at = T0 + dt.timedelta(days=2 * k)
                sent.append({"enrollment_id": lead_id, "run_id": run_id,
                             "campaign_id": campaign_id, "client": "acme",
                             "lead_id": lead_id, "step_index": k, "channel": "email",
                             "recipient": email, "subject": "Hi there",
                             "body": f"Hello lead {lead_id}, step {k + 1}.",
                             "status": "sent", "idempotency_key": key,
                             "transport": "smtp",
                             "transport_message_id": message_id(key, FROM),
                             "attempts": 1, "sent_at": at, "created_at": at,
                             "updated_at": at})
        bulk(db, Lead.__table__, leads)
        bulk(db, Enrollment.__table__, enrollments)
        bulk(db, Message.__table__, sent)
        print(f"  {lead_id * STEPS:,} messages", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    if not db.is_postgres:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return lead_id


def inbox(n: int, leads: int, rng: random.Random) -> list[bytes]:
    chosen = rng.sample(range(1, leads + 1), min(n, leads))
    out: list[bytes] = []
    for i, lead in enumerate(chosen):
        email = f"lead{lead}@example.com"
        sent = message_id(f"{lead}:{rng.randrange(STEPS)}", FROM)
        own = f"<in-{i}-{hashlib.sha256(str(i).encode()).hexdigest()[:8]}@bench.example>"
        roll = i % 20
        if roll < 14:
            out.append(mails.reply(email, sent, own))
        elif roll < 16:
            out.append(mails.auto_reply(email, sent, own))
        elif roll < 18:
            out.append(mails.dsn(email, sent, own, permanent=roll == 16))
        elif roll == 18:
            out.append(mails.arf(email, sent, own))
        else:
            out.append(mails.unrelated(own))
    return out


def bench_inbound(db: Database, tmp: Path, n: int, leads: int) -> dict[str, Any]:
    rng = random.Random(15)
    with running(tmp) as server:
        raw = inbox(n, leads, rng)
        t = time.perf_counter()
        for start in range(0, len(raw), 500):
            append(server, raw[start:start + 500])
        appended = time.perf_counter() - t
        os.environ["BENCH_IMAP_USER"], os.environ["BENCH_IMAP_PASSWORD"] = (
            server.user, server.password)
        box = ProjectConfig.model_validate({"inbound": {"mailboxes": [{
            "name": "bench", "host": server.host, "port": server.port, "tls": "none",
            "usernameEnv": "BENCH_IMAP_USER", "passwordEnv": "BENCH_IMAP_PASSWORD"}]}}
        ).inbound.mailboxes[0]
        t = time.perf_counter()
        report = fetch_mailbox(db, box, now=T0 + dt.timedelta(days=20), signer=Signer([KEY]))
        seconds = time.perf_counter() - t
        left = folder_count(server, "INBOX")
    with db.reading() as s:
        replies = s.execute(select(func.count()).select_from(Reply)).scalar() or 0
    return {"replies": replies, "mails": len(raw), "append_s": appended, "fetch_s": seconds,
            "per_s": report.seen / seconds, "report": report.as_json(), "left": left}


def bench_unsubscribe(db: Database, posts: int, leads: int) -> dict[str, Any]:
    os.environ["CAMPAIGN_GITOPS_SIGNING_KEY"] = KEY
    config = ProjectConfig.model_validate({"publicUrl": "http://127.0.0.1:1",
                                           "inbound": {"rateLimitPerMinute": 100000}})
    server = start_in_thread(create_app(db, config=config))
    signer = Signer([KEY])
    rng = random.Random(8058)
    chosen = rng.sample(range(1, leads + 1), min(posts + 20, leads))
    times: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
            for i, lead in enumerate(chosen):
                token = signer.sign(Unsubscribe("acme", f"lead{lead}@example.com",
                                                f"{lead}:0"))
                t = time.perf_counter()
                answer = http.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                                   headers={"Content-Type":
                                            "application/x-www-form-urlencoded"})
                elapsed = time.perf_counter() - t
                assert answer.status_code == 200, answer.text
                if i >= 20:  # warm-up
                    times.append(elapsed)
    finally:
        server.stop()
    with db.reading() as s:
        suppressed = s.execute(select(func.count()).select_from(Suppression)).scalar()
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))] * 1000

    return {"posts": len(times), "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
            "max": times[-1] * 1000, "mean": statistics.mean(times) * 1000,
            "suppressed": suppressed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--db", help="database URL (default: SQLite in the workdir)")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inbound-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{workdir / 'state.db'}"
    db = open_database(url)
    with db.reading() as s:
        have = s.execute(select(func.count()).select_from(Message)).scalar() or 0
        leads = s.execute(select(func.count()).select_from(Lead)).scalar() or 0
    if not have:
        t = time.perf_counter()
        leads = build(db, args.campaigns, args.messages)
        print(f"built {leads * STEPS:,} messages in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
    with db.reading() as s:
        have = s.execute(select(func.count()).select_from(Message)).scalar() or 0
        before = s.execute(select(func.count()).select_from(Reply)).scalar() or 0
    inbound = bench_inbound(db, workdir, args.mails, leads)
    unsub = bench_unsubscribe(db, args.posts, leads)
    load = os.getloadavg()
    backend = "PostgreSQL" if db.is_postgres else "SQLite"
    print(f"\ninbound_bench on {backend}: {have:,} messages, {leads:,} leads; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} CPUs)\n")
    r = inbound["report"]
    print("| measure | value |\n|---|---|")
    print(f"| inbound mails in the mailbox | {inbound['mails']:,} |")
    print(f"| fetch: classified, recorded, moved | {inbound['fetch_s']:.1f} s = "
          f"**{inbound['per_s']:,.0f} mails/s** |")
    print(f"| recorded / unmatched (left) / moved | {r['recorded']:,} / {r['unmatched']:,} "
          f"({inbound['left']:,}) / {r['moved']:,} |")
    print(f"| kinds | {', '.join(f'{k} {v:,}' for k, v in r['kinds'].items())} |")
    print(f"| replies rows before / after the fetch | {before:,} / {inbound['replies']:,} |")
    print(f"| unsubscribe POST -> committed, {unsub['posts']} POSTs | p50 "
          f"{unsub['p50']:.1f} ms, p95 {unsub['p95']:.1f} ms, **p99 {unsub['p99']:.1f} ms**, "
          f"max {unsub['max']:.1f} ms |")
    print(f"| suppressions in the database after | {unsub['suppressed']:,} |")
    db.dispose()


if __name__ == "__main__":
    main()
