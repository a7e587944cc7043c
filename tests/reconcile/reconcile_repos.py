"""Small repos in tmp_path for the reconcile tests, and a project + database on them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from campaign_gitops.config.project import Project
from campaign_gitops.state.db import Database, open_database

BASE = {
    "acme/client.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Client
        metadata: {name: acme}
        spec:
          tier: velocity
          timezone: Australia/Sydney
          resources: {emailDomain: acme.test}
        """,
    "acme/parts.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Goal
        metadata: {name: book-demo, client: acme}
        spec: {outcome: meeting, description: Book a demo}
        ---
        apiVersion: campaign-gitops/v1
        kind: Segment
        metadata: {name: cto-au, client: acme}
        spec: {countries: [AU], titles: [CTO]}
        ---
        apiVersion: campaign-gitops/v1
        kind: Template
        metadata: {name: intro, client: acme}
        spec:
          channel: email
          subject: "Hello {{first_name}}"
          body: "Hi {{first_name | there}}, unsubscribe: {{unsubscribe_url}}"
        ---
        apiVersion: campaign-gitops/v1
        kind: Writer
        metadata: {name: plain, client: acme}
        spec: {type: template}
        ---
        apiVersion: campaign-gitops/v1
        kind: Reviewer
        metadata: {name: rules, client: acme}
        spec: {type: rules}
        """,
    "acme/q1.yaml": """
        apiVersion: campaign-gitops/v1
        kind: Campaign
        metadata: {name: q1, client: acme}
        spec:
          status: draft
          channel: email
          goal: book-demo
          segment: cto-au
          writer: plain
          reviewer: rules
          template: intro
          testRecipients: [qa@acme.test]
        """,
}


def write_repo(root: Path, files: dict[str, str], folder: str = "campaigns") -> Path:
    base = root / folder
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / ".git").mkdir(exist_ok=True) if not (root / ".git").exists() else None
    return base


@pytest.fixture
def repo(tmp_path: Path) -> Callable[..., Project]:
    """``repo(files)`` writes the files (BASE by default) and returns the Project."""
    def make(files: dict[str, str] | None = None) -> Project:
        write_repo(tmp_path, BASE if files is None else files)
        return Project(root=tmp_path, resources_dir=tmp_path / "campaigns")
    return make


@pytest.fixture
def database(db_url: str) -> Database:
    db = open_database(db_url)
    yield db  # type: ignore[misc]
    db.dispose()
