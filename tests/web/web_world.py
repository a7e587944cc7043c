"""The example repo applied into a database with leads and a few ticks: what the web shows.

``build_world(tmp_path, url)`` copies ``campaigns/`` and ``campaign-gitops.yaml`` into
tmp_path, imports ``examples/leads.csv``, applies with the real service and ticks the
runs forward over several days, returning the Project and the open Database.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from campaign_gitops.config.project import Project, ProjectConfig
from campaign_gitops.reconcile.service import apply_plan, plan_repo, project_config
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.replies import ReplyInput, add_reply
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import CampaignRun, Message

REPO = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)  # 11:30 in Sydney, a Tuesday


# A campaign whose messages wait for the human reviewer (the example's own human-reviewed
# campaign is written by Claude, which tests cannot reach).
REVIEW_DEMO = """\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: review-demo, client: acme}
spec:
  description: Messages a person approves before they go out.
  status: active
  channel: email
  goal: book-demo
  segment: ops-leaders
  writer: plain-template
  reviewer: sales-desk
  template: cto-intro
  schedule: sydney-business-hours
  testRecipients: [qa@acme-analytics.com]
  runs:
    - {name: first-wave, type: run}
"""


@dataclass
class World:
    project: Project
    db: Database
    config: ProjectConfig


def build_world(tmp_path: Path, url: str, *, ticks: int = 6) -> World:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "campaigns", root / "campaigns")
    if (REPO / "campaign-gitops.yaml").exists():
        shutil.copy(REPO / "campaign-gitops.yaml", root / "campaign-gitops.yaml")
    (root / "campaigns" / "acme" / "campaigns" / "review-demo.yaml").write_text(REVIEW_DEMO)
    project = Project(root=root, resources_dir=root / "campaigns")
    config = project_config(project)
    db = open_database(url)
    with db.session() as session:
        import_csv(session, REPO / "examples" / "leads.csv", skip_invalid=True, now=START)
    bundle, plan = plan_repo(project, db, now=START, config=config)
    apply_plan(db, plan, bundle, project=project, actor="test", now=START, config=config)
    for i in range(ticks):
        now = START + dt.timedelta(days=i, hours=(i % 3))
        tick(db, now=now, config=config, root=root)
    reply_to_first_sent(db, START + dt.timedelta(days=ticks))
    return World(project, db, config)


def reply_to_first_sent(db: Database, now: dt.datetime) -> None:
    """The first lead that got a real (not test) message answers it."""
    with db.session() as session:
        row = session.execute(
            select(Message.recipient, Message.id)
            .join(CampaignRun, CampaignRun.id == Message.run_id)
            .where(Message.status == "sent", Message.lead_id.is_not(None),
                   CampaignRun.type != "test_run").order_by(Message.id).limit(1)).first()
        if row is not None:
            add_reply(session, ReplyInput(contact=row.recipient, kind="reply",
                                          body="Sounds good, Tuesday works for a demo.",
                                          in_reply_to=str(row.id)), now=now)
