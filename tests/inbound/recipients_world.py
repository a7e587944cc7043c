"""A client with sent messages (a real run and a test run) whose links are signed, and
the real web app serving them from uvicorn: shared by the recipients' tests."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import CampaignRun, Message
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

KEY = "test-signing-key"
HOOK_SECRET = "hook-secret"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SEQUENCE = [{"channel": "email", "delayDays": 0, "template": "intro"},
            {"channel": "sms", "delayDays": 0, "template": "bye"},
            {"channel": "email", "delayDays": 2, "template": "value"}]
LINK = re.compile(r"https?://\S+/u/\S+")


def config(public_url: str = "https://outreach.example.com", per_minute: int = 60,
           mailbox: dict[str, object] | None = None) -> ProjectConfig:
    inbound: dict[str, object] = {"webhook": {"secretEnv": "HOOK_SECRET"},
                                  "rateLimitPerMinute": per_minute}
    if mailbox:
        inbound["mailboxes"] = [mailbox]
    return ProjectConfig.model_validate({"publicUrl": public_url, "inbound": inbound})


@dataclass
class World:
    db: Database
    config: ProjectConfig
    links: dict[str, str]  # lead email (or 'test') -> its first email's unsubscribe link


def build(tmp_path: Path, db_url: str, cfg: ProjectConfig, leads: int = 3) -> World:
    """``leads`` leads of acme sent step 0 (email) and step 1 (sms); a test run too."""
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv",
                                             [lead_row(i) for i in range(leads)])).errors
    runs = [{"name": "launch", "type": "run"}, {"name": "try", "type": "test_run"}]
    write_repo(tmp_path / "repo", base_resources(
        sequence=SEQUENCE, campaign={"allocation": None, "runs": runs,
                                     "testRecipients": ["qa@acme.test"]}))
    start_runs(db, tmp_path / "repo", now=NOW)
    tick(db, now=NOW, config=cfg)
    tick(db, now=NOW + dt.timedelta(minutes=5), config=cfg)
    links: dict[str, str] = {}
    with db.reading() as s:
        rows = s.execute(select(Message, CampaignRun.type).join(
            CampaignRun, CampaignRun.id == Message.run_id).where(
            Message.channel == "email", Message.status == "sent")).all()
    for message, run_type in rows:
        found = LINK.search(message.body)
        assert found, message.body
        links["test" if run_type == "test_run" else message.recipient] = found.group(0)
    return World(db, cfg, links)


def path_of(link: str) -> str:
    return link[link.index("/u/"):]
