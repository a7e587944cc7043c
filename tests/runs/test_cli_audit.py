"""The runs CLI through the real click app: a client halt named by tick, ``runs`` for
an unknown campaign, campaign metrics in ``runs show`` and ``status``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.state.db import open_database
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

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


def test_communications_shows_the_newest_and_pages_back(db_url: str, repo: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """The newest --limit messages, oldest of them first, and 'older: --before ID' to go
    on; pages are read as often as --limit needs (here 2 rows a page)."""
    import campaign_gitops.state.listings as listings

    monkeypatch.setattr(listings, "MAX_PAGE", 2)
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    every = json.loads(_cli(db_url, "communications", "--format", "json"))
    ids = [m["id"] for m in every["communications"]]
    assert len(ids) == 4 and ids == sorted(ids) and every["next_before"] is None
    assert {m["lead"] for m in every["communications"]} == {
        f"lead{i:04d}@example.com" for i in range(4)}
    assert all(m["body"] and m["transport"] == "outbox" and m["idempotency_key"]
               for m in every["communications"])

    newest = json.loads(_cli(db_url, "communications", "--limit", "3", "--format", "json"))
    assert [m["id"] for m in newest["communications"]] == ids[1:]
    assert newest["next_before"] == ids[1]
    older = json.loads(_cli(db_url, "communications", "--limit", "3", "--before",
                            str(ids[1]), "--format", "json"))
    assert [m["id"] for m in older["communications"]] == ids[:1]
    assert older["next_before"] is None

    text = _cli(db_url, "communications", "--limit", "1")
    assert text.splitlines()[-1] == f"older: --before {ids[-1]}"
    assert "older:" not in _cli(db_url, "communications")
    assert _cli(db_url, "communications", "--channel", "sms") == "no communications\n"
    assert _cli(db_url, "communications", "--client", "other") == "no communications\n"


def test_replies_filter_by_kind_and_run_and_page(db_url: str, repo: Path):
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    for i, kind in enumerate(("reply", "out_of_office", "unsubscribe")):
        _cli(db_url, "replies", "add", "--contact", f"lead{i:04d}@example.com", "--kind", kind,
             "--now", f"2026-11-23T1{i}:00:00Z")
    listed = json.loads(_cli(db_url, "replies", "--format", "json"))
    assert [r["kind"] for r in listed["replies"]] == ["reply", "out_of_office", "unsubscribe"]
    assert listed["next_before"] is None
    only = json.loads(_cli(db_url, "replies", "--kind", "unsubscribe", "--format", "json"))
    assert [r["contact"] for r in only["replies"]] == ["lead0002@example.com"]
    run_id = listed["replies"][0]["run_id"]
    assert run_id is not None
    by_run = json.loads(_cli(db_url, "replies", "--run", str(run_id), "--limit", "2",
                             "--format", "json"))
    assert [r["kind"] for r in by_run["replies"]] == ["out_of_office", "unsubscribe"]
    assert by_run["next_before"] == listed["replies"][1]["id"]


def test_tables_keep_the_last_column_whole_and_times_to_the_second(capsys):
    from campaign_gitops.cli.common import table
    from campaign_gitops.cli.communications_cmd import MESSAGE_COLUMNS

    reason = ("write failed: step 2 (email): anthropic writer: no Anthropic API key: "
              "ANTHROPIC_API_KEY is not set")
    table([{"id": 7, "recipient": "x" * 70, "status": "failed",
             "sent_at": "2026-11-23T00:17:45.506691+00:00", "status_reason": reason}],
           MESSAGE_COLUMNS, "none")
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == [c.upper() for c in MESSAGE_COLUMNS]
    assert row.endswith(reason)
    assert "x" * 57 + "..." in row and "x" * 58 not in row
    assert "2026-11-23T00:17:45+00:00" in row and ".506691" not in row


def test_runs_lists_the_newest_with_filters_and_pages_back(db_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "repo"
    write_repo(root, base_resources(sequence=EMAIL_ONLY, campaign={
        "allocation": None, "status": "active", "testRecipients": ["qa@acme.test"],
        "runs": [{"name": "launch", "type": "run"}, {"name": "smoke", "type": "test_run"},
                 {"name": "wave", "type": "schedule", "at": "2030-12-02T09:00:00+11:00"}]}))
    (root / "campaign-gitops.yaml").write_text(
        "clientDefaults: {subscription: active, credits: 100}\n")
    monkeypatch.chdir(root)
    assert "3 runs started" in _cli(db_url, "apply", "--auto-approve")
    every = json.loads(_cli(db_url, "runs", "--format", "json"))
    ids = [r["id"] for r in every["runs"]]
    assert len(ids) >= 2 and ids == sorted(ids) and every["next_before"] is None
    assert {"next_run_at", "recurring", "series", "series_id", "cron", "campaign_id",
            "config_hash"} <= set(every["runs"][0])
    last = json.loads(_cli(db_url, "runs", "--limit", "1", "--format", "json"))
    assert [r["id"] for r in last["runs"]] == ids[-1:] and last["next_before"] == ids[-1]
    rest = json.loads(_cli(db_url, "runs", "list", "--before", str(ids[-1]), "--format",
                           "json"))
    assert [r["id"] for r in rest["runs"]] == ids[:-1]
    statuses = {r["status"] for r in every["runs"]}
    for status in statuses:
        only = json.loads(_cli(db_url, "runs", "--status", status, "--format", "json"))
        assert {r["status"] for r in only["runs"]} == {status}
    assert _cli(db_url, "runs", "--client", "other") == "no runs\n"
    assert _cli(db_url, "runs", "--limit", "1").splitlines()[-1] == f"older: --before {ids[-1]}"


def test_tick_before_the_runs_start_says_when_the_earliest_step_is(db_url: str, repo: Path):
    out = _cli(db_url, "tick", "--now", "2026-11-01T09:00:00Z")
    assert "nothing due" in out
    assert "the earliest due step is at 2026-11-23" in out
    assert "runs start on the real clock" in out
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")  # step 1 goes out
    out = _cli(db_url, "tick", "--now", "2026-11-23T09:05:00Z")
    assert "nothing due" in out and "the earliest due step is at 2026-11-25" in out


def test_the_reply_rate_is_one_definition_in_every_view(db_url: str, repo: Path):
    """Replied leads / contacted leads: the run page, the campaigns table, the campaign
    pane, status and runs show agree (4 contacted, 1 reply, 1 conversion, 3 messages
    more to the replier: still 25 %, not a share of messages)."""
    from campaign_gitops.state import listings

    table = _cli(db_url, "status").splitlines()
    header = next(line for line in table if line.startswith("NAME"))
    (row,) = [line for line in table if line.startswith("q1 ")]
    assert row[header.index("REPLY RATE"):].startswith("- ")
    db = open_database(db_url)
    with db.reading() as s:  # nobody contacted yet: no rate, not 0 %
        assert listings.campaigns_page(s)["items"][0]["reply_rate"] is None
    _cli(db_url, "tick", "--now", "2026-11-23T09:00:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0001@example.com", "--kind", "reply",
         "--campaign", "acme/q1", "--now", "2026-11-23T10:00:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0001@example.com", "--kind", "reply",
         "--campaign", "acme/q1", "--now", "2026-11-23T10:30:00Z")
    _cli(db_url, "replies", "add", "--contact", "lead0002@example.com", "--kind", "converted",
         "--campaign", "acme/q1", "--now", "2026-11-23T11:00:00Z")
    with db.reading() as s:
        (item,) = listings.campaigns_page(s)["items"]
        detail = listings.campaign_detail(s, "acme", "q1")
        assert detail is not None
        run_id = detail["runs"][0]["id"]
        run = listings.run_detail(s, run_id)
    db.dispose()
    assert run is not None
    assert item["reply_rate"] == detail["metrics"]["reply_rate"] == 0.25
    assert run["metrics"]["reply_rate"] == 0.25
    assert (run["metrics"]["contacted"], run["metrics"]["replied"]) == (4, 1)
    shown = json.loads(_cli(db_url, "runs", "show", "acme/q1/launch", "--format", "json"))
    assert shown["metrics"]["reply_rate"] == 0.25
    assert "25.0% (1/4)" in _cli(db_url, "status")
