"""Inbound mail against a real IMAP server (dovecot started by the test): a reply with
In-Reply-To, DSN permanent and transient, an ARF complaint, an auto-reply, an
unsubscribe by mail and an unrelated mail; fetched twice, recorded once; what each does
to the sequence and the suppressions; a failing mailbox."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from campaign_gitops.cli.main import cli
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.inbound.imap import MailboxError
from campaign_gitops.inbound.tokens import Signer
from campaign_gitops.runs.inbound import fetch_mailbox
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.tables import Enrollment, Lead, Message, Reply
from tests.inbound import mails
from tests.inbound.dovecot import Dovecot, append, folder_count
from tests.inbound.recipients_world import KEY, NOW, World, build, config, path_of

PROCESSED = "campaign-gitops/processed"


def _config(server: Dovecot) -> ProjectConfig:
    return config(mailbox={"name": "replies", "host": server.host, "port": server.port,
                           "tls": "none", "usernameEnv": "IMAP_USER",
                           "passwordEnv": "IMAP_PASSWORD", "address": "replies@acme.test"})


@pytest.fixture
def world(db_url: str, tmp_path: Path, imap_server: Dovecot,
          monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    monkeypatch.setenv("IMAP_USER", imap_server.user)
    monkeypatch.setenv("IMAP_PASSWORD", imap_server.password)
    return build(tmp_path, db_url, _config(imap_server), leads=7)


def _sent_ids(world: World) -> dict[str, str]:
    with world.db.reading() as s:
        rows = s.execute(select(Message.recipient, Message.transport_message_id).where(
            Message.channel == "email", Message.status == "sent")).all()
    return {r: f"<{(t or '').strip('<>')}>" for r, t in rows}


def _states(world: World) -> dict[str, str]:
    with world.db.reading() as s:
        return dict(s.execute(select(Lead.email, Enrollment.state).join(
            Enrollment, Enrollment.lead_id == Lead.id)).all())


def test_fetch_classifies_records_once_and_moves(world: World, imap_server: Dovecot,
                                                 tmp_path: Path):
    sent = _sent_ids(world)
    lead = [f"lead{i:04d}@example.com" for i in range(7)]
    token = path_of(world.links[lead[5]]).removeprefix("/u/")
    inbox = [
        mails.reply(f"Lead Zero <{lead[0]}>", sent[lead[0]], "<reply-0@example.com>"),
        mails.auto_reply(lead[1], sent[lead[1]], "<ooo-1@example.com>"),
        mails.dsn(lead[2], sent[lead[2]], "<dsn-2@mx.example.com>", permanent=True),
        mails.dsn(lead[3], sent[lead[3]], "<dsn-3@mx.example.com>", permanent=False),
        mails.arf(lead[4], sent[lead[4]], "<arf-4@isp.example.net>"),
        mails.unsubscribe_by_mail(lead[5], token, "<unsub-5@example.com>"),
        mails.unrelated("<news@unknown.example.org>"),
    ]
    append(imap_server, inbox)
    box = world.config.inbound.mailboxes[0]
    at = NOW + dt.timedelta(hours=1)
    first = fetch_mailbox(world.db, box, now=at, signer=Signer([KEY]))
    assert (first.seen, first.recorded, first.duplicates, first.unmatched, first.moved) == (
        7, 6, 0, 1, 6)
    assert dict(first.kinds) == {"reply": 1, "out_of_office": 1, "bounce": 1,
                                 "soft_bounce": 1, "complaint": 1, "unsubscribe": 1}
    assert folder_count(imap_server, "INBOX") == 1  # the unrelated mail stays
    assert folder_count(imap_server, PROCESSED.replace("/", ".")) == 6
    # the same reply delivered again (or a crash before the move): recorded once
    append(imap_server, [inbox[0]])
    second = fetch_mailbox(world.db, box, now=at, signer=Signer([KEY]))
    assert (second.seen, second.recorded, second.duplicates, second.unmatched,
            second.moved) == (2, 0, 1, 1, 1)
    with world.db.reading() as s:
        replies = sorted(s.execute(select(Reply.contact, Reply.kind, Reply.message_id.is_not(
            None))).all())
        assert replies == sorted([
            (lead[0], "reply", True), (lead[1], "out_of_office", True),
            (lead[2], "bounce", True), (lead[3], "soft_bounce", True),
            (lead[4], "complaint", True), (lead[5], "unsubscribe", True)])
        blocked = supp.suppressed(s, "acme", lead, "email")
    assert blocked == {lead[2], lead[4], lead[5]}
    states = _states(world)
    assert states[lead[0]] == "replied"
    assert states[lead[1]] == "active"  # out of office: the sequence goes on
    assert states[lead[2]] == "bounced"
    assert states[lead[3]] == "active"  # a transient bounce is only recorded
    assert states[lead[4]] == "unsubscribed" and states[lead[5]] == "unsubscribed"
    # two days later the next email goes only to those still in the sequence
    later = NOW + dt.timedelta(days=2, minutes=30)
    tick(world.db, now=later, config=world.config)
    with world.db.reading() as s:
        third = {m.recipient for m in s.execute(select(Message).where(
            Message.step_index == 2, Message.status == "sent")).scalars()}
    assert third == {lead[1], lead[3], lead[6], "qa@acme.test"}  # and the test run


def test_replies_fetch_cli_and_a_failing_mailbox(world: World, imap_server: Dovecot,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    sent = _sent_ids(world)
    append(imap_server, [mails.reply("lead0000@example.com", sent["lead0000@example.com"],
                                     "<r@example.com>")])
    (tmp_path / "repo" / "campaign-gitops.yaml").write_text(json.dumps(
        world.config.model_dump(by_alias=True, exclude_none=True)))
    monkeypatch.chdir(tmp_path / "repo")
    result = CliRunner().invoke(cli, ["--db", world.db.url, "replies", "fetch", "--mailbox",
                                      "replies", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["mailboxes"][0]["kinds"] == {"reply": 1}
    result = CliRunner().invoke(cli, ["--db", world.db.url, "replies", "fetch", "--mailbox",
                                      "nope"])
    assert result.exit_code != 0 and "no mailbox named 'nope'" in result.output
    monkeypatch.setenv("IMAP_PASSWORD", "wrong")
    with pytest.raises(MailboxError, match="mailbox replies: login as replies failed"):
        fetch_mailbox(world.db, world.config.inbound.mailboxes[0], now=NOW)
    result = CliRunner().invoke(cli, ["--db", world.db.url, "replies", "fetch"])
    assert result.exit_code == 1 and "login as replies failed" in result.output
