"""THE end-to-end run: a 5-step multi-channel campaign, 200 imported leads, ``apply``,
then ``tick --now`` at simulated times over three weeks, through the real CLI.

Asserted: the exact messages per day and channel (work hours, weekends, a holiday,
the campaign's daily limit split by allocation, lead timezones, credits running out),
skips for missing phones and LinkedIn URLs, a reply stopping a lead, an unsubscribe
suppressing a contact, out-of-office changing nothing, a pause with nothing delivered
and a resume without a burst, and the campaign metrics; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from campaign_gitops.cli.main import cli
from tests.runs.runs_helpers import base_resources, lead_row, write_leads, write_repo

START = dt.date(2026, 11, 30)  # a Monday
HOLIDAY = "2026-12-03"
CREDITS = 300
STEPS = [
    {"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"},
    {"channel": "voice", "delayDays": 2, "template": "call", "skipIf": "phone_missing"},
    {"channel": "linkedin", "delayDays": 1, "template": "connect",
     "skipIf": "linkedin_url_missing"},
    {"channel": "email", "delayDays": 3, "template": "value"},
    {"channel": "sms", "delayDays": 2, "template": "bye", "skipIf": "phone_missing"},
]


def pool_rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(200):
        over: dict[str, Any] = {"enrichment_confidence": f"{(i * 37) % 200 / 200:.3f}"}
        if i % 5 == 0:
            over["phone"] = ""
        if i % 10 == 3:
            over["linkedin_url"] = ""
        if i % 10 == 7:
            over["timezone"] = "America/New_York"
        if i % 4 == 1:
            over["company_industry"] = "retail"  # not in the segment
        rows.append(lead_row(i, **over))
    return rows


# With senders (SPEC 9): two mailboxes of 10 a day take the 16 emails a day between
# them (the caps do not bind, so the days are the same as with fromAddress).
SENDERS = [{"name": "Isla Moreno", "email": "isla@mail.acme.test", "dailyLimit": 10},
           {"name": "Owen Park", "email": "owen@mail.acme.test", "dailyLimit": 10}]


def build_repo(root: Path, status: str = "active", senders: bool = False) -> Path:
    docs = base_resources(
        campaign={"status": status, "dailyLimit": 40,
                  "runs": [{"name": "launch", "type": "run"}],
                  "allocation": {"email": 40, "voice": 20, "linkedin": 20, "sms": 20}},
        sequence=STEPS,
        segment={"industries": ["software"], "limit": 100},
        schedule={"timezone": "UTC", "workHours": {"start": "09:00", "end": "17:00"},
                  "workDays": [1, 2, 3, 4, 5], "dailyLimit": 500, "skipDates": [HOLIDAY]})
    if senders:
        docs[0]["spec"]["senders"] = SENDERS
    write_repo(root, docs)
    (root / "campaign-gitops.yaml").write_text(
        f"clientDefaults: {{subscription: active, credits: {CREDITS}}}\n")
    return root


class Cli:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> str:
        result = self.runner.invoke(cli, ["--db", self.db_url, *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--format", "json"))


def moment_at(day: int, hour: int) -> str:
    moment = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(hour),
                                 tzinfo=dt.UTC)
    return moment.isoformat()


def sent_per_day(messages: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for m in messages:
        if m["status"] == "sent":
            days[m["sent_at"][:10]][m["channel"]] += 1
    return {d: dict(sorted(c.items())) for d, c in sorted(days.items())}


@pytest.mark.slow
@pytest.mark.parametrize("senders", [False, True], ids=["fromAddress", "senders"])
def test_three_weeks_of_a_campaign(db_url: str, tmp_path: Path, senders: bool,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = build_repo(tmp_path / "repo", senders=senders)
    monkeypatch.chdir(root)
    run = Cli(db_url)
    assert "imported 200 lead(s)" in run("leads", "import",
                                         str(write_leads(tmp_path / "leads.csv", pool_rows())))
    assert "runs started" in run("apply", "--auto-approve", "--now", moment_at(0, 7))
    ((launch,),) = [[r["id"] for r in run.json("runs")["runs"] if r["name"] == "launch"]]
    ticks: list[dict[str, Any]] = []
    chosen: list[int] = []
    for day in range(21):
        for hour in (8, 9, 10, 12, 15, 18):
            if (day, hour) == (1, 10):
                chosen = _answer_three_leads(run, launch)
            if day == 7 and hour == 8:
                build_repo(root, "paused", senders)
                run("apply", "--auto-approve", "--now", moment_at(day, hour))
            if day == 9 and hour == 8:
                build_repo(root, "active", senders)
                run("apply", "--auto-approve", "--now", moment_at(day, hour))
            if hour in (9, 15):
                ticks.append(run.json("tick", "--now", moment_at(day, hour)))
    messages = run.json("communications", "--run", str(launch), "--limit", "100000")[
        "communications"]
    assert sent_per_day(messages) == EXPECTED_PER_DAY
    _check_windows_and_limits(messages)
    _check_replies(run, messages, chosen)
    _check_credits_and_metrics(run, ticks, messages, launch)
    if senders:
        _check_senders(run, launch)


def _check_senders(run: Cli, launch: int) -> None:
    """Every lead's emails from its one sender, no sender over its cap on any day, both
    used, and runs show counts the last day's use."""
    from sqlalchemy import select

    from campaign_gitops.state.db import open_database
    from campaign_gitops.state.tables import Enrollment, Message

    db = open_database(run.db_url)
    with db.session() as session:
        rows = session.execute(
            select(Message.sender, Message.sent_at, Message.enrollment_id, Enrollment.sender)
            .join(Enrollment, Enrollment.id == Message.enrollment_id)
            .where(Message.status == "sent", Message.channel == "email")).all()
    db.dispose()
    per_day: Counter[tuple[str, str]] = Counter()
    for sender, sent_at, _, kept in rows:
        assert sender is not None and sender == kept
        per_day[(sender, sent_at.date().isoformat())] += 1
    assert max(per_day.values()) <= 10
    assert {sender for sender, _ in per_day} == {"isla@mail.acme.test", "owen@mail.acme.test"}
    shown = run.json("runs", "show", str(launch), "--now", moment_at(17, 16))
    assert sum(u["sent_today"] for u in shown["senders"]) == 9  # Dec 17: 9 emails


