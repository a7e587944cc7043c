"""Reconcile at scale: first apply, a no-op plan and a one-change plan, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/reconcile_bench.py        # 10,000 campaigns, 50 clients
    .venv/bin/python benchmarks/reconcile_bench.py --campaigns 1000 --backends sqlite

Each campaign is its own file (``campaigns/<client>/campaigns/<name>.yaml``) with a
client's goal, segment, template, writer, reviewer and schedule beside it; the
project's ``campaign-gitops.yaml`` raises the tier limits so every campaign is legal.
Measured per backend:

- first apply: ``plan_repo`` + ``apply_plan`` on an empty database (one transaction
  per resource, as the CLI does);
- no-op plan: ``plan_repo`` (load every file, preflight, snapshot, diff) with nothing
  to change;
- one-change plan: one campaign file edited, then planned the way the daemon's
  incremental pass does it: the file cache (``reconcile.sources.WorktreeSource``)
  re-reads only the changed file; bundle, preflight and snapshot cover only the client
  it belongs to (references and rules never cross a client). ``plan_repo`` on the
  whole repo after the same change is shown too ("1-change full").

PostgreSQL: a fresh database on ``CAMPAIGN_GITOPS_TEST_PG``'s server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("CAMPAIGN_GITOPS_TEST_PG",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")

CLIENT = """\
apiVersion: campaign-gitops/v1
kind: Client
metadata: {{name: {client}}}
spec: {{tier: dominance, timezone: Europe/London, resources: {{emailDomain: {client}.test}}}}
"""

PARTS = """\
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {{name: book-demo, client: {client}}}
spec: {{outcome: meeting, description: Book a demo}}
---
apiVersion: campaign-gitops/v1
kind: Segment
metadata: {{name: ops-uk, client: {client}}}
spec: {{countries: [GB], titles: [Operations]}}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: intro, client: {client}}}
spec:
  channel: email
  subject: "Hello {{{{first_name}}}}"
  body: "Hi {{{{first_name | there}}}}, a short note. Unsubscribe: {{{{unsubscribe_url}}}}"
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
spec: {{timezone: Europe/London, dailyLimit: 40}}
"""

CAMPAIGN = """\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {{name: {name}, client: {client}, labels: {{team: growth}}}}
spec:
  status: {status}
  channel: email
  goal: book-demo
  segment: ops-uk
  writer: plain
  reviewer: rules
  template: intro
  schedule: weekdays
  dailyLimit: {limit}
"""


def write_repo(root: Path, campaigns: int, clients: int) -> list[Path]:
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "campaign-gitops.yaml").write_text(
        "tiers:\n  dominance: {ai: 100000, custom: 100000}\n")
    per_client = -(-campaigns // clients)
    files: list[Path] = []
    made = 0
    for c in range(clients):
        client = f"client-{c:03d}"
        base = root / "campaigns" / client
        (base / "campaigns").mkdir(parents=True, exist_ok=True)
        (base / "client.yaml").write_text(CLIENT.format(client=client))
        (base / "parts.yaml").write_text(PARTS.format(client=client))
        for i in range(per_client):
            if made == campaigns:
                break
            name = f"campaign-{i:05d}"
            path = base / "campaigns" / f"{name}.yaml"
            status = "active" if i % 3 == 0 else "draft"
            path.write_text(CAMPAIGN.format(name=name, client=client, status=status,
                                            limit=10 + i % 40))
            files.append(path)
            made += 1
    return files


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'state.db'}"
        return
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"cg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


class IncrementalPlanner:
    """The daemon's incremental pass, without its apply: one client's files and rows."""

    def __init__(self, project: Any, db: Any) -> None:
        from campaign_gitops.reconcile.service import project_config
        from campaign_gitops.reconcile.sources import WorktreeSource

        self.project, self.db = project, db
        self.config = project_config(project)
        self.source = WorktreeSource(project.root, project.resources_dir)
        self.source.read()  # a running daemon has every file cached

    def plan(self, changed: Path) -> Any:
        from campaign_gitops.config.bundle import build_bundle
        from campaign_gitops.preflight.engine import run_preflight
        from campaign_gitops.reconcile.blockers import plan_errors
        from campaign_gitops.reconcile.plan import PlanOptions, build_plan
        from campaign_gitops.state.snapshot import load_snapshot

        read = self.source.read([str(changed)])
        client = changed.relative_to(self.project.resources_dir).parts[0]
        prefix = f"campaigns/{client}/"
        bundle = build_bundle([r for n, r in read.files.items() if n.startswith(prefix)],
                              self.project.root, self.project.resources_dir)
        findings = run_preflight(bundle, config=self.config)
        with self.db.session() as session:
            snapshot = load_snapshot(session, {client})
        errors = plan_errors(bundle, snapshot, self.config, findings)
        return build_plan(bundle, snapshot, errors, PlanOptions(config=self.config))


def bench_backend(backend: str, root: Path, files: list[Path]) -> dict[str, Any]:
    from campaign_gitops.config.project import Project
    from campaign_gitops.reconcile.plan import Action
    from campaign_gitops.reconcile.service import apply_plan, plan_repo
    from campaign_gitops.state.db import open_database

    project = Project(root=root, resources_dir=root / "campaigns")
    with database(backend, root) as url:
        db = open_database(url)
        try:
            def first() -> Any:
                bundle, plan = plan_repo(project, db)
                return bundle, plan, apply_plan(db, plan, bundle, project=project,
                                                  now=dt.datetime.now(dt.UTC))
            t_first, (bundle, plan, result) = timed(first)
            assert result.ok, result.errors[:3]
            t_noop, (_, noop) = timed(lambda: plan_repo(project, db))
            assert not noop.has_changes, noop.count()
            planner = IncrementalPlanner(project, db)
            path = files[len(files) // 2]
            path.write_text(path.read_text().replace("dailyLimit:", "dailyLimit: 7 #"))
            t_one, one = timed(lambda: planner.plan(path))
            assert one.count()[Action.UPDATE] == 1, one.count()
            t_full, full = timed(lambda: plan_repo(project, db)[1])
            assert full.count()[Action.UPDATE] == 1, full.count()
            path.write_text(path.read_text().replace("dailyLimit: 7 #", "dailyLimit:"))
        finally:
            db.dispose()
    return {"backend": backend, "resources": len(bundle), "changes": sum(plan.count().values()),
            "first_apply": t_first, "noop_plan": t_noop, "one_change_plan": t_one,
            "one_change_full_plan": t_full}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    try:
        files = write_repo(workdir, args.campaigns, args.clients)
        print(f"{args.campaigns} campaigns over {args.clients} clients "
              f"({len(files) + 2 * args.clients} files), {os.cpu_count()} CPUs, "
              f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
        rows = [bench_backend(b.strip(), workdir, files) for b in args.backends.split(",")]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    header = (f"{'backend':<11} {'resources':>9} {'changes':>8} {'first apply':>12} "
              f"{'no-op plan':>11} "
              f"{'1-change plan':>14} {'1-change full':>14}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<11} {r['resources']:>9} {r['changes']:>8} "
              f"{r['first_apply']:>11.1f}s "
              f"{r['noop_plan']:>10.2f}s {r['one_change_plan']:>13.2f}s "
              f"{r['one_change_full_plan']:>13.2f}s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    sys.exit(main())
