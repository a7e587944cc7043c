"""Senders through tick (SPEC 9): From and names per client, one sender per lead and its
thread, caps across the day, pacing over the window, DKIM, on a real SMTP server
(aiosmtpd) and both databases."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import itertools
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import dkim
import pytest
import yaml
from sqlalchemy import func, select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.runs.transport_smtp import DKIM_HEADERS
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Enrollment, Message
from tests.runs.local_servers import smtp_inbox
from tests.runs.runs_helpers import base_resources, lead_row, mkdoc, start_runs, write_leads

from .test_smtp import dkim_key  # noqa: F401  (a fixture)

MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
FRIDAY_9 = MONDAY_9 + dt.timedelta(days=4)
EMAIL_ONLY = [{"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"}]
SIGNED_BODY = ("Hello {{first_name | there}}, {{sender_name}} ({{sender_email}}) here. "
               "Unsubscribe: {{unsubscribe_url}}")


def write_clients(root: Path, docs: list[dict[str, Any]]) -> Path:
    """Each client's resources in campaigns/<client>/all.yaml."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        meta = doc["metadata"]
        by_client[meta.get("client") or meta["name"]].append(doc)
    for client, items in by_client.items():
        folder = root / "campaigns" / client
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "all.yaml").write_text("---\n".join(yaml.safe_dump(d, sort_keys=False)
                                                      for d in items))
    return root


def with_senders(docs: list[dict[str, Any]], senders: list[dict[str, Any]],
                 body: str | None = None) -> list[dict[str, Any]]:
    for doc in docs:
        if doc["kind"] == "Client":
            doc["spec"]["senders"] = senders
        if body and doc["kind"] == "Template" and doc["metadata"]["name"] == "intro":
            doc["spec"]["body"] = body
    return docs


