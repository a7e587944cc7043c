"""Time from a file write to the change committed in the database, through the real daemon.

Generates a repo of N campaigns (500 clients x 20 at the default 10,000: 8 custom + 12
ai_suggested, the dominance tier's limits), starts ``campaign-gitops reconcile`` on it,
waits for the first full reconcile, then edits one campaign file at a time and polls
the database until the new description is there (every 5 ms, on a connection of its
own). Reports p50/p99/max over the edits, per backend.

    .venv/bin/python benchmarks/daemon_bench.py --campaigns 10000 --edits 50
    .venv/bin/python benchmarks/daemon_bench.py --campaigns 500 --backend sqlite   # quick

``--failover N`` instead measures leader failover on PostgreSQL: two real daemons on a
small repo, the leader sent SIGKILL (or SIGSTOP), the time until the follower's
/readyz says ``leader`` (polled every 10 ms), N rounds of each, with ``--lease-ttl``:

    .venv/bin/python benchmarks/daemon_bench.py --failover 5 --lease-ttl 15
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

CLI = str(Path(sys.executable).parent / "campaign-gitops")
PG_ADMIN = os.environ.get("CAMPAIGN_GITOPS_TEST_PG",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PER_CLIENT = 20

CLIENT = """apiVersion: campaign-gitops/v1
kind: Client
metadata: {{name: {c}}}
spec: {{tier: dominance, resources: {{emailDomain: {c}.example.com}}}}
---
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {{name: demo, client: {c}}}
spec: {{outcome: meeting}}
---
apiVersion: campaign-gitops/v1
kind: Writer
metadata: {{name: plain, client: {c}}}
spec: {{type: template}}
---
apiVersion: campaign-gitops/v1
kind: Reviewer
metadata: {{name: rules, client: {c}}}
spec: {{type: rules}}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: intro, client: {c}}}
spec:
  channel: email
  subject: "Hello {{{{first_name | there}}}}"
  body: "Hi {{{{first_name | there}}}}. Unsubscribe: {{{{unsubscribe_url}}}}"
"""

CAMPAIGN = """apiVersion: campaign-gitops/v1
kind: Campaign
metadata:
  name: {name}
  client: {c}
  annotations: {{campaign-gitops/disable: PF006}}
spec:
  description: "{description}"
  type: {type}
  channel: email
  goal: demo
  writer: plain
  reviewer: rules
  template: intro
"""


def campaign(client: str, i: int, description: str) -> str:
    kind = "custom" if i < 8 else "ai_suggested"
    return CAMPAIGN.format(c=client, name=f"c{i}", description=description, type=kind)


def write_repo(root: Path, campaigns: int) -> list[tuple[str, int]]:
    files = []
    clients = max(1, -(-campaigns // PER_CLIENT))
    left = campaigns
    for n in range(clients):
        client = f"client-{n:04d}"
        folder = root / "campaigns" / client
        folder.mkdir(parents=True)
        (folder / "client.yaml").write_text(CLIENT.format(c=client))
        for i in range(min(PER_CLIENT, left)):
            (folder / f"c{i}.yaml").write_text(campaign(client, i, "v0"))
            files.append((client, i))
        left -= PER_CLIENT
    for args in (["init", "-q", "-b", "main"], ["add", "."],
                 ["-c", "user.email=b@example.com", "-c", "user.name=bench", "commit", "-q",
                  "-m", "bench"]):
        subprocess.run(["git", "-C", str(root), *args], check=True)
    return files


def wait(what: str, check, timeout: float, step: float = 0.005):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def full_passes(log_path: Path) -> list[float]:
    """The durations (ms) of the daemon's full passes, from its JSON log."""
    out = []
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "reconciled" and record.get("mode") == "full":
            out.append(float(record["ms"]))
    return out