# Hand-checkable: the daily limit 40 split 40/20/20/20 gives email 16, voice 8,
# LinkedIn 8, SMS 8 a day; nothing on weekends, on the holiday (Dec 3) or while paused
# (Dec 7-8); the backlog after the resume on Dec 9 stays within the limits; the
# 300 credits run out on Dec 17.
EXPECTED_PER_DAY = {
    "2026-11-30": {"email": 16},
    "2026-12-01": {"email": 16},
    "2026-12-02": {"email": 16, "voice": 8},
    "2026-12-04": {"email": 16, "linkedin": 8, "voice": 8},
    "2026-12-09": {"email": 16, "linkedin": 8, "voice": 8},
    "2026-12-10": {"email": 16, "linkedin": 8, "voice": 8},
    "2026-12-11": {"email": 14, "linkedin": 8, "sms": 7, "voice": 8},
    "2026-12-14": {"email": 16, "linkedin": 8, "sms": 1, "voice": 8},
    "2026-12-15": {"email": 9, "linkedin": 8, "voice": 8},
    "2026-12-16": {"linkedin": 8, "sms": 8, "voice": 8},
    "2026-12-17": {"email": 9, "linkedin": 8, "sms": 8, "voice": 4},
}


def _check_windows_and_limits(messages: list[dict[str, Any]]) -> None:
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    per_day: Counter[str] = Counter()
    for m in messages:
        if m["status"] != "sent":
            continue
        sent = dt.datetime.fromisoformat(m["sent_at"])
        per_day[m["sent_at"][:10]] += 1
        local = sent.astimezone(new_york) if _lead_number(m) % 10 == 7 else sent
        assert 9 <= local.hour < 17 and local.isoweekday() <= 5, m
        assert local.date().isoformat() != HOLIDAY
    assert max(per_day.values()) <= 40


