"""Page load of the web UI at 10,000 campaigns and 1,000,000 communications.

Builds, in a temporary folder (or --workdir, reused when it exists):

* a repo of N campaigns over N/20 clients (20 campaigns each: the dominance tier's
  limit), each client with a goal, segment, writer, reviewer, template and schedule,
  applied with the real ``apply`` (so every campaign is Synced);
* per campaign one run with E enrollments and 5 steps each (bulk inserts, the shape
  tick writes): N * E * 5 messages, and a reply for one enrollment in ten.

Then serves the app in-process (FastAPI TestClient: the ASGI app without sockets) and
times repeated requests of the campaigns page (first page, a filtered and a searched
page, the last page), a run page, the communications page and their API twins: p50
and p95 over --requests, after one warm-up (the first request pays for loading the
repo into the plan cache, reported apart as "cold").

    python benchmarks/ui_bench.py                            # 10,000 / 1,000,000
    python benchmarks/ui_bench.py --campaigns 200 --enrollments 10   # a quick look
    python benchmarks/ui_bench.py --db postgresql+psycopg://postgres@127.0.0.1/uibench
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from campaign_gitops.config.project import Project
from campaign_gitops.reconcile.service import apply_plan, plan_repo, project_config
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import (
    CampaignRevision,
    CampaignRun,
    Enrollment,
    Message,
    Reply,
    Resource,
)
from campaign_gitops.web.app import create_app

PER_CLIENT = 20
STEPS = ("email", "email", "sms", "email", "sms")
STATUSES = ("sent", "sent", "sent", "sent", "skipped", "failed", "queued")
T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
HEAD = "apiVersion: campaign-gitops/v1\n"


def client_file(c: str) -> str:
    docs = [
        f"kind: Client\nmetadata: {{name: {c}}}\nspec:\n  tier: dominance\n"
        f"  timezone: UTC\n  resources: {{emailDomain: mail.{c}.example, "
        f"phoneNumber: '+15550001000'}}\n",
        f"kind: Goal\nmetadata: {{name: demo, client: {c}}}\n"
        "spec: {outcome: meeting, description: Book a demo}\n",
        f"kind: Segment\nmetadata: {{name: ctos, client: {c}}}\n"
        "spec: {industries: [software], titles: [CTO]}\n",
        f"kind: Writer\nmetadata: {{name: plain, client: {c}}}\nspec: {{type: template}}\n",
        f"kind: Reviewer\nmetadata: {{name: rules, client: {c}}}\n"
        "spec: {type: rules, bannedPhrases: [guarantee]}\n",
        f"kind: Template\nmetadata: {{name: intro, client: {c}}}\nspec:\n  channel: email\n"
        "  subject: Hi {{first_name | there}}\n"
        "  body: 'Hello {{first_name | there}}. Unsubscribe: {{unsubscribe_url}}'\n",
        f"kind: Template\nmetadata: {{name: nudge, client: {c}}}\nspec:\n  channel: sms\n"
        "  body: 'Hi {{first_name | there}}, reply STOP to opt out'\n",
        f"kind: Sequence\nmetadata: {{name: outbound, client: {c}}}\nspec:\n  steps:\n"
        + "".join(f"    - {{channel: {ch}, delayDays: {2 if k else 0}, template: "
                  f"{'intro' if ch == 'email' else 'nudge'}}}\n"
                  for k, ch in enumerate(STEPS)),
        f"kind: Schedule\nmetadata: {{name: hours, client: {c}}}\n"
        "spec: {timezone: UTC, dailyLimit: 200}\n",
    ]
    for j in range(PER_CLIENT):
        kind = "custom" if j < 8 else "ai_suggested"
        status = "paused" if j % 7 == 3 else "active"
        docs.append(
            f"kind: Campaign\nmetadata: {{name: {c}-c{j:02d}, client: {c}}}\nspec:\n"
            f"  status: {status}\n  type: {kind}\n  channel: email\n"
            "  allocation: {email: 80, sms: 20}\n  goal: demo\n  segment: ctos\n"
            "  writer: plain\n  reviewer: rules\n  template: intro\n  sequence: outbound\n"
            "  schedule: hours\n")
    return "---\n".join(HEAD + d for d in docs)


def build_repo(root: Path, campaigns: int) -> Project:
    folder = root / "campaigns"
    for i in range(max(1, campaigns // PER_CLIENT)):
        c = f"client{i:04d}"
        (folder / c).mkdir(parents=True, exist_ok=True)
        (folder / c / "all.yaml").write_text(client_file(c))
    return Project(root=root, resources_dir=folder)


def bulk(db: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    with db.session() as session:
        for start in range(0, len(rows), 20000):
            session.execute(insert(table), rows[start:start + 20000])


def fill_runs(db: Database, enrollments_per_run: int) -> int:
    """One run per campaign, its enrollments, 5 messages each, some replies."""
    with db.session() as session:
        named = session.execute(select(Resource.id, Resource.client, Resource.name).where(
            Resource.kind == "Campaign").order_by(Resource.id)).all()
        revs = dict(session.execute(select(CampaignRevision.resource_id,
                                           CampaignRevision.id)).all())
    camps = [(cid, client) for cid, client, _ in named]
    # A run's config as apply pins it (config/resolved.py), cut to what the pages read.
    runs = [{"campaign_id": cid, "name": "launch", "type": "run", "status": "running",
             "revision_id": revs[cid], "config": {
                 "campaign": {"client": client, "name": name,
                              "spec": {"channel": STEPS[0], "dailyLimit": 50}},
                 "schedule": None,
                 "steps": [{"channel": ch, "delayDays": 2 * k} for k, ch in enumerate(STEPS)]},
             "config_hash": "0" * 64, "started_at": T0, "created_at": T0}
            for cid, client, name in named]
    bulk(db, CampaignRun.__table__, runs)
    with db.session() as session:
        run_of = dict(session.execute(select(CampaignRun.campaign_id, CampaignRun.id)).all())
    total = 0
    eid = 0
    for chunk in range(0, len(camps), 200):
        enr: list[dict[str, Any]] = []
        msgs: list[dict[str, Any]] = []
        reps: list[dict[str, Any]] = []
        for cid, client in camps[chunk:chunk + 200]:
            rid = run_of[cid]
            for e in range(enrollments_per_run):
                eid += 1
                enr.append({"id": eid, "run_id": rid, "state": "active", "next_step": 5,
                            "created_at": T0, "updated_at": T0})
                for k, ch in enumerate(STEPS):
                    at = T0 + dt.timedelta(days=2 * k + e % 3, hours=e % 8)
                    status = STATUSES[(eid + k) % len(STATUSES)]
                    msgs.append({
                        "enrollment_id": eid, "run_id": rid, "campaign_id": cid,
                        "client": client, "step_index": k, "channel": ch,
                        "recipient": f"lead{eid}@example.com",
                        "subject": "Hi there" if ch == "email" else None,
                        "body": f"Hello lead {eid}, step {k + 1}. Unsubscribe: https://u/{eid}",
                        "status": status, "idempotency_key": f"{eid}:{k}",
                        "sent_at": at if status == "sent" else None, "created_at": at,
                        "updated_at": at, "attempts": 1})
                if eid % 10 == 0:
                    reps.append({"client": client, "campaign_id": cid, "run_id": rid,
                                 "contact": f"lead{eid}@example.com", "kind": "reply",
                                 "body": "Interested, tell me more.",
                                 "received_at": T0 + dt.timedelta(days=5),
                                 "created_at": T0 + dt.timedelta(days=5)})
        bulk(db, Enrollment.__table__, enr)
        bulk(db, Message.__table__, msgs)
        if reps:
            bulk(db, Reply.__table__, reps)
        total += len(msgs)
        print(f"  {total:,} messages", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return total


def build(workdir: Path, campaigns: int, enrollments: int,
          url: str | None = None) -> tuple[Project, Database]:
    url = url or f"sqlite:///{workdir / 'state.db'}"
    marker = workdir / "built"
    project = Project(root=workdir, resources_dir=workdir / "campaigns")
    if marker.exists():
        return project, open_database(url)
    workdir.mkdir(parents=True, exist_ok=True)
    project = build_repo(workdir, campaigns)
    db = open_database(url)
    t = time.perf_counter()
    config = project_config(project)
    bundle, plan = plan_repo(project, db, config=config)
    apply_plan(db, plan, bundle, project=project, actor="bench", config=config,
               now=dt.datetime.now(dt.UTC))
    print(f"applied {len(plan.changes):,} changes in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    t = time.perf_counter()
    count = fill_runs(db, enrollments)
    print(f"inserted {count:,} messages in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    marker.write_text("ok")
    return project, db


def timed(client: TestClient, path: str, n: int) -> tuple[float, float]:
    samples = []
    pane = {"HX-Request": "true"} if path.count("/") == 3 else {}  # the overview fragment
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(path, headers=pane)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--enrollments", type=int, default=20,
                        help="per run (messages = campaigns * enrollments * 5)")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="build here, or reuse what an earlier run built")
    parser.add_argument("--db", default=None,
                        help="database URL (an empty PostgreSQL database, say); "
                             "default: SQLite in the workdir")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ui-bench-"))
    project, db = build(workdir, args.campaigns, args.enrollments, args.db)
    with db.session() as session:
        n_campaigns = session.scalar(select(func.count()).select_from(Resource).where(
            Resource.kind == "Campaign"))
        n_messages = session.scalar(select(func.count()).select_from(Message))
        run_id = session.scalar(select(func.max(CampaignRun.id))) // 2
        pages = -(-int(n_campaigns or 0) // 50)
    mid = f"client{int(n_campaigns or 0) // PER_CLIENT // 2:04d}"
    client = TestClient(create_app(db, project=project, config=project_config(project),
                                   plan_ttl=3600))
    t = time.perf_counter()
    client.get("/campaigns")
    cold = (time.perf_counter() - t) * 1000
    print(f"\n{n_campaigns:,} campaigns, {n_messages:,} messages ({db.dialect}, {workdir})")
    print(f"cold /campaigns (loads and plans the repo once): {cold:,.0f} ms\n")
    print("| page | p50 ms | p95 ms |\n|---|---:|---:|")
    for path in ("/campaigns", f"/campaigns?client={mid}&status=active",
                 "/campaigns?q=c07", f"/campaigns?page={pages}",
                 f"/campaigns/{mid}/{mid}-c03", f"/runs/{run_id}",
                 "/communications", f"/communications?status=failed&client={mid}",
                 "/api/v1/campaigns", f"/api/v1/runs/{run_id}", "/api/v1/communications"):
        p50, p95 = timed(client, path, args.requests)
        print(f"| `{path}` | {p50:.0f} | {p95:.0f} |")
    db.dispose()


if __name__ == "__main__":
    main()
