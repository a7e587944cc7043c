"""A small repo of clients and campaigns for the daemon's tests (imported by them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CLIENT = """apiVersion: campaign-gitops/v1
kind: Client
metadata: {{name: {c}}}
spec: {{tier: dominance, resources: {{emailDomain: {c}.example.com}}}}
---
apiVersion: campaign-gitops/v1
kind: Goal
metadata: {{name: demo, client: {c}}}
spec: {{outcome: meeting}}
---
apiVersion: campaign-gitops/v1
kind: Writer
metadata: {{name: plain, client: {c}}}
spec: {{type: template}}
---
apiVersion: campaign-gitops/v1
kind: Reviewer
metadata: {{name: rules, client: {c}}}
spec: {{type: rules}}
---
apiVersion: campaign-gitops/v1
kind: Template
metadata: {{name: intro, client: {c}}}
spec:
  channel: email
  subject: "Hello {{{{first_name | there}}}}"
  body: "Hi {{{{first_name | there}}}}. Unsubscribe: {{{{unsubscribe_url}}}}"
"""

CAMPAIGN = """apiVersion: campaign-gitops/v1
kind: Campaign
metadata:
  name: {name}
  client: {c}
  annotations: {{campaign-gitops/disable: PF006}}
spec:
  description: "{description}"
  status: {status}
  channel: email
  goal: demo
  writer: plain
  reviewer: rules
  template: intro
"""


def campaign_text(client: str, name: str, description: str = "v1",
                  status: str = "draft") -> str:
    return CAMPAIGN.format(c=client, name=name, description=description, status=status)


def write_repo(root: Path, clients: dict[str, int]) -> Path:
    """``campaigns/<client>/client.yaml`` plus one file per campaign ``c<i>.yaml``."""
    for client, count in clients.items():
        folder = root / "campaigns" / client
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "client.yaml").write_text(CLIENT.format(c=client))
        for i in range(count):
            (folder / f"c{i}.yaml").write_text(campaign_text(client, f"c{i}"))
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def git_init(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "daemon-test@example.com")
    git(root, "config", "user.name", "daemon test")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")


@pytest.fixture
def daemon_repo(tmp_path: Path) -> Path:
    """acme (2 campaigns) and globex (1), committed to a fresh git repo."""
    root = write_repo(tmp_path / "repo", {"acme": 2, "globex": 1})
    git_init(root)
    return root
