"""Push -> committed in the database, through a signed webhook, with ``reconcile --repo``.

Generates the repo as ``reconcile_bench.py`` does (10,000 campaigns over 50 clients by
default, a file each), commits it to a bare repository served by ``git http-backend``
behind basic auth (tests/reconcile/git_http.py), and starts the real daemon following
it over HTTP (``--fetch-interval 3600``: only the webhook fetches). Then, per edit:
one campaign file changed, committed and pushed to the server; the clock starts when
the push is done (when GitHub would send the webhook), a GitHub-signed ``POST
/hooks/git`` goes to the daemon, and the database is polled (every 5 ms, on a
connection of its own) until the campaign's new ``dailyLimit`` is committed.

    .venv/bin/python benchmarks/remote_bench.py                     # 10,000, PostgreSQL
    .venv/bin/python benchmarks/remote_bench.py --campaigns 1000 --backend sqlite --edits 10

Goal: p99 <= 2 s at 10,000 campaigns (Argo CD without a webhook polls every 3 min).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "reconcile"))
from git_http import GitHttpServer  # noqa: E402
from reconcile_bench import PG_ADMIN, write_repo  # noqa: E402

CLI = str(Path(sys.executable).parent / "campaign-gitops")
SECRET = "bench-webhook-secret"
TOKEN = "bench-token"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=bench",
                           "-c", "user.email=bench@example.com", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def wait(what: str, check: Any, timeout: float, step: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


class Daemon:
    def __init__(self, home: Path, url: str, repo: str) -> None:
        env = {**os.environ, "CAMPAIGN_GITOPS_GIT_TOKEN": TOKEN,
               "CAMPAIGN_GITOPS_GIT_USERNAME": "bench",
               "CAMPAIGN_GITOPS_GIT_WEBHOOK_SECRET": SECRET}
        env.pop("CAMPAIGN_GITOPS_UI_TOKEN", None)
        self.records: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [CLI, "--db", url, "reconcile", "--repo", repo, "--ref", "main",
             "--fetch-interval", "3600", "--interval", "3600", "--tick-interval", "0",
             "--ui-port", "0", "--log-format", "json"],
            cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                continue

    def event(self, name: str, **match: Any) -> dict[str, Any] | None:
        return next((r for r in list(self.records) if r.get("event") == name
                     and all(r.get(k) == v for k, v in match.items())), None)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def webhook(port: int) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/git", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature,
                 "X-GitHub-Event": "push"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202, response.status


def database(backend: str, workdir: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'state.db'}", None
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"cg_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


def run(backend: str, campaigns: int, clients: int, edits: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="cg-remote-bench-"))
    url, drop = database(backend, workdir)
    server = daemon = None
    try:
        work = workdir / "work"
        files = write_repo(work, campaigns, clients)
        shutil.rmtree(work / ".git")
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        git(work, "commit", "-qm", "campaigns")
        bare = workdir / "server" / "campaigns.git"
        bare.parent.mkdir()
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        git(work, "push", "-q", str(bare), "main")
        server = GitHttpServer(bare.parent, user="bench", password=TOKEN).start()
        home = workdir / "daemon"
        home.mkdir()
        started = time.monotonic()
        daemon = Daemon(home, url, server.url("campaigns.git"))
        port = int(wait("the UI", lambda: daemon.event("ui"), 120, 0.05)["port"])
        wait("the first full reconcile", lambda: daemon.event("reconciled", mode="full"),
             1800, 0.2)
        first = time.monotonic() - started
        engine = create_engine(url)
        query = text("SELECT spec FROM resources WHERE client = :c AND kind = 'Campaign' "
                     "AND name = :n")
        latencies: list[float] = []
        pushes: list[float] = []
        for i in range(edits):
            path = files[(i * 7919) % len(files)]
            client, name = path.parent.parent.name, path.stem
            limit = 100 + i % 400  # the schema allows up to 500; the files have 10..49
            lines = [f"  dailyLimit: {limit}" if line.startswith("  dailyLimit:") else line
                     for line in path.read_text().splitlines()]
            path.write_text("\n".join(lines) + "\n")
            git(work, "commit", "-qam", f"{name}: dailyLimit {limit}")
            t_push = time.perf_counter()
            git(work, "push", "-q", str(bare), "main")
            t0 = time.perf_counter()
            pushes.append(t0 - t_push)
            webhook(port)

            def committed(c: str = client, n: str = name, want: int = limit) -> bool:
                with engine.connect() as conn:
                    spec = conn.execute(query, {"c": c, "n": n}).scalar()
                if isinstance(spec, str):
                    spec = json.loads(spec)
                return bool(spec) and spec.get("dailyLimit") == want

            wait(f"edit {i} in the database", committed, 120)
            latencies.append(time.perf_counter() - t0)
        engine.dispose()
        return {"backend": backend, "campaigns": campaigns, "first": first,
                "edits": len(latencies), "p50": statistics.median(latencies),
                "p99": percentile(latencies, 0.99), "max": max(latencies),
                "push": statistics.median(pushes)}
    finally:
        if daemon is not None:
            daemon.stop()
        if server is not None:
            server.stop()
        if drop is not None:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--backend", default="postgresql",
                        help="postgresql, sqlite, or both separated by a comma")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"{args.campaigns} campaigns over {args.clients} clients, {args.edits} pushes, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    rows = [run(b.strip(), args.campaigns, args.clients, args.edits)
            for b in args.backend.split(",")]
    header = (f"{'backend':<11} {'campaigns':>9} {'first sync':>11} {'pushes':>7} "
              f"{'webhook->DB p50':>16} {'p99':>7} {'max':>7} {'git push':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<11} {r['campaigns']:>9} {r['first']:>10.1f}s {r['edits']:>7} "
              f"{r['p50']:>15.3f}s {r['p99']:>6.3f}s {r['max']:>6.3f}s {r['push']:>8.3f}s")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
