"""Helpers for the runs tests: a small campaign repo, a lead CSV, runs started in a database.

``start_runs`` stands in for apply: it writes the resources, the campaign revision and
a CampaignRun row per declared run (with the resolved snapshot) and calls start_run,
exactly what apply does in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from campaign_gitops.config.bundle import load_bundle
from campaign_gitops.config.models import canonical_spec, content_hash
from campaign_gitops.config.resolved import resolve_with_hash
from campaign_gitops.runs.start import start_run
from campaign_gitops.state.db import Database
from campaign_gitops.state.tables import (
    Campaign,
    CampaignRevision,
    CampaignRun,
    Client,
    Resource,
)

LEAD_FIELDS = ("email", "phone", "linkedin_url", "first_name", "last_name", "title",
               "seniority", "company", "company_industry", "company_country",
               "company_employee_count", "company_technologies", "email_status",
               "enrichment_confidence", "timezone")


def mkdoc(kind: str, name: str, spec: dict[str, Any], client: str | None = "acme") -> dict:
    meta: dict[str, Any] = {"name": name}
    if client and kind != "Client":
        meta["client"] = client
    return {"apiVersion": "campaign-gitops/v1", "kind": kind, "metadata": meta, "spec": spec}


def base_resources(campaign: dict[str, Any] | None = None,
                   schedule: dict[str, Any] | None = None,
                   sequence: list[dict[str, Any]] | None = None,
                   segment: dict[str, Any] | None = None,
                   reviewer: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A client with email, phone and LinkedIn, and one campaign using all of them."""
    steps = sequence or [
        {"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"},
        {"channel": "voice", "delayDays": 3, "template": "call", "skipIf": "phone_missing"},
        {"channel": "linkedin", "delayDays": 2, "template": "connect",
         "skipIf": "linkedin_url_missing"},
        {"channel": "email", "delayDays": 3, "template": "value"},
        {"channel": "sms", "delayDays": 4, "template": "bye", "skipIf": "phone_missing"},
    ]
    spec = {
        "status": "active", "channel": "email",
        "allocation": {"email": 60, "voice": 20, "linkedin": 10, "sms": 10},
        "goal": "demo", "segment": "ctos", "writer": "tpl", "reviewer": "rules",
        "template": "intro", "sequence": "outbound", "schedule": "hours",
        "dailyLimit": 40, "testRecipients": ["qa@acme.test", "+15550001111"],
        "runs": [{"name": "launch", "type": "run"}],
    }
    spec.update(campaign or {})
    return [
        mkdoc("Client", "acme", {"tier": "velocity", "timezone": "UTC", "resources": {
            "emailDomain": "mail.acme.test", "phoneNumber": "+15550000000",
            "linkedinSeat": "seat@acme.test"}}, client=None),
        mkdoc("Goal", "demo", {"outcome": "meeting", "description": "book a demo"}),
        mkdoc("Segment", "ctos", segment or {"industries": ["software"], "titles": ["cto"]}),
        mkdoc("Writer", "tpl", {"type": "template"}),
        mkdoc("Reviewer", "rules", reviewer or {"type": "rules", "bannedPhrases": ["guarantee"]}),
        mkdoc("Template", "intro", {"channel": "email", "subject": "Hi {{first_name | there}}",
                                   "body": "Hello {{first_name | there}} at {{company}}. "
                                           "Unsubscribe: {{unsubscribe_url}}"}),
        mkdoc("Template", "value", {"channel": "email", "subject": "A case study",
                                   "body": "{{first_name | there}}, a case study. "
                                           "Unsubscribe: {{unsubscribe_url}}"}),
        mkdoc("Template", "call", {"channel": "voice", "body": "Call script for {{first_name}}"}),
        mkdoc("Template", "connect", {"channel": "linkedin", "body": "Let's connect, "
                                                                    "{{first_name | there}}"}),
        mkdoc("Template", "bye", {"channel": "sms", "body": "Last note, {{first_name | there}}. "
                                                           "Reply STOP to opt out"}),
        mkdoc("Sequence", "outbound", {"steps": steps}),
        mkdoc("Schedule", "hours", schedule or {"timezone": "UTC",
                                               "workHours": {"start": "09:00", "end": "17:00"},
                                               "dailyLimit": 50}),
        mkdoc("Campaign", "q1", spec),
    ]


def write_repo(root: Path, docs: list[dict[str, Any]]) -> Path:
    folder = root / "campaigns" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
    (folder / "all.yaml").write_text(text)
    return root


def lead_row(i: int, **over: Any) -> dict[str, Any]:
    row = {"email": f"lead{i:04d}@example.com", "phone": f"+1555{i:07d}",
           "linkedin_url": f"https://www.linkedin.com/in/lead-{i}", "first_name": f"First{i}",
           "last_name": f"Last{i}", "title": "CTO", "seniority": "c_suite",
           "company": f"Company {i}", "company_industry": "software", "company_country": "US",
           "company_employee_count": 100 + i, "company_technologies": "python;postgres",
           "email_status": "verified", "enrichment_confidence": f"{(i % 100) / 100:.2f}",
           "timezone": ""}
    row.update(over)
    return row


def write_leads(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LEAD_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def start_runs(db: Database, root: Path, *, now: dt.datetime,
               credits: int = 1000) -> list[int]:
    """What apply does for the repo at ``root``: resources, revision, runs started."""
    bundle = load_bundle(root / "campaigns", root)
    assert not bundle.findings, bundle.findings
    run_ids: list[int] = []
    with db.session() as session:
        ids: dict[tuple[str, str], int] = {}
        for entry in bundle.ordered():
            spec = canonical_spec(entry.resource.spec)
            if entry.key.kind == "Client" and session.get(Client, entry.key.name) is None:
                session.add(Client(name=entry.key.name, credits=credits,
                                   subscription="active"))
            row = Resource(client=entry.key.client, kind=entry.key.kind, name=entry.key.name,
                           spec=spec, spec_hash=content_hash(spec), source_file=entry.file)
            session.add(row)
            session.flush()
            ids[(entry.key.kind, entry.key.name)] = row.id
        for entry in bundle.of_kind("Campaign"):
            rid = ids[("Campaign", entry.key.name)]
            spec = entry.resource.spec
            session.add(Campaign(resource_id=rid, status=spec.status, activated_at=now))
            resolved, chash = resolve_with_hash(entry, bundle)
            rev = CampaignRevision(resource_id=rid, revision=1, spec=canonical_spec(spec),
                                   content_hash=chash, git_commit="0" * 40)
            session.add(rev)
            session.flush()
            for decl in spec.runs:
                run = CampaignRun(campaign_id=rid, name=decl.name, type=decl.type,
                                  status="scheduled", revision_id=rev.id, config=resolved,
                                  config_hash=chash, git_commit="0" * 40)
                session.add(run)
                session.flush()
                start_run(session, run, now=now)
                run_ids.append(run.id)
    return run_ids