def run(backend: str, url: str, campaigns: int, edits: int, debounce_ms: int,
        interval: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="daemon-bench-") as tmp:
        root = Path(tmp)
        files = write_repo(root, campaigns)
        log = (root / "daemon.log").open("w")
        started = time.monotonic()
        proc = subprocess.Popen([CLI, "--db", url, "reconcile", "--interval", str(interval),
                                 "--tick-interval", "0", "--debounce-ms", str(debounce_ms),
                                 "--log-format", "json"], cwd=root, stdout=log, stderr=log)
        engine = create_engine(url)
        try:
            def count() -> int:
                try:
                    with engine.connect() as conn:
                        return int(conn.execute(text(
                            "SELECT count(*) FROM resources WHERE kind = 'Campaign'")).scalar()
                            or 0)
                except Exception:
                    return 0

            wait("the first full reconcile", lambda: count() >= campaigns, 1800, 0.5)
            full_seconds = time.monotonic() - started
            time.sleep(1.0)  # let the first pass finish its bookkeeping (not measured)
            rng = random.Random(7)
            latencies = []
            for n in range(edits):
                client, i = rng.choice(files)
                marker = f"bench-{n}-{uuid.uuid4().hex[:6]}"
                path = root / "campaigns" / client / f"c{i}.yaml"
                query = text("SELECT 1 FROM resources WHERE client = :c AND name = :n AND "
                             "kind = 'Campaign' AND spec_hash IS NOT NULL AND "
                             "CAST(spec AS TEXT) LIKE :m")
                params = {"c": client, "n": f"c{i}", "m": f"%{marker}%"}
                with engine.connect() as conn:
                    t0 = time.perf_counter()
                    path.write_text(campaign(client, i, marker))

                    def seen(query: object = query, params: object = params) -> bool:
                        conn.rollback()
                        return conn.execute(query, params).first() is not None  # type: ignore

                    wait(f"edit {n}", seen, 30)
                    latencies.append((time.perf_counter() - t0) * 1000)
            # A full resync with nothing to change: what every --interval costs.
            wait("a periodic full resync", lambda: len(full_passes(root / "daemon.log")) >= 2,
                 interval * 3 + 600, 0.5)
            resync_ms = full_passes(root / "daemon.log")[1]
        finally:
            proc.terminate()
            code = proc.wait(timeout=60)
            engine.dispose()
            log.close()
        return {
            "backend": backend, "campaigns": campaigns, "edits": edits,
            "full_reconcile_s": round(full_seconds, 1), "resync_s": round(resync_ms / 1000, 2),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1), "exit_code": code,
        }


def _daemon(root: Path, url: str, ttl: float, log_path: Path) -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    log = log_path.open("w")
    proc = subprocess.Popen([CLI, "--db", url, "reconcile", "--interval", "300",
                             "--tick-interval", "0", "--health-port", "0", "--lease-ttl",
                             str(ttl), "--log-format", "json"], cwd=root, stdout=log,
                            stderr=subprocess.STDOUT)

    def port() -> int | None:
        for line in log_path.read_text().splitlines():
            if '"event": "health"' in line:
                return int(json.loads(line)["port"])
        return None

    return proc, wait("the health endpoint", port, 120, 0.05)


def _role(port: int) -> str | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return json.loads(r.read()).get("role")
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}").get("role")
    except OSError:
        return None


def failover(sig: int, ttl: float) -> float:
    """Seconds from the signal to the leader until the follower reports ``leader``."""
    import signal as signals

    url, name = pg_database()
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        root = Path(tmp)
        write_repo(root, 40)
        a, a_port = _daemon(root, url, ttl, root / "a.log")
        b = None
        try:
            wait("a leader", lambda: _role(a_port) == "leader", 300, 0.05)
            b, b_port = _daemon(root, url, ttl, root / "b.log")
            wait("a follower", lambda: _role(b_port) == "follower", 120, 0.05)
            t0 = time.perf_counter()
            a.send_signal(sig)
            wait("the takeover", lambda: _role(b_port) == "leader", ttl * 4 + 60, 0.01)
            seconds = time.perf_counter() - t0
        finally:
            if sig == signals.SIGSTOP:
                a.send_signal(signals.SIGCONT)
            for proc in (a, b):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
            drop_pg(name)
    return seconds


def failover_report(rounds: int, ttl: float) -> None:
    import signal as signals

    print("| signal to the leader | lease TTL | rounds | median | max |\n|---|---:|---:|---:|---:|")
    for label, sig in (("SIGKILL", signals.SIGKILL), ("SIGSTOP", signals.SIGSTOP)):
        times = [failover(sig, ttl) for _ in range(rounds)]
        print(f"| {label} | {ttl:g} s | {rounds} | {statistics.median(times):.2f} s | "
              f"{max(times):.2f} s |", flush=True)


def pg_database() -> tuple[str, str]:
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"cg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", name


def drop_pg(name: str) -> None:
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--debounce-ms", type=int, default=50)
    parser.add_argument("--interval", type=float, default=30.0,
                        help="the daemon's full resync interval (the edits run in between)")
    parser.add_argument("--failover", type=int, default=0, metavar="N",
                        help="measure leader failover (SIGKILL, SIGSTOP) N times instead")
    parser.add_argument("--lease-ttl", type=float, default=15.0)
    args = parser.parse_args()
    if args.failover:
        failover_report(args.failover, args.lease_ttl)
        return
    results = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="daemon-bench-db-") as tmp:
            url = f"sqlite:///{tmp}/state.db"
            results.append(run("sqlite", url, args.campaigns, args.edits, args.debounce_ms,
                               args.interval))
            print(json.dumps(results[-1]), flush=True)
    if args.backend in ("postgresql", "both"):
        url, name = pg_database()
        try:
            results.append(run("postgresql", url, args.campaigns, args.edits,
                               args.debounce_ms, args.interval))
            print(json.dumps(results[-1]), flush=True)
        finally:
            drop_pg(name)
    print("\n| backend | campaigns | first full reconcile | full resync | write→DB p50 | p99 "
          "| max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['backend']} | {r['campaigns']:,} | {r['full_reconcile_s']} s | "
              f"{r['resync_s']} s | "
              f"{r['p50_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |")


if __name__ == "__main__":
    main()
