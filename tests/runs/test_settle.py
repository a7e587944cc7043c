"""``communications settle``: an operator decides what an ``unknown`` message became.

The unknown messages are made the real way: a webhook receiver that takes each message
and answers after the client's timeout. Then the real CLI settles one as sent, one as
failed (its credit refunded) and one as resend (the next tick sends it once more, with
the same idempotency key); ``tick``, ``status`` and ``runs show`` point at what is left.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from campaign_gitops.cli.main import cli
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Client, Message
from tests.runs.local_servers import http_provider
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _cli(db_url: str, root: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, "--dir", str(root / "campaigns"), *args],
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _setup(tmp_path: Path, db_url: str, url: str) -> tuple[Database, Path, ProjectConfig]:
    db = open_database(db_url)
    with db.session() as session:
        assert not import_csv(session, write_leads(tmp_path / "leads.csv",
                                                   [lead_row(i) for i in range(3)])).errors
    root = write_repo(tmp_path / "repo", base_resources(
        sequence=[{"channel": "email", "delayDays": 0, "template": "intro"}]))
    config = {"failureThreshold": 1.0,
              "transports": {"email": {"type": "webhook", "url": url, "timeoutSeconds": 0.3}}}
    (root / "campaign-gitops.yaml").write_text(yaml.safe_dump(config))
    start_runs(db, root, now=MONDAY_9 - dt.timedelta(hours=1), credits=100)
    return db, root, ProjectConfig.model_validate(config)


def _rows(db: Database) -> dict[int, Any]:
    with db.session() as session:
        return {r.id: r for r in session.execute(
            select(Message.id, Message.status, Message.status_reason, Message.idempotency_key,
                   Message.sent_at))}


def _credits(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(Client.credits)).scalar_one()


def test_settle_sent_failed_and_resend(db_url: str, tmp_path: Path) -> None:
    with http_provider() as provider:
        provider.delay = 0.8
        db, root, config = _setup(tmp_path, db_url, provider.url)
        assert tick(db, now=MONDAY_9, config=config).total("unknown") == 3
        ids = sorted(_rows(db))
        credits = _credits(db)  # an unknown message keeps its credit spent: it may have gone

        later = MONDAY_9 + dt.timedelta(minutes=5)
        shown = _cli(db_url, root, "runs", "show", "acme/q1/launch", "--now",
                     later.isoformat())
        assert "3 message(s) unknown" in shown
        status = json.loads(_cli(db_url, root, "status", "--format", "json"))
        assert status["attention"] == {"unknown": 3, "stuck": 0}
        text = _cli(db_url, root, "tick", "--now", later.isoformat())
        assert "3 message(s) unknown" in text and "communications settle" in text

        out = json.loads(_cli(db_url, root, "communications", "settle", str(ids[0]), "--as",
                              "sent", "--reason", "in the provider's log", "--format", "json"))
        assert out["settled"][0]["status"] == "sent"
        _cli(db_url, root, "communications", "settle", str(ids[1]), "--as", "failed",
             "--reason", "the provider has no record")
        _cli(db_url, root, "communications", "settle", str(ids[2]), "--as", "resend",
             "--reason", "the provider has no record")
        again = _cli(db_url, root, "communications", "settle", str(ids[0]), "--as", "failed",
                     "--reason", "changed my mind", code=1)
        assert "it is sent, not unknown" in again
        assert _credits(db) == credits + 2  # failed: refunded; resend: refunded, charged anew

        provider.delay = 0
        before = len(provider.requests)
        resent = tick(db, now=MONDAY_9 + dt.timedelta(minutes=10), config=config)
        assert resent.total("sent") == 1 and resent.attention == {"unknown": 0, "stuck": 0}
        (headers, _), = provider.requests[before:]

    rows = _rows(db)
    assert headers["idempotency-key"] == rows[ids[2]].idempotency_key  # a receiver can dedupe
    assert [rows[i].status for i in ids] == ["sent", "failed", "sent"]
    assert "settled as sent by cli: in the provider's log" in rows[ids[0]].status_reason
    assert rows[ids[0]].sent_at is not None
    assert _credits(db) == credits + 1
    assert "attention" not in _cli(db_url, root, "status")