def globex(senders: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A second client whose campaign takes the retail leads."""
    docs = [mkdoc(d["kind"], d["metadata"]["name"], d["spec"], client="globex")
            for d in base_resources(sequence=EMAIL_ONLY, segment={"industries": ["retail"]})]
    client = next(d for d in docs if d["kind"] == "Client")
    client["metadata"] = {"name": "globex"}
    client["spec"]["resources"]["emailDomain"] = "globex.test"
    campaign = next(d for d in docs if d["kind"] == "Campaign")
    campaign["metadata"]["name"] = "g1"  # start_runs knows campaigns by name
    if senders is not None:
        client["spec"]["senders"] = senders
    for doc in docs:
        if doc["kind"] == "Template" and doc["metadata"]["name"] == "intro":
            doc["spec"]["body"] = SIGNED_BODY
    return docs


def setup(tmp_path: Path, db_url: str, docs: list[dict[str, Any]],
          leads: int | list[dict[str, Any]], now: dt.datetime = MONDAY_9) -> Database:
    db = open_database(db_url)
    with db.session() as session:
        rows = [lead_row(i) for i in range(leads)] if isinstance(leads, int) else leads
        assert not import_csv(session, write_leads(tmp_path / "leads.csv", rows)).errors
    start_runs(db, write_clients(tmp_path / "repo", docs), now=now - dt.timedelta(hours=1))
    return db


def sent(db: Database) -> list[Any]:
    with db.session() as session:
        return list(session.execute(
            select(Message.recipient, Message.sender, Message.sent_at, Message.step_index,
                   Message.subject, Message.client, Message.enrollment_id, Message.status)
            .where(Message.status == "sent").order_by(Message.sent_at, Message.id)).all())


def smtp_config(port: int, **extra: Any) -> ProjectConfig:
    return ProjectConfig.model_validate({"failureThreshold": 1.0, "transports": {
        "email": {"type": "smtp", "host": "127.0.0.1", "port": port,
                  "fromAddress": "Agency <ops@agency.test>"}, **extra}})


OUTBOX = ProjectConfig.model_validate({})
ISLA = {"name": "Isla Moreno", "email": "isla@mail.acme.test", "replyTo": "team@acme.test"}
OWEN = {"name": "Owen Park", "email": "owen@mail.acme.test"}


def test_from_and_sender_names_per_client(tmp_path: Path, db_url: str) -> None:
    docs = with_senders(base_resources(sequence=EMAIL_ONLY), [ISLA], SIGNED_BODY)
    docs += globex([{"name": "Gus Grant", "email": "gus@globex.test"}])
    # two software leads (acme), two retail ones (globex)
    db = setup(tmp_path, db_url, docs, [
        lead_row(i, company_industry="software" if i < 2 else "retail") for i in range(4)])
    with smtp_inbox() as (inbox, port):
        result = tick(db, now=MONDAY_9, config=smtp_config(port))
    assert result.total("sent") == 4
    by_to = {str(m["To"]): m for _, _, m in inbox.messages}
    for i, (name, address) in enumerate(
            [("Isla Moreno", "isla@mail.acme.test")] * 2
            + [("Gus Grant", "gus@globex.test")] * 2):
        mail = by_to[f"lead{i:04d}@example.com"]
        assert mail["From"] == f"{name} <{address}>"
        assert f"{name} ({address}) here" in mail.get_content()
    assert by_to["lead0000@example.com"]["Reply-To"] == "team@acme.test"
    assert by_to["lead0002@example.com"]["Reply-To"] is None
    envelope_from = {mail_from for mail_from, _, _ in inbox.messages}
    assert envelope_from == {"isla@mail.acme.test", "gus@globex.test"}


def test_a_client_without_senders_keeps_from_address(tmp_path: Path, db_url: str) -> None:
    db = setup(tmp_path, db_url, base_resources(sequence=EMAIL_ONLY), 2)
    with smtp_inbox() as (inbox, port):
        assert tick(db, now=MONDAY_9, config=smtp_config(port)).total("sent") == 2
    assert {str(m["From"]) for _, _, m in inbox.messages} == {"Agency <ops@agency.test>"}
    assert {r.sender for r in sent(db)} == {None}


THREE_EMAILS = [
    {"channel": "email", "delayDays": 0, "template": "intro", "purpose": "intro"},
    {"channel": "email", "delayDays": 1},  # the campaign's template: a reply
    {"channel": "email", "delayDays": 1, "template": "value"},  # its own subject
]


def test_a_leads_emails_come_from_one_sender_in_one_thread(tmp_path: Path,
                                                            db_url: str) -> None:
    docs = with_senders(base_resources(sequence=THREE_EMAILS), [ISLA, OWEN])
    db = setup(tmp_path, db_url, docs, 4)
    with smtp_inbox() as (inbox, port):
        for day in range(3):
            tick(db, now=MONDAY_9 + dt.timedelta(days=day), config=smtp_config(port))
    assert len(inbox.messages) == 12
    threads: dict[str, list[Any]] = defaultdict(list)
    for _, _, mail in inbox.messages:
        threads[str(mail["To"])].append(mail)
    froms = Counter()
    for lead, mails in threads.items():
        assert len({str(m["From"]) for m in mails}) == 1, lead  # one sender per lead
        froms[str(mails[0]["From"])] += 1
        first, second, third = mails
        assert first["In-Reply-To"] is None and first["References"] is None
        assert second["In-Reply-To"] == first["Message-ID"]
        assert second["References"] == first["Message-ID"]
        assert third["In-Reply-To"] == second["Message-ID"]
        assert third["References"].split() == [first["Message-ID"], second["Message-ID"]]
        assert second["Subject"] == "Re: " + first["Subject"]
        assert third["Subject"] == "A case study"  # its step has its own template
    assert froms == {"Isla Moreno <isla@mail.acme.test>": 2, "Owen Park <owen@mail.acme.test>": 2}
    with db.session() as session:
        kept = dict(session.execute(select(Enrollment.id, Enrollment.sender)).all())
    for row in sent(db):
        assert row.sender == kept[row.enrollment_id]


def test_caps_5_and_5_with_15_leads_spill_to_the_next_workday(tmp_path: Path,
                                                               db_url: str) -> None:
    docs = with_senders(base_resources(sequence=EMAIL_ONLY),
                        [{**ISLA, "dailyLimit": 5}, {**OWEN, "dailyLimit": 5}])
    db = setup(tmp_path, db_url, docs, 15, now=FRIDAY_9)
    for hours in (0, 1, 5):  # Friday: 10 go, 5/5, the other 5 wait
        tick(db, now=FRIDAY_9 + dt.timedelta(hours=hours), config=OUTBOX)
    friday = Counter(r.sender for r in sent(db))
    assert friday == {"isla@mail.acme.test": 5, "owen@mail.acme.test": 5}
    for days in (1, 2):  # the weekend: nothing
        tick(db, now=FRIDAY_9 + dt.timedelta(days=days, hours=1), config=OUTBOX)
    assert len(sent(db)) == 10
    result = tick(db, now=FRIDAY_9 + dt.timedelta(days=3), config=OUTBOX)  # Monday
    assert result.total("sent") == 5
    monday = Counter(r.sender for r in sent(db)[10:])
    assert sum(monday.values()) == 5 and max(monday.values()) <= 5
    assert {r.recipient for r in sent(db)} == {f"lead{i:04d}@example.com" for i in range(15)}


def test_pacing_spreads_a_days_sends_over_the_window(tmp_path: Path, db_url: str) -> None:
    docs = with_senders(base_resources(sequence=EMAIL_ONLY),
                        [{**ISLA, "minGapSeconds": 1800},
                         {**OWEN, "maxPerHour": 2}])
    db = setup(tmp_path, db_url, docs, 12)
    now = MONDAY_9
    while now < MONDAY_9 + dt.timedelta(hours=8):
        tick(db, now=now, config=OUTBOX)
        now += dt.timedelta(minutes=5)
    rows = sent(db)
    assert len(rows) == 12
    times = defaultdict(list)
    for r in rows:
        at = r.sent_at if r.sent_at.tzinfo else r.sent_at.replace(tzinfo=dt.UTC)
        times[r.sender].append(at)
    isla, owen = times["isla@mail.acme.test"], times["owen@mail.acme.test"]
    # Isla: one every 30 minutes from 09:00
    assert all(b - a >= dt.timedelta(minutes=30) for a, b in itertools.pairwise(isla))
    assert isla[0] == MONDAY_9 and isla[1] == MONDAY_9 + dt.timedelta(minutes=30)
    # Owen: never more than 2 in any hour, so his sends span hours, not one burst
    for t in owen:
        assert sum(1 for u in owen if t <= u < t + dt.timedelta(hours=1)) <= 2
    assert owen[-1] - owen[0] >= dt.timedelta(hours=len(owen) // 2 - 1)
    assert max(max(isla), max(owen)) - MONDAY_9 >= dt.timedelta(hours=2)


def test_dkim_through_a_senders_named_transport(tmp_path: Path, db_url: str,
                                                dkim_key: tuple[str, bytes],  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pem, record = dkim_key
    monkeypatch.setenv("ACME_DKIM_TEST", pem)
    sender = {**ISLA, "transport": "acme-smtp",
              "dkim": {"selector": "s1", "privateKeyEnv": "ACME_DKIM_TEST"}}
    docs = with_senders(base_resources(sequence=EMAIL_ONLY), [sender])
    db = setup(tmp_path, db_url, docs, 2)
    with smtp_inbox() as (default, default_port), smtp_inbox() as (inbox, port):
        config = smtp_config(default_port, **{"acme-smtp": {
            "type": "smtp", "host": "127.0.0.1", "port": port}})
        assert tick(db, now=MONDAY_9, config=config).total("sent") == 2
    assert default.messages == []  # the sender's own transport, not the channel's
    asked = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record if name == b"s1._domainkey.mail.acme.test." else b""

    for _, _, mail in inbox.messages:
        data = mail.as_bytes(policy=email.policy.SMTP)
        assert dkim.verify(data, dnsfunc=dns)
        assert mail["List-Unsubscribe"] and mail["List-Unsubscribe-Post"]
        tags = dict(part.strip().split("=", 1)
                    for part in str(mail["DKIM-Signature"]).split(";") if "=" in part)
        signed = {h.strip().lower() for h in "".join(tags["h"].split()).split(":")}
        assert {h.decode().lower() for h in DKIM_HEADERS} <= signed
        assert tags["d"] == "mail.acme.test"
    assert set(asked) == {b"s1._domainkey.mail.acme.test."}


def test_sender_use_counts_across_campaigns(tmp_path: Path, db_url: str) -> None:
    from campaign_gitops.runs.sender_use import sender_usage

    docs = with_senders(base_resources(sequence=EMAIL_ONLY), [{**ISLA, "dailyLimit": 3}])
    second = [mkdoc("Campaign", "q2", {**next(d for d in docs if d["kind"] == "Campaign")[
        "spec"], "segment": "retail"}), mkdoc("Segment", "retail", {"industries": ["retail"]})]
    db = setup(tmp_path, db_url, docs + second, [
        lead_row(i, company_industry="software" if i % 2 else "retail") for i in range(6)])
    tick(db, now=MONDAY_9, config=OUTBOX)
    assert len(sent(db)) == 3  # one cap for both campaigns
    with db.reading() as session:
        use = sender_usage(session, MONDAY_9)
    assert [(u.client, u.email, u.sent_today, u.daily_limit) for u in use] == [
        ("acme", "isla@mail.acme.test", 3, 3)]


def test_status_and_runs_show_give_sender_use_today(tmp_path: Path, db_url: str) -> None:
    import json

    from click.testing import CliRunner

    from campaign_gitops.cli.main import cli

    docs = with_senders(base_resources(sequence=EMAIL_ONLY),
                        [{**ISLA, "dailyLimit": 5}, {**OWEN, "dailyLimit": 5}])
    db = setup(tmp_path, db_url, docs, 12)
    tick(db, now=MONDAY_9, config=OUTBOX)
    db.dispose()
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    now = ["--now", (MONDAY_9 + dt.timedelta(hours=2)).isoformat()]
    shown = json.loads(run("runs", "show", "acme/q1/launch", "--format", "json", *now))
    assert [(u["email"], u["sent_today"], u["daily_limit"]) for u in shown["senders"]] == [
        ("isla@mail.acme.test", 5, 5), ("owen@mail.acme.test", 5, 5)]
    text = run("runs", "show", "acme/q1/launch", *now)
    assert ("senders:     Isla Moreno <isla@mail.acme.test> 5/5 today, "
            "Owen Park <owen@mail.acme.test> 5/5 today") in text
    status = json.loads(run("--dir", str(tmp_path / "repo"), "status", "--format", "json",
                            *now))
    assert [(u["client"], u["email"], u["sent_today"]) for u in status["senders"]] == [
        ("acme", "isla@mail.acme.test", 5), ("acme", "owen@mail.acme.test", 5)]
    text = run("--dir", str(tmp_path / "repo"), "status", *now)
    assert "senders today (sent/cap):" in text and "Owen Park <owen@mail.acme.test>  5/5" in text
    tomorrow = ["--now", (MONDAY_9 + dt.timedelta(days=1)).isoformat()]
    status = json.loads(run("--dir", str(tmp_path / "repo"), "status", "--format", "json",
                            *tomorrow))
    assert {u["sent_today"] for u in status["senders"]} == {0}


def test_web_pane_and_run_page_list_the_senders(tmp_path: Path) -> None:
    import re

    from fastapi.testclient import TestClient

    from campaign_gitops.config.project import Project
    from campaign_gitops.web.app import create_app

    docs = with_senders(base_resources(sequence=EMAIL_ONLY),
                        [{**ISLA, "dailyLimit": 5, "minGapSeconds": 60},
                         {**OWEN, "dailyLimit": 7}])
    db = setup(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", docs, 3)
    tick(db, now=MONDAY_9, config=OUTBOX)
    root = tmp_path / "repo"
    with db.reading() as s:
        sent = dict(s.execute(select(Message.sender, func.count()).where(
            Message.status == "sent").group_by(Message.sender)).all())
    isla, owen = sent.get("isla@mail.acme.test", 0), sent.get("owen@mail.acme.test", 0)
    assert isla + owen == 3

    def app_at(when: dt.datetime) -> TestClient:
        return TestClient(create_app(db, project=Project(root=root,
                                                         resources_dir=root / "campaigns"),
                                     plan_in_background=False, clock=lambda: when))

    client = app_at(MONDAY_9 + dt.timedelta(hours=1))  # the same day: today's use
    pane = client.get("/campaigns/acme/q1", headers={"hx-request": "true"})
    assert pane.status_code == 200
    text = re.sub(r"\s+", " ", pane.text)
    assert (f"<b>Isla Moreno</b> &lt;isla@mail.acme.test&gt; · {isla}/5 today · gap 60s"
            in text), text
    assert f"<b>Owen Park</b> &lt;owen@mail.acme.test&gt; · {owen}/7 today" in text
    detail = client.get("/api/v1/campaigns/acme/q1").json()
    assert [(u["email"], u["sent_today"], u["daily_limit"]) for u in detail["senders"]] == [
        ("isla@mail.acme.test", isla, 5), ("owen@mail.acme.test", owen, 7)]
    page = re.sub(r"\s+", " ", client.get("/runs/1").text)
    assert "senders today (sent/cap)" in page
    assert f"<b>Owen Park</b> &lt;owen@mail.acme.test&gt; {owen}/7" in page
    tomorrow = app_at(MONDAY_9 + dt.timedelta(days=1)).get("/api/v1/campaigns/acme/q1")
    assert {u["sent_today"] for u in tomorrow.json()["senders"]} == {0}
    db.dispose()


def test_export_writes_senders_back_and_round_trips(tmp_path: Path, sqlite_url: str) -> None:
    import shutil

    from click.testing import CliRunner

    from campaign_gitops.cli.main import cli

    docs = with_senders(base_resources(sequence=EMAIL_ONLY),
                        [{**ISLA, "dailyLimit": 30, "maxPerHour": 10}, OWEN])
    for doc in docs:
        if doc["kind"] == "Campaign":
            doc["spec"]["senders"] = [ISLA["email"]]
    root = write_clients(tmp_path, docs)
    (root / "schemas").mkdir()
    (root / "schemas/resource.json").write_text("{}")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--db", sqlite_url, "--dir", str(root), *args],
                               catch_exceptions=False)
        return result.exit_code, result.output

    assert run("apply", "--auto-approve", "--now", MONDAY_9.isoformat())[0] == 0
    shutil.rmtree(root / "campaigns")
    (root / "campaigns").mkdir()
    code, out = run("export")
    assert code == 0, out
    exported = "".join(p.read_text() for p in sorted((root / "campaigns").rglob("*.yaml")))
    assert "senders:" in exported and "isla@mail.acme.test" in exported
    assert "maxPerHour: 10" in exported and "replyTo: team@acme.test" in exported
    assert run("lint")[0] == 0
    code, out = run("plan", "--detailed-exitcode")
    assert code == 0, out


def test_preview_writes_from_the_sender_a_new_lead_gets(tmp_path: Path) -> None:
    from campaign_gitops.config.bundle import load_bundle
    from campaign_gitops.config.resolved import resolve_with_hash
    from campaign_gitops.runs.preview import preview

    docs = with_senders(base_resources(sequence=EMAIL_ONLY), [ISLA, {**OWEN, "dailyLimit": 90}],
                        SIGNED_BODY)
    root = write_clients(tmp_path, docs)
    bundle = load_bundle(root / "campaigns", root)
    (entry,) = bundle.of_kind("Campaign")
    config, _ = resolve_with_hash(entry, bundle)
    (message,) = preview("q1", config, [lead_row(1)]).messages
    assert message.sender == "Owen Park <owen@mail.acme.test>"  # the most room
    assert "Owen Park (owen@mail.acme.test) here" in message.body
