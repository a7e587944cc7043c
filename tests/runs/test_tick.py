"""tick: test runs, the human review queue, halts, completion, failures, crashes, replies."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from campaign_gitops.cli.main import cli
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.replies import ReplyInput, add_reply
from campaign_gitops.runs.review import decide
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRun,
    Client,
    Enrollment,
    KeyValue,
    Lead,
    Message,
)
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
MONDAY_9 = MONDAY_8 + dt.timedelta(hours=1)
EMAIL_ONLY = [{"channel": "email", "delayDays": 0, "template": "intro"},
              {"channel": "email", "delayDays": 2, "template": "value"}]


def _setup(tmp_path: Path, db_url: str, leads: int = 4, **kw: Any) -> Database:
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv",
                                             [lead_row(i) for i in range(leads)])).errors
    kw.setdefault("sequence", EMAIL_ONLY)
    kw.setdefault("campaign", {})
    kw["campaign"].setdefault("allocation", None)
    write_repo(tmp_path / "repo", base_resources(**kw))
    start_runs(db, tmp_path / "repo", now=MONDAY_8)
    return db


def _messages(db: Database) -> list[Any]:
    with db.session() as s:
        return list(s.execute(select(Message).order_by(Message.id)).scalars())


def _cli(db_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_test_run_goes_only_to_test_recipients_at_once(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=8, sequence=None,
                campaign={"runs": [{"name": "smoke", "type": "test_run"}]})
    result = tick(db, now=MONDAY_8 + dt.timedelta(hours=13), config=ProjectConfig())
    sent = [m for m in _messages(db) if m.status == "sent"]
    # 5 sample leads x 5 steps at 21:00: no window, no delay, no limit for a test run
    assert result.total("sent") == len(sent) == 25
    assert {(m.channel, m.recipient) for m in sent} == {
        ("email", "qa@acme.test"), ("voice", "+15550001111"), ("sms", "+15550001111"),
        ("linkedin", "qa@acme.test, +15550001111")}
    assert {m.body.split(" at ")[0] for m in sent if m.step_index == 0} == {
        f"Hello First{i}" for i in range(3, 8)}  # the real leads' messages, best first
    with db.session() as s:
        assert s.execute(select(func.count()).where(Lead.client.is_not(None))).scalar() == 0
        assert s.get(Client, "acme").credits == 1000
        (campaign,) = s.execute(select(Campaign)).scalars()
        assert (campaign.total_leads, campaign.leads_contacted) == (0, 0)
        assert s.execute(select(CampaignRun.status)).scalar() == "completed"


def test_human_review_queue_through_the_cli(db_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch):
    db = _setup(tmp_path, db_url, leads=3, reviewer={"type": "human"})
    monkeypatch.chdir(tmp_path / "repo")
    tick(db, now=MONDAY_9, config=ProjectConfig())
    assert [m.status for m in _messages(db)] == ["pending_review"] * 3
    queue = json.loads(_cli(db_url, "review", "list", "--format", "json"))["pending"]
    assert [(p["step"], p["channel"], p["campaign"]) for p in queue] == [(1, "email", "q1")] * 3
    first, second, third = (p["id"] for p in queue)
    assert "approved" in _cli(db_url, "review", "approve", str(first), str(second))
    assert "rejected" in _cli(db_url, "review", "reject", str(third), "--reason", "off-brand")
    out = _cli(db_url, "review", "approve", str(third), code=1)
    assert "it is rejected, not pending_review" in out
    tick(db, now=MONDAY_9 + dt.timedelta(minutes=5), config=ProjectConfig())
    assert [(m.status, m.status_reason) for m in _messages(db)] == [
        ("sent", None), ("sent", None), ("rejected", "off-brand")]
    with db.session() as s:  # every enrollment moved on to step 2, due in two days
        dues = set(s.execute(select(Enrollment.next_step, Enrollment.next_due_at)).all())
    assert {step for step, _ in dues} == {1}


def test_halts_stop_everything_until_resumed(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=2)
    with db.session() as s:
        s.add(KeyValue(key="halt:global", value={"halted": True, "reason": "incident 42"}))
    result = tick(db, now=MONDAY_9, config=ProjectConfig())
    assert result.halted == "delivery is halted globally: incident 42"
    with db.session() as s:
        s.execute(update(KeyValue).values(value={"halted": False}))
        s.execute(update(Client).values(halted=True))
    assert tick(db, now=MONDAY_9, config=ProjectConfig()).total("sent") == 0
    with db.session() as s:
        s.execute(update(Client).values(halted=False))
    assert tick(db, now=MONDAY_9, config=ProjectConfig()).total("sent") == 2


def test_completed_campaign_finishes_its_enrollments(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=3)
    tick(db, now=MONDAY_9, config=ProjectConfig())
    with db.session() as s:
        add_reply(s, ReplyInput(contact="lead0000@example.com", kind="reply"), now=MONDAY_9)
        add_reply(s, ReplyInput(contact="lead0001@example.com", kind="converted"),
                  now=MONDAY_9)
        s.execute(update(Campaign).values(status="completed"))
    assert tick(db, now=MONDAY_9 + dt.timedelta(days=3), config=ProjectConfig()).counts == {}
    with db.session() as s:
        assert Counter(s.execute(select(Enrollment.state)).scalars()) == Counter(
            {"replied": 1, "finished": 2})
        run = s.execute(select(CampaignRun)).scalar_one()
        assert (run.status, run.status_reason) == ("completed", "campaign completed")
        # the pool gets back what was not won: the replied and the converted lead stay
        owners = dict(s.execute(select(Lead.email, Lead.client)).all())
    assert owners == {"lead0000@example.com": "acme", "lead0001@example.com": "acme",
                      "lead0002@example.com": None}


def test_failing_deliveries_pause_the_run_until_resumed(db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    db = _setup(tmp_path, db_url, leads=6)
    broken = ProjectConfig.model_validate({"transports": {"email": {
        "type": "outbox", "path": str(tmp_path)}}})  # a folder: cannot append to it
    result = tick(db, now=MONDAY_9, config=broken)
    assert result.total("failed") == 6
    assert any("paused: 6 of 6 deliveries failed" in n for n in result.notes)
    with db.session() as s:
        run = s.execute(select(CampaignRun)).scalar_one()
        assert run.status == "paused"
        assert all(m.next_attempt_at == MONDAY_9 + dt.timedelta(minutes=5)
                   for m in s.execute(select(Message)).scalars())
    # paused: even with a working transport nothing goes out
    assert tick(db, now=MONDAY_9 + dt.timedelta(hours=1), config=ProjectConfig()).counts == {}
    monkeypatch.chdir(tmp_path / "repo")
    assert "resumed" in _cli(db_url, "runs", "resume", "acme/q1/launch")
    result = tick(db, now=MONDAY_9 + dt.timedelta(hours=1), config=ProjectConfig())
    assert result.total("sent") == 6  # the retries; nothing lost, nothing twice
    assert [(m.status, m.attempts) for m in _messages(db)] == [("sent", 2)] * 6


def test_a_crash_after_queueing_resends_with_the_same_key_once(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=2)
    outbox = tmp_path / "outbox.jsonl"
    config = ProjectConfig.model_validate({"transports": {"email": {"type": "outbox",
                                                                    "path": str(outbox)}}})
    tick(db, now=MONDAY_9, config=config)
    # as if the process died after sending but before recording: still queued
    with db.session() as s:
        s.execute(update(Message).values(status="queued", sent_at=None))
    tick(db, now=MONDAY_9 + dt.timedelta(minutes=5), config=config)  # inside the lease
    assert {m.status for m in _messages(db)} == {"queued"}
    tick(db, now=MONDAY_9 + dt.timedelta(minutes=11), config=config)
    assert {m.status for m in _messages(db)} == {"sent"}
    keys = [json.loads(line)["id"] for line in outbox.read_text().splitlines()]
    assert sorted(keys) == sorted(m.idempotency_key for m in _messages(db))  # once each


def test_skip_if_replied_false_and_in_reply_to_and_conversion(db_url: str, tmp_path: Path):
    steps = [{"channel": "email", "delayDays": 0, "template": "intro"},
             {"channel": "email", "delayDays": 1, "template": "value", "skipIfReplied": False},
             {"channel": "email", "delayDays": 1, "template": "value"}]
    db = _setup(tmp_path, db_url, leads=2, sequence=steps)
    tick(db, now=MONDAY_9, config=ProjectConfig())
    first = _messages(db)[0]
    with db.session() as s:
        reply = add_reply(s, ReplyInput(contact="someone@else.example", kind="reply",
                                        in_reply_to=f"<{first.transport_message_id}>"),
                          now=MONDAY_9 + dt.timedelta(hours=1))
    assert (reply.matched_by, reply.lead_id, reply.stopped) == ("message_id", first.lead_id, 0)
    for day in (1, 2):
        tick(db, now=MONDAY_9 + dt.timedelta(days=day), config=ProjectConfig())
    mine = [(m.step_index, m.status, m.status_reason) for m in _messages(db)
            if m.lead_id == first.lead_id]
    assert mine == [(0, "sent", None), (1, "sent", None), (2, "skipped", "replied")]
    with db.session() as s:
        states = Counter(s.execute(select(Enrollment.state)).scalars())
        assert states == Counter({"replied": 1, "finished": 1})
        add_reply(s, ReplyInput(contact=first.recipient, kind="converted"),
                  now=MONDAY_9 + dt.timedelta(days=3))
    with db.session() as s:
        assert s.get(Lead, first.lead_id).converted
        campaign = s.execute(select(Campaign)).scalar_one()
        assert (campaign.leads_contacted, campaign.leads_replied, campaign.leads_converted,
                campaign.reply_rate, campaign.conversion_rate) == (2, 1, 1, 0.5, 0.5)


def test_unknown_contact_and_kind(sqlite_url: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch):
    _setup(tmp_path, sqlite_url, leads=1)
    monkeypatch.chdir(tmp_path / "repo")
    out = _cli(sqlite_url, "replies", "add", "--contact", "nobody@x.example", "--kind",
               "reply", code=1)
    assert "no lead has the contact 'nobody@x.example'" in out
    out = _cli(sqlite_url, "replies", "add", "--contact", "nobody@x.example", "--kind",
               "reply", "--unmatched-ok")
    assert "(no matching lead)" in out
    bad = tmp_path / "replies.jsonl"
    bad.write_text('{"contact": "a@b.co", "kind": "reply"}\n{"contact": "a@b.co", '
                   '"kind": "angry"}\nnot json\n')
    out = _cli(sqlite_url, "replies", "import", str(bad), code=1)
    assert f"{bad}:2: kind 'angry' is not one of" in out
    assert f"{bad}:3: not JSON" in out


TICKER = textwrap.dedent("""
    import datetime as dt, json, sys
    from campaign_gitops.config.project import ProjectConfig
    from campaign_gitops.runs.tick import tick
    from campaign_gitops.state.db import open_database
    url, outbox = sys.argv[1], sys.argv[2]
    config = ProjectConfig.model_validate({"transports": {"email": {"type": "outbox",
                                                                    "path": outbox}}})
    now = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    result = tick(open_database(url), now=now, config=config, batch_size=25)
    print(json.dumps(result.as_json()["totals"]))
