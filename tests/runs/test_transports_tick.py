"""Delivery end to end: tick writes, reviews and hands messages to real SMTP and webhook servers.

Email goes to a local aiosmtpd server, SMS to a local HTTP provider that fails first
(500) and recovers: every message arrives, none is recorded twice, the retried ones carry
the same idempotency key and a valid signature.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.webhook import verify
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Message
from tests.runs.local_servers import Provider, http_provider, smtp_inbox
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
MONDAY_9 = MONDAY_8 + dt.timedelta(hours=1)
TUESDAY_9 = MONDAY_9 + dt.timedelta(days=1)
SECRET = "whsec-test-123"
STEPS = [{"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"},
         {"channel": "sms", "delayDays": 1, "template": "bye", "skipIf": "phone_missing"}]


def _setup(tmp_path: Path, db_url: str) -> Database:
    db = open_database(db_url)
    with db.session() as session:
        report = import_csv(session, write_leads(tmp_path / "leads.csv",
                                                 [lead_row(i) for i in range(3)]))
        assert not report.errors
    root = write_repo(tmp_path / "repo", base_resources(
        campaign={"allocation": {"email": 50, "sms": 50}}, sequence=STEPS))
    start_runs(db, root, now=MONDAY_8)
    return db


def _config(smtp_port: int, provider: Provider) -> ProjectConfig:
    return ProjectConfig.model_validate({"failureThreshold": 1.0, "transports": {
        "email": {"type": "smtp", "host": "127.0.0.1", "port": smtp_port,
                  "fromAddress": "Sam <sam@mail.acme.test>"},
        "sms": {"type": "webhook", "url": provider.url, "secretEnv": "SMS_WEBHOOK_SECRET"},
    }})


def _messages(db: Database, channel: str) -> list[Any]:
    with db.session() as session:
        return list(session.execute(
            select(Message.recipient, Message.status, Message.idempotency_key,
                   Message.transport, Message.transport_message_id, Message.attempts)
            .where(Message.channel == channel).order_by(Message.recipient)).all())


def test_tick_delivers_email_by_smtp_and_sms_by_webhook_with_a_recovery(
        sqlite_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("SMS_WEBHOOK_SECRET", SECRET)
    db = _setup(tmp_path, sqlite_url)
    with smtp_inbox() as (inbox, port), http_provider() as provider:
        config = _config(port, provider)

        tick(db, now=MONDAY_9, config=config)
        emails = _messages(db, "email")
        assert [(m.recipient, m.status, m.transport) for m in emails] == [
            (f"lead{i:04d}@example.com", "sent", "smtp") for i in range(3)]
        received = {m[2]["To"]: m[2] for m in inbox.messages}
        assert sorted(received) == [f"lead{i:04d}@example.com" for i in range(3)]
        for row in emails:
            mail = received[row.recipient]
            assert mail["Message-ID"] == row.transport_message_id  # replies can match it
            assert mail["List-Unsubscribe"].startswith("<https://mail.acme.test/unsubscribe/")
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail["X-Campaign-Gitops-Idempotency-Key"] == row.idempotency_key
            first_name = f"First{int(row.recipient[4:8])}"  # lead0002@... is First2
            assert mail["Subject"] == f"Hi {first_name}"
            assert mail.get_content().startswith(f"Hello {first_name} at Company ")

        provider.statuses = [500, 500, 500]  # the SMS provider is down for the first round
        tick(db, now=TUESDAY_9, config=config)
        assert {m.status for m in _messages(db, "sms")} == {"failed"}
        assert len(provider.requests) == 3

        tick(db, now=TUESDAY_9 + dt.timedelta(minutes=1), config=config)  # not due yet
        assert len(provider.requests) == 3

        tick(db, now=TUESDAY_9 + dt.timedelta(hours=1), config=config)  # the retry
        sms = _messages(db, "sms")
        assert [(m.status, m.attempts, m.transport) for m in sms] == [("sent", 2, "webhook")] * 3
        assert sorted(m.transport_message_id for m in sms) == ["prov-4", "prov-5", "prov-6"]

        tick(db, now=TUESDAY_9 + dt.timedelta(hours=2), config=config)  # nothing left
        assert len(provider.requests) == 6
        assert len(inbox.messages) == 3

    keys = [headers["idempotency-key"] for headers, _ in provider.requests]
    assert sorted(keys[:3]) == sorted(keys[3:]) == sorted(m.idempotency_key for m in sms)
    for headers, body in provider.requests:
        assert verify(SECRET, body, headers["x-campaign-gitops-signature"])
        payload = json.loads(body)
        assert payload["channel"] == "sms"
        assert payload["recipient"].startswith("+1555")
        assert payload["body"].startswith("Last note, First")


def test_test_run_emails_are_marked_and_carry_no_lead_link(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    """A test run renders the real leads' messages, but its emails say they are tests
    (``X-Campaign-Gitops-Test: true``) and their unsubscribe link is not the lead's."""
    db = open_database(sqlite_url)
    with db.session() as session:
        assert not import_csv(session, write_leads(tmp_path / "leads.csv",
                                                   [lead_row(i) for i in range(6)])).errors
    root = write_repo(tmp_path / "repo", base_resources(
        sequence=[{"channel": "email", "delayDays": 0, "template": "intro"}],
        campaign={"allocation": None, "runs": [{"name": "smoke", "type": "test_run"},
                                               {"name": "launch", "type": "run"}]}))
    start_runs(db, root, now=MONDAY_8)
    with smtp_inbox() as (inbox, port):
        config = ProjectConfig.model_validate({"transports": {"email": {
            "type": "smtp", "host": "127.0.0.1", "port": port,
            "fromAddress": "Sam <sam@mail.acme.test>"}}})
        tick(db, now=MONDAY_9, config=config)
    tests = [m for _, to, m in inbox.messages if to == ["qa@acme.test"]]
    real = [m for _, to, m in inbox.messages if to != ["qa@acme.test"]]
    assert tests and real
    assert {m["X-Campaign-Gitops-Test"] for m in tests} == {"true"}
    assert all(m["X-Campaign-Gitops-Test"] is None for m in real)
    lead_links = {m["List-Unsubscribe"] for m in real}
    assert not {m["List-Unsubscribe"] for m in tests} & lead_links
