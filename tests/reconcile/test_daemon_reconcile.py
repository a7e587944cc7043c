"""reconcile_once on a real repo and a real database, no watcher and no sleeping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text

import tests.reconcile.daemon_repos as dr
from campaign_gitops.config.project import FreezeWindow, Project, ProjectConfig
from campaign_gitops.reconcile.daemon import Options, Reconciler
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.sources import GitSource, WorktreeSource
from campaign_gitops.state import tables as t
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.kv import RECONCILE_LAST

daemon_repo = dr.daemon_repo
NOW = dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC)  # a Wednesday


class Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        pass


def make(root: Path, url: str, *, source: str = "worktree", config: ProjectConfig | None = None,
         backoff: tuple[float, ...] = (10.0, 20.0)) -> Reconciler:
    project = Project(root, root / "campaigns")
    reader = (GitSource(root, project.resources_dir) if source == "git"
              else WorktreeSource(root, project.resources_dir))
    rec = Reconciler(project, open_database(url), reader, config=config or ProjectConfig(),
                     options=Options(backoff=backoff),
                     log=EventLog("json", Sink()))  # type: ignore[arg-type]
    rec.health.update(role="leader")
    return rec


def description(db: Database, client: str, name: str) -> str | None:
    with db.session() as s:
        row = s.scalars(select(t.Resource).where(
            t.Resource.client == client, t.Resource.kind == "Campaign",
            t.Resource.name == name)).first()
        return None if row is None else row.spec.get("description")


def status(db: Database, client: str, name: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(t.Campaign.status).join(
            t.Resource, t.Resource.id == t.Campaign.resource_id).where(
            t.Resource.client == client, t.Resource.name == name))


def edit(root: Path, client: str, name: str, **values: str) -> str:
    path = root / "campaigns" / client / f"{name}.yaml"
    path.write_text(dr.campaign_text(client, name, **values))
    return str(path)


def test_full_then_incremental_touches_one_client(daemon_repo: Path, db_url: str) -> None:
    rec = make(daemon_repo, db_url)
    first = rec.reconcile_once(None, now=NOW, clock=0.0)
    assert first.ok and first.mode == "full"
    assert len(first.applied) == 5 * 2 + 3  # 5 definitions per client + 3 campaigns
    assert {a for _, a in first.applied} == {"create"}

    path = edit(daemon_repo, "acme", "c1", description="v2")
    second = rec.reconcile_once({path}, now=NOW, clock=1.0)
    assert second.mode == "incremental" and second.clients == 1
    assert second.applied == (("acme/Campaign/c1", "update"),)
    assert description(rec.db, "acme", "c1") == "v2"

    assert rec.reconcile_once(set(), now=NOW, clock=2.0).mode == "idle"
    with rec.db.session() as s:
        last = s.get(t.KeyValue, RECONCILE_LAST)
        assert last is not None and last.value["ok"] and last.value["mode"] == "incremental"
        assert last.value["commit"] == dr.git(daemon_repo, "rev-parse", "HEAD")


def test_broken_file_holds_its_resources_while_others_reconcile(daemon_repo: Path,
                                                                sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url)
    rec.reconcile_once(None, now=NOW, clock=0.0)
    broken = daemon_repo / "campaigns/acme/c0.yaml"
    broken.write_text(dr.campaign_text("acme", "c0", description="v2") + "  bogus: [\n")
    other = edit(daemon_repo, "globex", "c0", description="v2")
    result = rec.reconcile_once({str(broken), other}, now=NOW, clock=1.0)
    assert not result.ok
    assert [str(p) for p in result.failing] == ["campaigns/acme/c0.yaml:16:SCHEMA"]
    assert description(rec.db, "acme", "c0") == "v1"  # held at its last good state
    assert description(rec.db, "globex", "c0") == "v2"
    assert ("globex/Campaign/c0", "update") in result.applied
    ready, body = rec.health.ready()
    assert not ready and body["failing_files"] == ["campaigns/acme/c0.yaml:16:SCHEMA"]
    sample = rec.metrics.registry.get_sample_value
    assert sample("campaign_gitops_resources", {"state": "held"}) == 1
    assert sample("campaign_gitops_resources", {"state": "synced"}) == 12
    assert sample("campaign_gitops_files_failing") == 1

    edit(daemon_repo, "acme", "c0", description="v3")
    fixed = rec.reconcile_once({str(broken)}, now=NOW, clock=2.0)
    assert fixed.ok and fixed.failing == ()
    assert description(rec.db, "acme", "c0") == "v3"
    rec.health.update(clock=lambda: 2.0, db_answered=2.0)  # the loop's probe answered
    assert rec.health.ready()[0]
    assert sample("campaign_gitops_resources", {"state": "synced"}) == 13
    assert sample("campaign_gitops_files_failing") == 0
    assert sample("campaign_gitops_changes_applied_total", {"action": "update"}) == 2


def test_lint_error_holds_the_resource(daemon_repo: Path, sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url)
    rec.reconcile_once(None, now=NOW, clock=0.0)
    path = daemon_repo / "campaigns/acme/c0.yaml"
    path.write_text(dr.campaign_text("acme", "c0", description="v2").replace(
        "goal: demo", "goal: no-such-goal"))
    result = rec.reconcile_once({str(path)}, now=NOW, clock=1.0)
    assert not result.ok
    assert any(p.rule == "PF008" and p.file == "campaigns/acme/c0.yaml" for p in result.failing)
    assert description(rec.db, "acme", "c0") == "v1"


def test_deleted_file_without_prune_archives_nothing(daemon_repo: Path, sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url)
    rec.reconcile_once(None, now=NOW, clock=0.0)
    gone = daemon_repo / "campaigns/acme/c1.yaml"
    gone.unlink()
    result = rec.reconcile_once({str(gone)}, now=NOW, clock=1.0)
    assert result.ok and result.applied == ()
    with rec.db.session() as s:
        assert s.scalar(select(t.Resource.deleted_at).where(t.Resource.name == "c1")) is None


def test_suspended_resource_is_left_alone(daemon_repo: Path, sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url)
    rec.reconcile_once(None, now=NOW, clock=0.0)
    path = daemon_repo / "campaigns/acme/c0.yaml"
    path.write_text(dr.campaign_text("acme", "c0", description="v2").replace(
        "campaign-gitops/disable: PF006}", 'campaign-gitops/disable: PF006, '
        'campaign-gitops/suspend: "true"}'))
    result = rec.reconcile_once({str(path)}, now=NOW, clock=1.0)
    assert result.ok and result.applied == ()
    assert description(rec.db, "acme", "c0") == "v1"
    assert rec.sync[next(k for k in rec.sync if str(k) == "acme/Campaign/c0")] == "suspended"


def test_failed_apply_backs_off_and_recovers(daemon_repo: Path, sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url, backoff=(10.0, 20.0))
    rec.reconcile_once(None, now=NOW, clock=0.0)
    with rec.db.engine.begin() as conn:  # a real runtime error, this resource only
        conn.execute(text("CREATE TRIGGER refuse BEFORE UPDATE ON resources "
                          "WHEN NEW.name = 'c0' AND NEW.client = 'acme' "
                          "BEGIN SELECT abs(-9223372036854775808); END"))
    a = edit(daemon_repo, "acme", "c0", description="v2")
    b = edit(daemon_repo, "acme", "c1", description="v2")
    failed = rec.reconcile_once({a, b}, now=NOW, clock=100.0)
    assert [(r, act) for r, act, _ in failed.errors] == [("acme/Campaign/c0", "update")]
    assert "integer overflow" in failed.errors[0][2]
    assert description(rec.db, "acme", "c1") == "v2"  # the others go on
    assert rec.backoff.next_due() == 110.0

    early = rec.reconcile_once(set(), now=NOW, clock=105.0)  # not due yet: not attempted
    assert early.mode == "idle" and early.errors == ()
    again = rec.reconcile_once(set(), now=NOW, clock=110.0)
    assert again.errors and rec.backoff.pending()["acme/Campaign/c0"].attempts == 2
    assert rec.backoff.next_due() == 130.0

    with rec.db.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse"))
    healed = rec.reconcile_once(set(), now=NOW, clock=130.0)
    assert healed.ok and healed.applied == (("acme/Campaign/c0", "update"),)
    assert rec.backoff.pending() == {}


def test_freeze_window_holds_activation_but_updates_definitions(daemon_repo: Path,
                                                                sqlite_url: str) -> None:
    config = ProjectConfig(freeze_windows=[FreezeWindow(name="nightly", cron="0 2 * * *",
                                                        duration="2h")])
    rec = make(daemon_repo, sqlite_url, config=config)
    rec.reconcile_once(None, now=NOW, clock=0.0)
    path = edit(daemon_repo, "acme", "c0", description="v2", status="active")
    frozen = rec.reconcile_once({path}, now=NOW, clock=1.0)
    assert frozen.ok
    assert frozen.applied == (("acme/Campaign/c0", "update"),)
    assert [r for r, _ in frozen.held] == ["acme/Campaign/c0"]
    assert "freeze window 'nightly'" in frozen.held[0][1]
    assert status(rec.db, "acme", "c0") == "draft"

    later = NOW + dt.timedelta(hours=2)
    thawed = rec.reconcile_once(None, now=later, clock=2.0)
    assert thawed.applied == (("acme/Campaign/c0", "transition"),)
    assert status(rec.db, "acme", "c0") == "active"


def test_git_source_records_the_commit(daemon_repo: Path, sqlite_url: str) -> None:
    rec = make(daemon_repo, sqlite_url, source="git")
    rec.reconcile_once(None, now=NOW, clock=0.0)
    edit(daemon_repo, "acme", "c0", description="uncommitted")
    assert rec.reconcile_once(set(), now=NOW, clock=1.0).mode == "idle"
    assert description(rec.db, "acme", "c0") == "v1"
    dr.git(daemon_repo, "commit", "-q", "-am", "edit c0")
    head = dr.git(daemon_repo, "rev-parse", "HEAD")
    moved = rec.reconcile_once(set(), now=NOW, clock=2.0)
    assert moved.commit == head and moved.applied == (("acme/Campaign/c0", "update"),)
    with rec.db.session() as s:
        log = s.scalars(select(t.ApplyLog).order_by(t.ApplyLog.serial.desc())).first()
        assert log is not None and log.git_commit == head and not log.git_dirty


@pytest.mark.parametrize("mode", ["json", "text"])
def test_log_lines_carry_resource_action_commit(daemon_repo: Path, sqlite_url: str,
                                                mode: str) -> None:
    sink = Sink()
    rec = make(daemon_repo, sqlite_url)
    rec.log = EventLog(mode, sink)  # type: ignore[arg-type]
    rec.reconcile_once(None, now=NOW, clock=0.0)
    line = next(x for x in sink.lines if "acme/Campaign/c0" in x)
    head = dr.git(daemon_repo, "rev-parse", "HEAD")
    if mode == "json":
        import json

        record = json.loads(line)
        assert (record["event"], record["resource"], record["action"], record["commit"]) == (
            "applied", "acme/Campaign/c0", "create", head)
    else:
        assert "applied resource=acme/Campaign/c0 action=create commit=" + head[:12] in line


SEGMENT = """---
apiVersion: campaign-gitops/v1
kind: Segment
metadata: {name: everyone, client: acme}
spec: {emailStatus: [verified, unknown]}
"""


def test_freeze_window_holds_a_scheduled_run_in_tick(daemon_repo: Path,
                                                      sqlite_url: str) -> None:
    from campaign_gitops.runs.tick import tick

    config = ProjectConfig(freeze_windows=[FreezeWindow(name="nightly", cron="0 2 * * *",
                                                        duration="2h")])
    with (daemon_repo / "campaigns/acme/client.yaml").open("a") as f:
        f.write(SEGMENT)
    (daemon_repo / "campaigns/acme/c0.yaml").write_text(
        dr.campaign_text("acme", "c0", status="active").replace(
            "template: intro", "template: intro\n  segment: everyone\n  runs:\n"
            '    - {name: wave, type: schedule, at: "2026-11-18T02:30:00+00:00"}'))
    rec = make(daemon_repo, sqlite_url, config=config)
    before = NOW.replace(hour=1)  # outside the window: the run is declared, scheduled
    assert rec.reconcile_once(None, now=before, clock=0.0).ok

    def run_status() -> str | None:
        with rec.db.session() as s:
            return s.scalar(select(t.CampaignRun.status).where(t.CampaignRun.name == "wave"))

    assert run_status() == "scheduled"
    frozen = tick(rec.db, now=NOW, config=config, root=daemon_repo)  # 03:00, inside
    assert run_status() == "scheduled" and not frozen.started_runs
    assert any("freeze window 'nightly'" in n for n in frozen.notes)
    thawed = tick(rec.db, now=NOW.replace(hour=4), config=config, root=daemon_repo)
    assert [r.split(" ")[0] for r in thawed.started_runs] == ["acme/c0/wave"]
    assert run_status() != "scheduled"  # started (and, with no leads, already done)


def test_pausing_after_launch_is_not_a_failing_file(daemon_repo: Path, sqlite_url: str) -> None:
    with (daemon_repo / "campaigns/acme/client.yaml").open("a") as f:
        f.write(SEGMENT)
    path = daemon_repo / "campaigns/acme/c0.yaml"

    def write(status: str) -> str:
        path.write_text(dr.campaign_text("acme", "c0", status=status).replace(
            "template: intro", "template: intro\n  segment: everyone\n  runs:\n"
            "    - {name: launch, type: run}"))
        return str(path)

    write("active")
    rec = make(daemon_repo, sqlite_url)
    first = rec.reconcile_once(None, now=NOW, clock=0.0)
    assert first.ok and ("acme/Campaign/c0", "run") in first.applied
    paused = rec.reconcile_once({write("paused")}, now=NOW, clock=1.0)
    assert paused.ok and paused.failing == ()  # PF006 is for runs still to start
    assert paused.applied == (("acme/Campaign/c0", "transition"),)
    assert status(rec.db, "acme", "c0") == "paused"


def test_the_daemon_cancels_a_waiting_run_whose_declaration_left_the_file(
        daemon_repo: Path, db_url: str) -> None:
    with (daemon_repo / "campaigns/acme/client.yaml").open("a") as f:
        f.write(SEGMENT)
    path = daemon_repo / "campaigns/acme/c0.yaml"
    runs = '\n  runs:\n    - {name: wave, type: schedule, at: "2030-11-18T02:30:00+00:00"}'
    path.write_text(dr.campaign_text("acme", "c0", status="active").replace(
        "template: intro", "template: intro\n  segment: everyone" + runs))
    rec = make(daemon_repo, db_url)
    assert rec.reconcile_once(None, now=NOW, clock=0.0).ok
    path.write_text(path.read_text().replace(runs, ""))
    sink = rec.log.stream  # type: ignore[attr-defined]
    done = rec.reconcile_once({str(path)}, now=NOW, clock=1.0)
    assert done.ok and ("acme/Campaign/c0", "run") in done.applied
    with rec.db.session() as s:
        assert s.scalar(select(t.CampaignRun.status).where(
            t.CampaignRun.name == "wave")) == "cancelled"
    assert any('"action": "cancel"' in line and '"run": "wave"' in line
               for line in sink.lines)
