"""Notifications through apprise's json:// to a real local HTTP receiver.

A broken file is told once (however many passes see it) and ``recovered`` once; a
receiver that hangs or fails delays no reconcile; database conditions come and go.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import tests.reconcile.daemon_repos as dr
from campaign_gitops.config.project import NotificationConfig, Project, ProjectConfig
from campaign_gitops.notify.conditions import scan
from campaign_gitops.notify.notifier import Notice, Notifier, RateLimit
from campaign_gitops.reconcile.daemon import Reconciler
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.sources import WorktreeSource
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import open_database

NOW = dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC)


class Receiver:
    """A local HTTP endpoint: records JSON posts; can refuse the first N or hang."""

    def __init__(self, *, refuse: int = 0, hang: bool = False) -> None:
        self.posts: list[dict[str, Any]] = []
        self.refuse = refuse
        self.hang = hang
        self.release = threading.Event()
        self.waiting = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang:
                    receiver.waiting += 1
                    receiver.release.wait(60)
                if receiver.refuse > 0:
                    receiver.refuse -= 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
    return value


def receivers(url: str, events: list[str], **extra: Any) -> list[NotificationConfig]:
    return [NotificationConfig(name="ops", url=url, events=events, **extra)]  # type: ignore[arg-type]


def reconciler(root: Path, url: str, notifier: Notifier) -> Reconciler:
    log = EventLog("json", io.StringIO())
    log.listeners.append(notifier.listen)
    notifier.log = log
    for receiver in notifier.receivers:
        receiver.log = log
    rec = Reconciler(Project(root, root / "campaigns"), open_database(url),
                     WorktreeSource(root, root / "campaigns"), config=ProjectConfig(), log=log)
    rec.health.update(role="leader")
    return rec


def settle(notifier: Notifier) -> None:
    """The dispatcher has handled everything queued, and every receiver queue is empty."""
    wait_for(lambda: notifier.inbox.empty() and notifier.idle.is_set()
             and all(r.queue.unfinished_tasks == 0 or r.queue.empty()
                     for r in notifier.receivers))


def test_a_broken_file_is_told_once_and_recovered_once(tmp_path: Path, sqlite_url: str,
                                                        receiver: Receiver) -> None:
    root = dr.write_repo(tmp_path / "repo", {"acme": 2})
    notifier = Notifier.from_config(receivers(receiver.url, ["file-failing", "recovered"]))
    rec = reconciler(root, sqlite_url, notifier)
    notifier.start()
    try:
        rec.reconcile_once(None, now=NOW)
        broken = root / "campaigns/acme/c1.yaml"
        broken.write_text(dr.campaign_text("acme", "c1") + "  bogus: [\n")
        for _ in range(3):  # three passes see the same broken file
            assert rec.reconcile_once(None, now=NOW).failing
        wait_for(lambda: len(receiver.posts) >= 1)
        broken.write_text(dr.campaign_text("acme", "c1", description="fixed"))
        assert rec.reconcile_once(None, now=NOW).ok
        wait_for(lambda: len(receiver.posts) >= 2)
        rec.reconcile_once(None, now=NOW)
        settle(notifier)
    finally:
        notifier.close()
    assert receiver.titles() == [
        "campaign-gitops: file-failing: campaigns/acme/c1.yaml",
        "campaign-gitops: recovered: file-failing campaigns/acme/c1.yaml"]
    assert receiver.posts[0]["type"] == "failure" and "SCHEMA" not in receiver.posts[0]["title"]
    assert "campaigns/acme/c1.yaml:" in receiver.posts[0]["message"]
    assert receiver.posts[1]["type"] == "success"

    def notified() -> list[str]:
        lines = rec.log.stream.getvalue().splitlines()  # type: ignore[attr-defined]
        return [r["notice"] for r in map(json.loads, lines) if r["event"] == "notified"]

    assert wait_for(lambda: len(notified()) == 2 and notified()) == ["file-failing",
                                                                     "recovered"]


def test_a_hanging_receiver_does_not_hold_up_reconciling(tmp_path: Path, sqlite_url: str) -> None:
    hanging = Receiver(hang=True)
    root = dr.write_repo(tmp_path / "repo", {"acme": 2})
    notifier = Notifier.from_config(receivers(hanging.url, ["file-failing", "recovered"]),
                                    delays=(0.01,))
    rec = reconciler(root, sqlite_url, notifier)
    notifier.start()
    try:
        broken = root / "campaigns/acme/c1.yaml"
        broken.write_text("kind: [\n")
        rec.reconcile_once(None, now=NOW)
        wait_for(lambda: hanging.waiting >= 1)  # the receiver holds the notice's request
        for i in range(5):  # meanwhile every pass completes and applies
            (root / "campaigns/acme/c0.yaml").write_text(
                dr.campaign_text("acme", "c0", description=f"v{i}"))
            result = rec.reconcile_once(None, now=NOW)
            assert ("acme/Campaign/c0", "update") in result.applied
        assert hanging.waiting >= 1 and hanging.posts == []  # still hanging, nothing lost
    finally:
        notifier.close(timeout=0.5)
        hanging.close()


def test_a_failing_receiver_is_retried_in_the_background(receiver: Receiver) -> None:
    receiver.refuse = 2  # 500, 500, then 200
    notifier = Notifier.from_config(receivers(receiver.url, ["apply-failed"]),
                                    delays=(0.01, 0.01, 0.01)).start()
    try:
        notifier.listen("apply-failed", "db down", {"resource": "acme/Campaign/c0"})
        notifier.listen("apply-failed", "db down", {"resource": "acme/Campaign/c0"})
        wait_for(lambda: receiver.posts)
        settle(notifier)
    finally:
        notifier.close()
    assert receiver.titles() == ["campaign-gitops: apply-failed: acme/Campaign/c0"]


def test_only_wanted_events_and_recovered_only_for_them() -> None:
    sent: list[tuple[str, Notice]] = []
    configs = [NotificationConfig(name="files", url="json://x/a",
                                  events=["file-failing", "recovered"]),
               NotificationConfig(name="runs", url="json://x/b", events=["run-paused"]),
               NotificationConfig(name="nourl", url_env="NOT_SET_ANYWHERE",
                                  events=["halted"])]
    off: list[str] = []
    notifier = Notifier.from_config(configs, env={}, send=lambda u, n: bool(sent.append((u, n))
                                                                             ) or True,
                                    log=lambda event, *_a, **_k: off.append(event))
    assert [r.name for r in notifier.receivers] == ["files", "runs"] and off == ["notify-off"]
    notifier.sync("run-paused", {"acme/c/r1": "paused: 30% failed"})
    notifier.sync("run-paused", {"acme/c/r1": "paused: 30% failed"})
    notifier.sync("run-paused", {})
    notifier.sync("file-failing", {"a.yaml": "bad"})
    notifier.sync("file-failing", {})
    wanted = {r.name: [n.title for n in list(r.queue.queue)] for r in notifier.receivers}
    assert wanted == {
        "files": ["campaign-gitops: file-failing: a.yaml",
                  "campaign-gitops: recovered: file-failing a.yaml"],
        "runs": ["campaign-gitops: run-paused: acme/c/r1"],  # no 'recovered' subscribed
    }


def test_followers_stay_quiet() -> None:
    leader = [False]
    notifier = Notifier.from_config(
        [NotificationConfig(name="ops", url="json://x/a", events=["halted"])],
        send=lambda _u, _n: True, active_only=lambda: leader[0])
    notifier.sync("halted", {"global": "halted"})
    assert notifier.receivers[0].queue.empty()


def test_rate_limit_is_a_sliding_minute() -> None:
    limit = RateLimit(2)
    assert limit.wait(0.0) == 0
    limit.took(0.0)
    limit.took(10.0)
    assert limit.wait(30.0) == pytest.approx(30.0)
    assert limit.wait(60.0) == 0


def test_notices_past_the_rate_limit_wait_their_turn(receiver: Receiver) -> None:
    notifier = Notifier.from_config(receivers(receiver.url, ["file-failing"],
                                              max_per_minute=2)).start()
    try:
        notifier.sync("file-failing", {f"f{i}.yaml": "bad" for i in range(3)})
        ops = notifier.receivers[0]
        wait_for(lambda: len(ops.delivered) == 2)
        assert ops.limit.wait(time.monotonic()) > 0  # the third waits for the minute to pass
        assert len(ops.delivered) == 2 and len(receiver.posts) == 2
    finally:
        notifier.close()


def test_database_conditions(sqlite_url: str, tmp_path: Path) -> None:
    from campaign_gitops.reconcile.service import apply_plan, plan_repo

    root = dr.write_repo(tmp_path / "repo", {"acme": 1, "globex": 1})
    project = Project(root, root / "campaigns")
    db = open_database(sqlite_url)
    bundle, plan = plan_repo(project, db, now=NOW, config=ProjectConfig())
    apply_plan(db, plan, bundle, project=project, now=NOW, config=ProjectConfig())
    assert scan(db) == {e: {} for e in ("run-paused", "halted", "credits-low",
                                        "review-waiting", "message-unknown")}
    with db.session() as s:
        s.execute(update(t.Client).where(t.Client.name == "acme").values(halted=True,
                                                                           credits=5))
    found = scan(db)
    assert found["halted"] == {"acme": "client acme is halted"}
    assert found["credits-low"] == {"acme": "client acme has 5 credits left"}

    sent: list[Notice] = []
    notifier = Notifier.from_config(
        [NotificationConfig(name="ops", url="json://x/a",
                            events=["halted", "credits-low", "recovered"])],
        send=lambda _u, n: bool(sent.append(n)) or True, scan=lambda: scan(db))
    notifier.handle("ticked", "", {})
    notifier.handle("ticked", "", {})
    with db.session() as s:
        s.execute(update(t.Client).where(t.Client.name == "acme").values(halted=False))
    notifier.handle("ticked", "", {})
    titles = [n.title for n in notifier.receivers[0].queue.queue]
    assert titles == ["campaign-gitops: halted: acme", "campaign-gitops: credits-low: acme",
                      "campaign-gitops: recovered: halted acme"]
    db.dispose()


def test_config_refuses_both_or_neither_url_and_secrets_in_urls() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="url or urlEnv"):
        NotificationConfig(name="x", events=["halted"])
    with pytest.raises(ValidationError, match="url or urlEnv"):
        NotificationConfig(name="x", url="json://h/p", url_env="HOOK", events=["halted"])
    with pytest.raises(ValidationError, match="password"):
        NotificationConfig(name="x", url="json://user:pw@h/p", events=["halted"])
    with pytest.raises(ValidationError):
        NotificationConfig(name="x", url="json://h/p", events=["no-such-event"])  # type: ignore[list-item]
