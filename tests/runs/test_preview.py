"""``preview``: messages written as tick would write them (the template writer, the
rules reviewer, the same skips), for sample leads of the pool or a named lead, in
text, JSON and markdown; nothing is written to the database and nothing is sent; and
``preview --diff BASE_REF`` shows a change's effect on each step as a diff."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import MetaData, func, select

from campaign_gitops.cli.main import cli
from campaign_gitops.state.db import open_database
from tests.runs.runs_helpers import base_resources, lead_row, write_leads, write_repo


def _run(db_url: str | None, *args: str, code: int = 0) -> str:
    pre = ["--db", db_url] if db_url else []
    result = CliRunner().invoke(cli, [*pre, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _state(db_url: str) -> dict[str, Any]:
    """Every table's row count and every lead's owner: what a preview must not change."""
    db = open_database(db_url)
    meta = MetaData()
    try:
        with db.session() as session:
            meta.reflect(bind=session.get_bind())
            counts = {name: session.execute(select(func.count()).select_from(table)).scalar()
                      for name, table in sorted(meta.tables.items())}
            owners = sorted(session.execute(select(meta.tables["leads"].c.id,
                                                   meta.tables["leads"].c.client)).all())
    finally:
        db.dispose()
    return {"counts": counts, "owners": owners}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = write_repo(tmp_path / "repo", base_resources())
    monkeypatch.chdir(root)
    return root


def test_preview_fills_placeholders_uses_fallbacks_and_writes_nothing(
        repo: Path, db_url: str, tmp_path: Path) -> None:
    leads = [lead_row(1, enrichment_confidence="0.99"),
             lead_row(2, first_name="", phone="", enrichment_confidence="0.98")]
    _run(db_url, "leads", "import", str(write_leads(tmp_path / "leads.csv", leads)))
    before = _state(db_url)
    data = json.loads(_run(db_url, "preview", "q1", "--sample", "2", "--format", "json"))
    assert _state(db_url) == before  # nothing stored: no enrollment, message, allocation
    by = {(m["lead"], m["step"]): m for m in data["messages"]}
    first = by[("lead0001@example.com", 1)]
    assert (first["subject"], first["verdict"], first["channel"]) == (
        "Hi First1", "approved", "email")
    assert first["body"].startswith("Hello First1 at Company 1. Unsubscribe: https://")
    assert first["sender"] == "Acme via mail.acme.test"
    assert first["recipient"] == "lead0001@example.com"
    # the fallback: no first name -> "there"
    assert by[("lead0002@example.com", 1)]["subject"] == "Hi there"
    assert by[("lead0002@example.com", 3)]["body"] == "Let's connect, there"
    # tick's skips: no phone, no voice or SMS step
    assert (by[("lead0002@example.com", 2)]["verdict"],
            by[("lead0002@example.com", 2)]["reason"]) == ("skipped", "phone_missing")
    assert by[("lead0001@example.com", 2)]["body"].startswith("Call script for First1")
    assert [m["step"] for m in data["messages"]] == [1, 2, 3, 4, 5] * 2


def test_preview_one_step_for_a_named_lead_and_the_reviewers_verdict(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = base_resources()
    for doc in docs:
        if doc["kind"] == "Template" and doc["metadata"]["name"] == "value":
            doc["spec"]["body"] = "We guarantee results, {{first_name | there}}."
    root = write_repo(tmp_path / "repo", docs)
    monkeypatch.chdir(root)
    _run(db_url, "leads", "import", str(write_leads(tmp_path / "leads.csv",
                                                    [lead_row(7, first_name="")])))
    text = _run(db_url, "preview", "acme/q1", "--step", "4", "--lead",
                "LEAD0007@example.com")
    assert "step 4 · email · to lead0007@example.com" in text
    assert "rejected" in text and "guarantee" in text
    assert "We guarantee results, there." in text
    # no first name and no fallback: the write fails as it would in tick
    failed = json.loads(_run(db_url, "preview", "q1", "--step", "2", "--lead",
                             "lead0007@example.com", "--format", "json"))["messages"]
    assert [(m["verdict"], "first_name" in (m["reason"] or "")) for m in failed] == [
        ("failed", True)]
    markdown = _run(db_url, "preview", "q1", "--step", "1", "--format", "markdown")
    assert markdown.startswith("#### Preview of `acme/q1`")
    assert "```text\nSubject: Hi there" in markdown
    _run(db_url, "preview", "q1", "--lead", "nobody@example.com", code=2)
    _run(db_url, "preview", "nope", code=2)


def test_preview_without_a_database_uses_the_sample_lead_and_creates_none(
        repo: Path) -> None:
    text = _run(None, "preview", "q1", "--step", "1")
    assert "no lead given or found: the sample lead test runs use" in text
    assert "Subject: Hi Alex" in text
    assert not (repo / ".campaign-gitops" / "state.db").exists()


def test_preview_diff_shows_the_changed_steps(repo: Path) -> None:
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["rm", "-rf", ".git"], check=True)
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    path = repo / "campaigns" / "acme" / "all.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "Template" and doc["metadata"]["name"] == "connect":
            doc["spec"]["body"] = "Happy to connect, {{first_name | there}}"
    path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))
    out = _run(None, "preview", "--diff", "HEAD")
    assert "#### `acme/q1` (changed)" in out
    assert "**Step 3**" in out and "**Step 1**" not in out
    assert "-Let's connect, Alex" in out and "+Happy to connect, Alex" in out
    assert "No campaign's messages change." in _run(None, "preview", "--diff", "HEAD",
                                                    "other")
    _run(None, "preview", "--diff", "no-such-ref", code=2)