def _lead_number(message: dict[str, Any]) -> int:
    return int(message["lead"][4:8])


def _answer_three_leads(run: Cli, launch: int) -> list[int]:
    """The first three leads emailed reply, unsubscribe and are out of office (Tue 10:00)."""
    sent = [m for m in run.json("communications", "--run", str(launch), "--status", "sent")[
        "communications"] if m["channel"] == "email"]
    first = [m["recipient"] for m in sent[:3]]
    now = moment_at(1, 10)
    reply = run.json("replies", "add", "--contact", first[0].upper(), "--kind", "reply",
                     "--now", now)
    assert (reply["matched_by"], reply["stopped"], reply["suppressed"]) == ("contact", 1, False)
    unsub = run.json("replies", "add", "--contact", first[1], "--kind", "unsubscribe",
                     "--now", now)
    assert (unsub["stopped"], unsub["suppressed"]) == (1, True)
    away = run.json("replies", "add", "--contact", first[2], "--kind", "out_of_office",
                    "--now", now)
    assert away["stopped"] == 0
    return [int(r[4:8]) for r in first]


def _check_replies(run: Cli, messages: list[dict[str, Any]], chosen: list[int]) -> None:
    by_lead: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        by_lead[_lead_number(m)].append(m)
    replied, unsubscribed, away = chosen
    # the reply stopped its lead, and the unsubscribe its lead: nothing after step 1
    for lead in (replied, unsubscribed):
        assert [(m["step"], m["status"]) for m in by_lead[lead]] == [(1, "sent")]
    # out of office changes nothing: that lead walks on
    assert len([m for m in by_lead[away] if m["status"] == "sent"]) >= 3
    replies = run.json("replies")["replies"]
    assert [(r["contact"], r["kind"], r["campaign"]) for r in replies] == [
        (f"lead{replied:04d}@example.com", "reply", "q1"),
        (f"lead{unsubscribed:04d}@example.com", "unsubscribe", "q1"),
        (f"lead{away:04d}@example.com", "out_of_office", "q1")]
    # skips: exactly the leads without a phone skip voice and SMS, those without a
    # LinkedIn URL skip LinkedIn; nobody else skips anything
    skipped = Counter(m["status_reason"] for m in messages if m["status"] == "skipped")
    assert set(skipped) == {"phone_missing", "linkedin_url_missing"}
    for m in messages:
        number = _lead_number(m)
        if m["channel"] in ("voice", "sms"):
            assert (m["status"] == "skipped") == (number % 5 == 0), m
        if m["channel"] == "linkedin":
            assert (m["status"] == "skipped") == (number % 10 == 3), m


def _check_credits_and_metrics(run: Cli, ticks: list[dict[str, Any]],
                               messages: list[dict[str, Any]], launch: int) -> None:
    sent = [m for m in messages if m["status"] == "sent"]
    assert len(sent) == CREDITS
    notes = [n for t in ticks for n in t["notes"]]
    assert "delivery stopped: client acme has no credits left" in notes
    shown = run.json("runs", "show", str(launch))
    assert shown["status_reason"] == "delivery stopped: client acme has no credits left"
    assert shown["enrollments"]["replied"] == 1
    assert shown["enrollments"]["unsubscribed"] == 1
    assert sum(shown["enrollments"].values()) == 100  # the segment's limit
    # nothing delivered after the credits ran out, however often tick runs
    after = run.json("tick", "--now", moment_at(22, 9))
    assert after["totals"].get("sent", 0) == 0
    from campaign_gitops.state.db import open_database
    from campaign_gitops.state.tables import Campaign

    db = open_database(run.db_url)
    with db.session() as session:
        (metrics,) = session.query(Campaign).all()
        contacted = len({m["lead"] for m in sent})
        assert (metrics.total_leads, metrics.leads_contacted, metrics.leads_replied,
                metrics.leads_converted) == (100, contacted, 1, 0)
        assert metrics.reply_rate == round(1 / contacted, 4)
    db.dispose()
