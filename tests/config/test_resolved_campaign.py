"""resolve_campaign: the snapshot a run is pinned to."""

from __future__ import annotations

from pathlib import Path

from campaign_gitops.config.bundle import Key, load_bundle
from campaign_gitops.config.resolved import config_hash, resolve_campaign

REPO = """\
apiVersion: campaign-gitops/v1
kind: Client
metadata: {name: acme}
spec: {resources: {emailDomain: acme.test}}
---
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {name: demo, client: acme}
spec: {outcome: meeting}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {name: intro, client: acme}
spec: {channel: email, subject: Hi, body: "Hello {{first_name}} {{unsubscribe_url}}"}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {name: unused, client: acme}
spec: {channel: email, subject: Hi, body: "x"}
---
apiVersion: campaign-gitops/v1
kind: Campaign
metadata: {name: q1, client: acme}
spec:
  goal: demo
  template: intro
  writer: missing
  channel: email
"""


def _bundle(tmp_path: Path, text: str = REPO):
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    (folder / "all.yaml").write_text(text)
    return load_bundle(folder, tmp_path)


def test_resolves_references_and_default_steps(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    entry = bundle.entries[Key("acme", "Campaign", "q1")]
    resolved = resolve_campaign(entry, bundle)
    assert resolved["campaign"]["name"] == "q1"
    assert resolved["campaign"]["spec"]["goal"] == "demo"
    assert resolved["client"]["resources"]["emailDomain"] == "acme.test"
    assert resolved["goal"] == {"description": "", "outcome": "meeting", "target": None}
    assert resolved["writer"] is None  # a dangling reference resolves to None
    assert [s["purpose"] for s in resolved["steps"]] == ["intro", "value_add"]
    assert list(resolved["templates"]) == ["intro"]


def test_hash_changes_with_a_referenced_resource(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    entry = bundle.entries[Key("acme", "Campaign", "q1")]
    before = config_hash(resolve_campaign(entry, bundle))
    key = Key("acme", "Campaign", "q1")
    changed = _bundle(tmp_path, REPO.replace('subject: Hi, body: "Hello', 'subject: Yo, body: "H'))
    after = config_hash(resolve_campaign(changed.entries[key], changed))
    assert before != after
    again = _bundle(tmp_path)
    assert config_hash(resolve_campaign(again.entries[key], again)) == before
