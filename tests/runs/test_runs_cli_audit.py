"""The runs CLI through the real click app: a client halt named by tick, ``runs`` for
an unknown campaign, campaign metrics in ``runs show`` and ``status``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

from campaign_gitops.cli.main import cli
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database

MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
EMAIL_ONLY = [{"channel": "email", "delayDays": 0, "template": "intro"},
              {"channel": "email", "delayDays": 2, "template": "value"}]


@pytest.fixture
def repo(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv",
                                             [lead_row(i) for i in range(4)])).errors
    write_repo(tmp_path / "repo", base_resources(sequence=EMAIL_ONLY,
                                                 campaign={"allocation": None}))
    start_runs(db, tmp_path / "repo", now=MONDAY_8)
    db.dispose()
    monkeypatch.chdir(tmp_path / "repo")
    return tmp_path / "repo"


def _cli(db_url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_tick_names_a_client_halt_and_its_reason(db_url: str, repo: Path):
    _cli(db_url, "halt", "--client", "acme", "--reason", "complaint from a recipient")
    out = _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    assert "nothing due" in out
    assert ("note: delivery for client acme is halted: complaint from a recipient "
            "(campaign-gitops resume --client acme)") in out
    data = json.loads(_cli(db_url, "tick", "--now", "2026-11-23T09:01:00Z", "--format", "json"))
    assert data["totals"] == {}
    assert data["notes"] == ["delivery for client acme is halted: complaint from a recipient "
                             "(campaign-gitops resume --client acme)"]
    _cli(db_url, "resume", "--client", "acme")
    out = _cli(db_url, "tick", "--now", "2026-11-23T09:02:00Z")
    assert "4 sent" in out and "halted" not in out


@pytest.mark.parametrize("command", [("runs",), ("runs", "list"), ("communications",),
                                     ("replies",)])
def test_an_unknown_campaign_filter_exits_2_with_a_hint(db_url: str, repo: Path,
                                                        command: tuple[str, ...]):
    result = CliRunner().invoke(cli, ["--db", db_url, *command, "--campaign", "x/y/z"])
    assert result.exit_code == 2, result.output
    assert "no campaign 'x/y/z' in the database" in result.output
    assert "a campaign is NAME or CLIENT/NAME" in result.output
    assert "`campaign-gitops status` lists them" in result.output
    result = CliRunner().invoke(cli, ["--db", db_url, *command, "--campaign", "other/q1"])
    assert result.exit_code == 2 and "no campaign 'other/q1'" in result.output
    # a known campaign still lists (possibly nothing)
    assert CliRunner().invoke(cli, ["--db", db_url, *command, "--campaign",
                                    "acme/q1"]).exit_code == 0


def test_runs_show_and_status_show_the_campaign_metrics(db_url: str, repo: Path):
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0001@example.com", "--kind", "reply",
         "--campaign", "acme/q1", "--now", "2026-11-23T10:00:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0002@example.com", "--kind", "converted",
         "--campaign", "acme/q1", "--now", "2026-11-23T11:00:00Z")
    expected = {"total_leads": 4, "leads_contacted": 4, "leads_replied": 1,
                "leads_converted": 1, "reply_rate": 0.25, "conversion_rate": 0.25}
    shown = json.loads(_cli(db_url, "runs", "show", "acme/q1/launch", "--format", "json"))
    assert shown["metrics"] == expected
    text = _cli(db_url, "runs", "show", "acme/q1/launch")
    assert "campaign:    4 leads, 4 contacted, 1 replied (25.0%), 1 converted (25.0%)" in text
    status = json.loads(_cli(db_url, "status", "acme/q1", "--format", "json"))
    assert [c["metrics"] for c in status["campaigns"]] == [expected]
    table = _cli(db_url, "status").splitlines()
    header = next(line for line in table if line.startswith("NAME"))
    assert "REPLY RATE" in header
    (row,) = [line for line in table if line.startswith("q1 ")]
    assert row[header.index("REPLY RATE"):].startswith("25.0% (1/4)")
