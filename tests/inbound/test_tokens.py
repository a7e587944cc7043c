"""Signed unsubscribe tokens (rotation, forgery), publicUrl's rule, and the links tick
puts in messages: the body's link, List-Unsubscribe (+ mailto), SMS opt-out words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.config.project_file import load_project_file
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.tokens import Signer, Unsubscribe, links_for, token_of
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.runs.transport_smtp import SmtpTransport
from campaign_gitops.runs.types import OutgoingMessage
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Message
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

WHAT = Unsubscribe("acme", "jo@example.com", "12:0")


def test_first_key_signs_every_key_verifies():
    old = Signer(["old-key"])
    rotated = Signer(["new-key", "old-key"])
    token = old.sign(WHAT)
    assert rotated.verify(token) == WHAT  # links already sent keep working
    fresh = rotated.sign(WHAT)
    assert Signer(["new-key"]).verify(fresh) == WHAT  # signed by the first key
    assert old.verify(fresh) is None
    assert Signer(["new-key"]).verify(token) is None  # the old key dropped: void


def test_forged_and_tampered_tokens_do_not_verify():
    signer = Signer(["k1"])
    token = signer.sign(WHAT)
    assert Signer(["attacker"]).verify(Signer(["attacker"]).sign(WHAT)) == WHAT
    assert signer.verify(Signer(["attacker"]).sign(WHAT)) is None
    body, _, sig = token.rpartition(".")
    assert signer.verify(body + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")) is None
    assert signer.verify("") is None and signer.verify("not-a-token") is None
    test = Unsubscribe("acme", "qa@acme.test", "1:0", test=True)
    assert signer.verify(signer.sign(test)) == test


def test_public_url_is_https_unless_loopback(tmp_path: Path):
    (tmp_path / "campaign-gitops.yaml").write_text("prune: false\npublicUrl: "
                                                   "http://outreach.example.com\n")
    loaded = load_project_file(tmp_path)
    assert not loaded.ok
    [finding] = loaded.findings
    assert (finding.location.line, finding.location.column) == (2, 12)
    assert "must use https://" in finding.message
    for fine in ("https://outreach.example.com/", "http://127.0.0.1:8080",
                 "http://localhost:9000"):
        (tmp_path / "campaign-gitops.yaml").write_text(f"publicUrl: {fine}\n")
        assert load_project_file(tmp_path).require().public_url == fine.rstrip("/")


def test_public_url_without_a_signing_key_is_an_error():
    config = ProjectConfig(public_url="https://o.example.com")
    with pytest.raises(CampaignGitopsError, match="CAMPAIGN_GITOPS_SIGNING_KEY is not"):
        links_for(config, {})
    assert links_for(ProjectConfig(), {}) is None


CONFIG = ProjectConfig.model_validate({
    "publicUrl": "https://outreach.example.com",
    "inbound": {"mailboxes": [{"name": "replies", "host": "imap.example.com",
                               "usernameEnv": "IMAP_USER", "passwordEnv": "IMAP_PASSWORD",
                               "address": "replies@acme.test"}]}})


def test_tick_puts_signed_links_in_emails_and_stop_words_in_sms(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", "s3cret,older")
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv", [lead_row(1)])).errors
    sequence = [{"channel": "email", "delayDays": 0, "template": "intro"},
                {"channel": "sms", "delayDays": 0, "template": "call"}]
    write_repo(tmp_path / "repo", base_resources(sequence=sequence,
                                                 campaign={"allocation": None}))
    start_runs(db, tmp_path / "repo", now=now)
    tick(db, now=now, config=CONFIG)
    tick(db, now=now + dt.timedelta(minutes=5), config=CONFIG)
    with db.reading() as s:
        sent = {m.channel: m for m in s.execute(select(Message)).scalars()}
    db.dispose()
    email = sent["email"]
    link = next(w for w in email.body.split() if w.startswith("https://outreach.example.com/u/"))
    what = Signer(["s3cret"]).verify(token_of(link) or "")
    assert what == Unsubscribe("acme", "lead0001@example.com", email.idempotency_key)
    assert sent["sms"].body.endswith("Reply STOP to opt out")
    smtp = SmtpTransport(host="127.0.0.1", port=25, from_address="sales@acme.test",
                         unsubscribe_mailbox="replies@acme.test")
    built = smtp.build(OutgoingMessage(
        idempotency_key=email.idempotency_key, channel="email", recipient=email.recipient,
        subject=email.subject, body=email.body, client="acme", campaign="q1",
        metadata={"unsubscribe_url": link}))
    token = token_of(link)
    assert built["List-Unsubscribe"] == (
        f"<{link}>, <mailto:replies@acme.test?subject=unsubscribe%20{token}>")
    assert built["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
