"""inbound/suppressions.py and its CLI: suppress per channel, lift one channel, forget
(hashed suppression kept), export everything held, audit log; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaign_gitops.cli.main import cli
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import AuditLog, Lead, Message, Reply
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
EMAIL_ONLY = [{"channel": "email", "delayDays": 0, "template": "intro"},
              {"channel": "email", "delayDays": 2, "template": "value"}]


def _cli(db_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_suppress_per_channel_and_lift_one_channel(db_url: str):
    db = open_database(db_url)
    with db.session() as s:
        assert supp.suppress(s, "acme", "+1 555 000-1111", reason="stop", source="webhook",
                             actor="test", now=NOW, channel="sms")
        assert not supp.suppress(s, "acme", "+15550001111", reason="stop", source="webhook",
                                 actor="test", now=NOW, channel="sms")  # idempotent
        assert supp.suppress(s, "acme", "Jo@Example.com", reason="unsubscribe", source="link",
                             actor="test", now=NOW)
    with db.reading() as s:
        assert supp.suppressed(s, "acme", ["+15550001111"], "sms") == {"+15550001111"}
        assert supp.suppressed(s, "acme", ["+15550001111"], "voice") == set()
        assert supp.suppressed(s, "acme", ["+15550001111"]) == {"+15550001111"}  # cautious
        assert supp.suppressed(s, "acme", ["JO@example.com"], "email") == {"jo@example.com"}
        assert supp.may_contact(s, "other", "jo@example.com", "email")
    with db.session() as s:
        assert supp.unsuppress(s, "acme", "+15550001111", actor="test", now=NOW,
                               channel="voice") == 0
        assert supp.unsuppress(s, "acme", "+15550001111", actor="test", now=NOW,
                               channel="sms") == 1
    with db.reading() as s:
        assert supp.may_contact(s, "acme", "+15550001111", "sms")
        actions = [(a.action, a.contact) for a in s.execute(
            select(AuditLog).order_by(AuditLog.id)).scalars()]
    assert actions == [("suppress", "+15550001111"), ("suppress", "jo@example.com"),
                       ("unsuppress", "+15550001111")]
    db.dispose()


@pytest.fixture
def sent(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Four leads of acme, each sent the first email, lead 1 replied."""
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv",
                                             [lead_row(i) for i in range(4)])).errors
    write_repo(tmp_path / "repo", base_resources(sequence=EMAIL_ONLY,
                                                 campaign={"allocation": None}))
    start_runs(db, tmp_path / "repo", now=NOW)
    db.dispose()
    monkeypatch.chdir(tmp_path / "repo")
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0001@example.com", "--kind", "reply",
         "--body", "call me on Tuesday", "--now", "2026-11-23T10:00:00Z")
    return db_url


def test_cli_add_list_export_import_remove(sent: str, tmp_path: Path):
    db_url = sent
    out = _cli(db_url, "suppressions", "add", "Lead0002@Example.com", "+1 555 0000003",
               "--client", "acme", "--now", "2026-11-23T11:00:00Z")
    assert "suppressed: lead0002@example.com for acme (channel *)" in out
    assert "already suppressed" in _cli(db_url, "suppressions", "add", "lead0002@example.com",
                                        "--client", "acme")
    data = json.loads(_cli(db_url, "suppressions", "list", "--client", "acme",
                           "--format", "json"))
    assert {(r["client"], r["contact"], r["channel"], r["reason"], r["source"])
            for r in data["suppressions"]} == {
        ("acme", "lead0002@example.com", "*", "manual", "cli"),
        ("acme", "+15550000003", "*", "manual", "cli")}
    assert set(data["suppressions"][0]) == {"client", "contact", "channel", "reason", "source",
                                            "created_at"}
    exported = tmp_path / "export.json"
    exported.write_text(_cli(db_url, "suppressions", "export", "--format", "json"))
    _cli(db_url, "suppressions", "remove", "lead0002@example.com", "+15550000003",
         "--client", "acme")
    assert "no suppressions" in _cli(db_url, "suppressions", "list")
    _cli(db_url, "suppressions", "remove", "lead0002@example.com", "--client", "acme", code=1)
    assert "imported 2 suppression(s)" in _cli(db_url, "suppressions", "import",
                                               str(exported))
    bad = tmp_path / "bad.csv"
    bad.write_text("contact,channel\nx@example.com,pigeon\n,sms\n")
    result = CliRunner().invoke(cli, ["--db", db_url, "suppressions", "import", str(bad),
                                      "--client", "acme"])
    assert result.exit_code == 1
    assert f"{bad}:2: channel 'pigeon'" in result.output and f"{bad}:3: no contact" in \
        result.output and "nothing imported" in result.output
    # a suppressed lead is skipped by the next step of its sequence
    _cli(db_url, "tick", "--now", "2026-11-25T09:30:00Z")
    db = open_database(db_url)
    with db.reading() as s:
        second = {m.recipient: (m.status, m.status_reason) for m in s.execute(
            select(Message).where(Message.step_index == 1)).scalars()}
    db.dispose()
    assert second["lead0002@example.com"] == ("skipped", "suppressed")
    assert second["lead0000@example.com"][0] == "sent"


def test_forget_erases_and_keeps_a_hashed_suppression(sent: str):
    db_url = sent
    held = json.loads(_cli(db_url, "leads", "export", "LEAD0001@example.com"))
    assert held["contact"] == "lead0001@example.com"
    assert held["leads"][0]["first_name"] == "First1"
    assert [m["step_index"] for m in held["messages"]] == [0]
    assert [r["body"] for r in held["replies"]] == ["call me on Tuesday"]
    done = json.loads(_cli(db_url, "leads", "forget", "lead0001@example.com", "--format",
                           "json"))
    digest = supp.hashed("lead0001@example.com")
    assert done == {"contact": digest, "leads": 1, "messages": 1, "replies": 1,
                    "suppressions": 1}
    db = open_database(db_url)
    with db.reading() as s:
        texts = []
        for table in (Lead, Message, Reply, AuditLog):
            for row in s.execute(select(table)).scalars():
                texts.append(json.dumps({c.name: getattr(row, c.name)
                                         for c in table.__table__.columns}, default=str))
        assert not [t for t in texts if "lead0001" in t or "First1" in t
                    or "call me on Tuesday" in t]
        # never contacted again: the gate's answer holds without the readable address
        assert supp.suppressed(s, "acme", ["lead0001@example.com"]) == {"lead0001@example.com"}
        assert supp.suppressed(s, "acme", ["lead0000@example.com"]) == set()
    db.dispose()
    listed = json.loads(_cli(db_url, "suppressions", "list", "--format", "json"))
    assert [(r["contact"], r["reason"]) for r in listed["suppressions"]] == [
        (digest, "forgotten")]
    again = json.loads(_cli(db_url, "leads", "export", "lead0001@example.com"))
    assert again["leads"] == [] and again["messages"] == [] and again["replies"] == []
    assert [r["contact"] for r in again["suppressions"]] == [digest]
