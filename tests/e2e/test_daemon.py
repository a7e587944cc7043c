"""The real ``campaign-gitops reconcile`` daemon as a subprocess against a temporary repo.

Every wait polls with a deadline; nothing sleeps to make an assertion true.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import tests.reconcile.daemon_repos as dr
from campaign_gitops.reconcile.leader import PgLeader
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database
from tests.reconcile.tcp_proxy import TcpProxy

CLI = str(Path(sys.executable).parent / "campaign-gitops")
daemon_repo = dr.daemon_repo


def wait_for(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Daemon:
    """One daemon process; its log lines are collected by a thread."""

    def __init__(self, root: Path, url: str, *args: str,
                 env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [CLI, "--db", url, "reconcile", "--health-port", "0", "--interval", "300",
             "--tick-interval", "0", "--log-format", "json", *args],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=None if env is None else {**os.environ, **env})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.port = int(wait_for("the health endpoint", lambda: self.event("health"),
                                 timeout=60)["port"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def event(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.records() if r.get("event") == name), None)

    def count(self, name: str) -> int:
        return sum(1 for r in self.records() if r.get("event") == name)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> dict[str, Any]:
        status, body = self.get("/readyz")
        data = json.loads(body) if body else {}
        data["http"] = status
        return data

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self.reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for i, d in enumerate(started):
        d.kill()
        # Shown by pytest only when the test failed: what the daemon said, last lines last.
        print(f"--- daemon {i} log (last 80 lines) ---", *d.lines[-80:], sep="\n")


def campaign(url: str, client: str, name: str) -> tuple[str | None, Any]:
    db = open_database(url)
    try:
        with db.session() as s:
            row = s.scalars(select(t.Resource).where(
                t.Resource.client == client, t.Resource.kind == "Campaign",
                t.Resource.name == name)).first()
            return (None, None) if row is None else (row.spec.get("description"), row.deleted_at)
    finally:
        db.dispose()


def described(url: str, client: str, name: str, text: str) -> Callable[[], bool]:
    return lambda: campaign(url, client, name)[0] == text


def edit(root: Path, client: str, name: str, text: str) -> None:
    (root / "campaigns" / client / f"{name}.yaml").write_text(
        dr.campaign_text(client, name, description=text))


def test_daemon_follows_edits_and_fails_closed(daemon_repo: Path, sqlite_url: str,
                                               daemons: list[Daemon]) -> None:
    d = Daemon(daemon_repo, sqlite_url)
    daemons.append(d)
    ready = wait_for("ready", lambda: (r := d.ready())["http"] == 200 and r)
    assert ready["role"] == "leader"
    assert campaign(sqlite_url, "acme", "c0")[0] == "v1"

    edit(daemon_repo, "acme", "c0", "v2")
    wait_for("the edit in the database", described(sqlite_url, "acme", "c0", "v2"))

    broken = daemon_repo / "campaigns/acme/c1.yaml"
    broken.write_text(dr.campaign_text("acme", "c1", description="v2") + "  bogus: [\n")
    edit(daemon_repo, "globex", "c0", "v2")
    wait_for("the other client's edit", described(sqlite_url, "globex", "c0", "v2"))
    not_ready = wait_for("/readyz to report the file", lambda: (r := d.ready())["http"] == 503
                         and r["failing_files"] and r)
    assert not_ready["failing_files"] == ["campaigns/acme/c1.yaml:16:SCHEMA"]
    assert campaign(sqlite_url, "acme", "c1")[0] == "v1"  # held at its last good state
    failing = d.event("file-failing")
    assert failing is not None and failing["file"] == "campaigns/acme/c1.yaml:16"
    assert failing["rule"] == "SCHEMA"

    edit(daemon_repo, "acme", "c1", "v3")
    wait_for("the fixed file to converge", described(sqlite_url, "acme", "c1", "v3"))
    wait_for("ready again", lambda: d.ready()["http"] == 200)

    reconciles = d.count("reconciled")
    (daemon_repo / "campaigns/acme/c1.yaml").unlink()
    wait_for("a reconcile after the delete", lambda: d.count("reconciled") > reconciles)
    assert campaign(sqlite_url, "acme", "c1") == ("v3", None)  # not archived without --prune

    status, metrics = d.get("/metrics")
    assert status == 200 and "campaign_gitops_leader 1.0" in metrics
    assert 'campaign_gitops_changes_applied_total{action="update"}' in metrics
    assert d.get("/healthz")[0] == 200
    assert d.stop() == 0
    assert d.event("released") is not None


def test_second_daemon_on_one_sqlite_file_refuses(daemon_repo: Path, sqlite_url: str,
                                                  daemons: list[Daemon]) -> None:
    d = Daemon(daemon_repo, sqlite_url)
    daemons.append(d)
    wait_for("ready", lambda: d.ready()["http"] == 200)
    second = subprocess.run([CLI, "--db", sqlite_url, "reconcile", "--once"], cwd=daemon_repo,
                            capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert "already running on this SQLite database" in second.stderr
    assert d.stop() == 0


def test_once_exits_1_when_a_file_fails(daemon_repo: Path, sqlite_url: str) -> None:
    ok = subprocess.run([CLI, "--db", sqlite_url, "reconcile", "--once", "--tick-interval", "0"],
                        cwd=daemon_repo, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    (daemon_repo / "campaigns/acme/c1.yaml").write_text("kind: [\n")
    bad = subprocess.run([CLI, "--db", sqlite_url, "reconcile", "--once", "--tick-interval", "0"],
                         cwd=daemon_repo, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "campaigns/acme/c1.yaml" in bad.stderr


def test_git_source_applies_commits_not_edits(daemon_repo: Path, sqlite_url: str,
                                              daemons: list[Daemon]) -> None:
    d = Daemon(daemon_repo, sqlite_url, "--source", "git", "--ref", "main")
    daemons.append(d)
    wait_for("ready", lambda: d.ready()["http"] == 200)
    edit(daemon_repo, "acme", "c0", "half-edited")  # never committed
    edit(daemon_repo, "globex", "c0", "committed")
    dr.git(daemon_repo, "add", "campaigns/globex/c0.yaml")
    dr.git(daemon_repo, "commit", "-q", "-m", "globex c0")
    head = dr.git(daemon_repo, "rev-parse", "HEAD")
    wait_for("the commit in the database", described(sqlite_url, "globex", "c0", "committed"))
    assert campaign(sqlite_url, "acme", "c0")[0] == "v1"
    db = open_database(sqlite_url)
    with db.session() as s:
        commits = s.scalars(select(t.ApplyLog.git_commit).where(
            t.ApplyLog.resource == "globex/Campaign/c0", t.ApplyLog.action == "update")).all()
    db.dispose()
    assert commits == [head]
    assert d.stop() == 0


def _leader(ds: list[Daemon]) -> list[Daemon]:
    return [d for d in ds if d.ready().get("role") == "leader"]


def test_postgres_one_leader_and_failover(daemon_repo: Path, pg_url: str,
                                          daemons: list[Daemon]) -> None:
    a = Daemon(daemon_repo, pg_url)
    daemons.append(a)
    wait_for("a leader", lambda: a.ready().get("role") == "leader")
    b = Daemon(daemon_repo, pg_url)
    daemons.append(b)
    wait_for("a follower", lambda: b.ready().get("role") == "follower")
    assert _leader([a, b]) == [a]

    a.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_for("the follower to take over", lambda: b.ready().get("role") == "leader",
             timeout=10)
    assert time.monotonic() - killed < 10  # well within the 15 s lease: the session is gone
    took = [r for r in b.records() if r.get("event") == "leader"]
    assert took and took[-1]["why"] == "session gone"
    edit(daemon_repo, "acme", "c0", "after-failover")
    wait_for("the new leader to apply", described(pg_url, "acme", "c0", "after-failover"))

    db = open_database(pg_url)
    with db.session() as s:
        twice = s.execute(select(t.ApplyLog.resource, t.ApplyLog.action, func.count()).group_by(
            t.ApplyLog.resource, t.ApplyLog.action).having(func.count() > 1)).all()
    assert twice == []  # every create once, one update: nothing applied twice

    assert b.stop() == 0
    probe = PgLeader(pg_url)
    try:
        assert probe.try_acquire()  # the lock was released
    finally:
        probe.release()
        db.dispose()


def test_postgres_frozen_leader_is_replaced_and_applies_nothing_after(
        daemon_repo: Path, pg_url: str, daemons: list[Daemon]) -> None:
    """SIGSTOP the leader in the middle of a pass: the follower takes over once the lease
    expires and applies the newer files; on SIGCONT the old leader finds its lease lost
    and applies nothing of the rest of its (stale) pass."""
    names = [("acme", f"c{i}") for i in range(6)] + [("globex", "c0")]
    for client, name in names[2:6]:
        edit(daemon_repo, client, name, "v1")
    slow = {"CAMPAIGN_GITOPS_TEST_APPLY_DELAY": "0.4"}  # each change then a pause
    a = Daemon(daemon_repo, pg_url, "--lease-ttl", "3", env=slow)
    daemons.append(a)
    wait_for("a leader", lambda: a.ready()["http"] == 200, timeout=60)
    b = Daemon(daemon_repo, pg_url, "--lease-ttl", "3")
    daemons.append(b)
    wait_for("a follower", lambda: b.ready().get("role") == "follower", timeout=30)

    for client, name in names:
        edit(daemon_repo, client, name, "v2")
    wait_for("the leader's pass to start", lambda: any(
        r.get("event") == "applied" and r.get("action") == "update" for r in a.records()))
    a.proc.send_signal(signal.SIGSTOP)
    try:
        before = a.count("applied")
        updates = sum(1 for r in a.records() if r.get("event") == "applied"
                      and r.get("action") == "update")
        assert updates < len(names)  # frozen mid-pass: updates still to do
        for client, name in names:
            edit(daemon_repo, client, name, "v3")
        wait_for("the follower to take over", lambda: b.ready().get("role") == "leader",
                 timeout=60)
        for client, name in names:
            wait_for(f"{client}/{name} at v3", described(pg_url, client, name, "v3"),
                     timeout=60)
    finally:
        woke = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        a.proc.send_signal(signal.SIGCONT)
    wait_for("the old leader to step down", lambda: a.ready().get("role") == "follower",
             timeout=30)
    # Its stale pass still had v2 updates to make: had any gone through after b's v3,
    # the database would show v2 (a change committed before the freeze may be logged
    # after the wake-up: the database, not the log, is the witness).
    assert all(campaign(pg_url, c, n)[0] == "v3" for c, n in names)
    assert a.count("applied") >= before
    assert any(r.get("event") == "interrupted" and r["ts"] >= woke for r in a.records())
    assert b.ready().get("role") == "leader"
    assert a.stop() == 0 and b.stop() == 0


def test_once_reconciles_and_ticks_the_example_repo(tmp_path: Path) -> None:
    import shutil

    example = Path(__file__).resolve().parents[2] / "campaigns"
    shutil.copytree(example, tmp_path / "campaigns")
    dr.git_init(tmp_path)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    done = subprocess.run([CLI, "--db", url, "reconcile", "--once", "--log-format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "reconciled" in names and "ticked" in names
    assert names.index("reconciled") < names.index("ticked")
    runs = [e for e in events if e["event"] == "applied" and e.get("action") == "run"]
    assert runs and all(e["commit"] == dr.git(tmp_path, "rev-parse", "HEAD") for e in runs)


def test_sigterm_mid_pass_finishes_the_change_in_flight(daemon_repo: Path, pg_url: str,
                                                        daemons: list[Daemon]) -> None:
    import os

    env = {**os.environ, "CAMPAIGN_GITOPS_TEST_APPLY_DELAY": "0.15"}  # a slow first pass
    proc = subprocess.Popen([CLI, "--db", pg_url, "reconcile", "--tick-interval", "0",
                             "--log-format", "json"], cwd=daemon_repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    db = open_database(pg_url)

    def created() -> int:
        try:
            with db.session() as s:
                return int(s.scalar(select(func.count()).select_from(t.ApplyLog)) or 0)
        except Exception:  # the daemon is still creating the schema
            return 0

    try:
        wait_for("the first changes", lambda: created() >= 2, timeout=30)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    events = [json.loads(x)["event"] for x in out.splitlines() if x.startswith("{")]
    assert "interrupted" in events and events[-2:] == ["released", "stopped"]
    applied = created()
    assert 2 <= applied < 13  # stopped between changes, not at the end of the pass
    probe = PgLeader(pg_url)
    try:
        assert probe.try_acquire()  # the lock was released
    finally:
        probe.release()
    again = subprocess.run([CLI, "--db", pg_url, "reconcile", "--once", "--tick-interval", "0"],
                           cwd=daemon_repo, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert created() == 13  # the rest, each once
    db.dispose()


def test_readyz_follows_the_database_through_a_proxy_we_cut(daemon_repo: Path, pg_url: str,
                                                            daemons: list[Daemon]) -> None:
    """The real PostgreSQL server behind a TCP proxy owned by the test: cutting the proxy
    is the database going away (the shared server keeps running for everyone else)."""
    from sqlalchemy.engine import make_url

    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    url = target.set(port=proxy.port, password="pw-s3cret-42").render_as_string(
        hide_password=False)
    try:
        d = Daemon(daemon_repo, url)
        daemons.append(d)
        ready = wait_for("ready", lambda: (r := d.ready())["http"] == 200 and r, timeout=30)
        assert ready["database"]["ok"] is True

        proxy.cut()
        down = wait_for("/readyz to say the database is gone",
                        lambda: (r := d.ready()).get("database", {}).get("ok") is False and r,
                        timeout=30)
        assert down["http"] == 503 and down["ready"] is False
        assert down["database"]["error"]  # the driver's reason, whatever its wording
        assert "pw-s3cret-42" not in json.dumps(down)
        assert d.event("database-unreachable") is not None

        proxy.restore()
        back = wait_for("ready again", lambda: (r := d.ready())["http"] == 200 and r,
                        timeout=30)
        assert back["database"]["ok"] is True and d.event("database-reachable") is not None
        assert "pw-s3cret-42" not in "".join(d.lines)
        assert d.stop() == 0
    finally:
        proxy.close()


def test_an_edit_made_while_the_database_is_away_lands_when_it_is_back(
        daemon_repo: Path, pg_url: str, daemons: list[Daemon]) -> None:
    """The pass an edit starts fails while the database is away; a failed pass is retried
    after the backoff's delay (1 s, 2 s, …), not at the next resync (300 s here)."""
    from sqlalchemy.engine import make_url

    target = make_url(pg_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    url = target.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        d = Daemon(daemon_repo, url, "--lease-ttl", "60")  # stays leader through the cut
        daemons.append(d)
        wait_for("ready", lambda: d.ready()["http"] == 200, timeout=30)
        failed = d.count("reconcile-failed")

        proxy.cut()
        edit(daemon_repo, "acme", "c0", "edited while away")
        wait_for("the edit's pass to fail", lambda: d.count("reconcile-failed") > failed,
                 timeout=30)
        assert campaign(pg_url, "acme", "c0")[0] == "v1"
        assert d.ready()["role"] == "leader"

        proxy.restore()
        wait_for("the edit in the database",
                 described(pg_url, "acme", "c0", "edited while away"), timeout=30)
        retry = next(r for r in d.records() if r.get("event") == "reconcile-failed")
        assert retry["retry_in"].endswith("s")
        wait_for("ready again", lambda: d.ready()["http"] == 200, timeout=30)
        assert d.stop() == 0
    finally:
        proxy.close()