""")


def test_four_ticks_at_once_never_deliver_a_step_twice(pg_url: str, tmp_path: Path):
    steps = [{"channel": "email", "delayDays": 0, "template": "intro"},
             {"channel": "email", "delayDays": 0, "template": "value"}]
    db = _setup(tmp_path, pg_url, leads=300, sequence=steps,
                campaign={"dailyLimit": 500})
    outbox = tmp_path / "outbox.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", TICKER, pg_url, str(outbox)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    totals = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(t.get("sent", 0) for t in totals) == 500  # the daily limit, exactly
    messages = _messages(db)
    sent = [m for m in messages if m.status == "sent"]
    assert len(sent) == 500
    assert len({(m.enrollment_id, m.step_index) for m in messages}) == len(messages)
    lines = [json.loads(line)["id"] for line in outbox.read_text().splitlines()]
    assert sorted(lines) == sorted(m.idempotency_key for m in sent)  # each exactly once


def test_a_scheduled_run_starts_when_due_with_the_same_path(db_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    db = _setup(tmp_path, db_url, leads=3, campaign={"runs": [
        {"name": "wave", "type": "schedule", "at": "2026-11-24T10:00:00+01:00"}]})
    early = tick(db, now=MONDAY_9 + dt.timedelta(days=1, minutes=-1), config=ProjectConfig())
    assert (early.started_runs, early.counts) == ((), {})
    due = tick(db, now=MONDAY_9 + dt.timedelta(days=1), config=ProjectConfig())  # 09:00 UTC
    assert due.started_runs == ("acme/q1/wave (3 leads)",)
    assert due.total("sent") == 3  # enrolled and delivered in the same tick
    monkeypatch.chdir(tmp_path / "repo")
    shown = json.loads(_cli(db_url, "runs", "show", "wave", "--format", "json"))
    assert (shown["status"], shown["enrollments"], shown["messages"]) == (
        "running", {"active": 3}, {"sent": 3})
    assert shown["scheduled_for"] == "2026-11-24T09:00:00+00:00"


def test_replies_import_csv_bounce_and_reply(db_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    db = _setup(tmp_path, db_url, leads=3)
    tick(db, now=MONDAY_9, config=ProjectConfig())
    path = tmp_path / "replies.csv"
    path.write_text("contact,kind,campaign,body,received_at\n"
                    "LEAD0000@example.com,bounce,acme/q1,550 no such user,"
                    "2026-11-23T10:00:00+00:00\n"
                    "lead0001@example.com,reply,q1,Sounds good,\n")
    monkeypatch.chdir(tmp_path / "repo")
    out = json.loads(_cli(db_url, "replies", "import", str(path), "--format", "json"))
    assert [(r["kind"], r["stopped"], r["suppressed"]) for r in out["replies"]] == [
        ("bounce", 1, True), ("reply", 1, False)]
    tick(db, now=MONDAY_9 + dt.timedelta(days=2), config=ProjectConfig())
    step2 = {m.recipient for m in _messages(db) if m.step_index == 1}
    assert step2 == {"lead0002@example.com"}  # the bounced and the replied lead stopped
    with db.session() as s:
        states = dict(s.execute(select(Lead.email, Enrollment.state)
                                .join(Lead, Lead.id == Enrollment.lead_id)).all())
    assert states["lead0000@example.com"] == "bounced"
    assert states["lead0001@example.com"] == "replied"
    listed = json.loads(_cli(db_url, "replies", "--campaign", "q1", "--format", "json"))
    assert [r["contact"] for r in listed["replies"]] == ["lead0000@example.com",
                                                         "lead0001@example.com"]
    assert listed["replies"][0]["received_at"] == "2026-11-23T10:00:00+00:00"


def test_no_credits_stops_delivery_with_a_reason_until_topped_up(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=5)
    with db.session() as s:
        s.execute(update(Client).values(credits=3))
    first = tick(db, now=MONDAY_9, config=ProjectConfig())
    assert (first.total("sent"), first.total("blocked")) == (3, 2)
    assert first.notes == ("delivery stopped: client acme has no credits left",)
    again = tick(db, now=MONDAY_9 + dt.timedelta(hours=1), config=ProjectConfig())
    assert again.counts == {}  # nothing claimed, nothing written while at zero
    with db.session() as s:
        assert s.execute(select(CampaignRun.status_reason)).scalar() == \
            "delivery stopped: client acme has no credits left"
        assert s.get(Client, "acme").credits == 0
        s.execute(update(Client).values(credits=10))
    later = tick(db, now=MONDAY_9 + dt.timedelta(hours=2), config=ProjectConfig())
    assert later.total("sent") == 2
    with db.session() as s:
        assert s.execute(select(CampaignRun.status_reason)).scalar() is None
        assert s.get(Client, "acme").credits == 8


def test_retries_and_approved_messages_wait_for_the_window(db_url: str, tmp_path: Path):
    db = _setup(tmp_path, db_url, leads=2, reviewer={"type": "human"})
    tick(db, now=MONDAY_9, config=ProjectConfig())
    with db.session() as s:
        first, second = (m.id for m in s.execute(select(Message).order_by(Message.id))
                         .scalars())
        decide(s, [first, second], approve=True, now=MONDAY_9)
        # one of them failed earlier and is due for a retry
        s.execute(update(Message).where(Message.id == second).values(
            status="failed", attempts=1, next_attempt_at=MONDAY_9))
    evening = MONDAY_9 + dt.timedelta(hours=9)  # 18:00, the window closed at 17:00
    assert tick(db, now=evening, config=ProjectConfig()).total("sent") == 0
    morning = MONDAY_9 + dt.timedelta(days=1)
    assert tick(db, now=morning, config=ProjectConfig()).total("sent") == 2
    assert {m.sent_at for m in _messages(db)} == {morning}
