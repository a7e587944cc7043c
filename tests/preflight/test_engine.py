"""The engine: actions, one campaign's preflight for plan/apply, load findings kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from campaign_gitops.config.bundle import Bundle, Key, load_bundle
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.preflight.engine import check_campaign_for_action, run_preflight

BASE = yaml.safe_load((Path(__file__).parent / "base_repo.yaml").read_text())

CAMPAIGNS = """\
apiVersion: campaign-gitops/v1
kind: Template
metadata: {name: broken-email, client: acme}
spec:
  channel: email
  subject: Hi
  body: "{{ frist_name }} {{unsubscribe_url}}"
---
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: uses-broken, client: acme}
spec: {status: active, goal: book-demo, segment: cto-au, writer: plain,
       reviewer: house-rules, template: broken-email}
---
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: fine-draft, client: acme}
spec: {status: draft, goal: book-demo, writer: plain, reviewer: house-rules,
       template: intro-email, testRecipients: [qa@acme.test]}
"""


def _bundle(root: Path, extra: dict[str, str]) -> Bundle:
    for name, text in {**BASE, **extra}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return load_bundle(root / "campaigns", root)


def _rules(findings: list) -> list[tuple[str, str, str]]:
    return [(f.rule, str(f.severity), f.resource) for f in findings]


def test_check_campaign_includes_what_it_uses_and_nothing_else(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"campaigns/acme/q.yaml": CAMPAIGNS})
    broken = check_campaign_for_action(bundle, Key("acme", "Campaign", "uses-broken"), "run")
    assert _rules(broken) == [("PF013", "error", "acme/Template/broken-email")]
    assert (broken[0].location.line, broken[0].location.column) == (7, 10)
    fine = Key("acme", "Campaign", "fine-draft")
    assert check_campaign_for_action(bundle, fine, "test_run") == []
    assert _rules(check_campaign_for_action(bundle, fine, "run")) == [
        ("PF005", "error", "acme/Campaign/fine-draft"),
        ("PF006", "error", "acme/Campaign/fine-draft"),
    ]


def test_check_campaign_refuses_unknown_campaigns_and_actions(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"campaigns/acme/q.yaml": CAMPAIGNS})
    with pytest.raises(CampaignGitopsError, match="no campaign"):
        check_campaign_for_action(bundle, Key("acme", "Campaign", "nope"), "run")
    with pytest.raises(CampaignGitopsError, match="unknown action"):
        check_campaign_for_action(bundle, Key("acme", "Campaign", "fine-draft"), "launch")
    with pytest.raises(CampaignGitopsError, match="unknown action"):
        run_preflight(bundle, action="lint")


def test_load_findings_come_first_and_valid_documents_of_a_failed_file_are_checked(
        tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"campaigns/acme/q.yaml": """\
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: no-goal, client: acme}
spec: {status: active, writer: plain, reviewer: house-rules, template: intro-email}
---
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: typo, client: acme}
spec: {stauts: active}
"""})
    findings = run_preflight(bundle)
    assert [(f.rule, f.location.line) for f in findings] == [("PF001", 4), ("SCHEMA", 9)]
    assert "campaigns/acme/q.yaml" in bundle.failed_files
    assert findings[1].hint == "did you mean 'status'?"
