"""Send-time bounces through a real SMTP server (aiosmtpd): 5xx on RCPT suppresses the
contact for the client and stops its sequence; 4xx is recorded and retried. The mail
that does go out carries the signed List-Unsubscribe link, its mailto: and the RFC 8058
header."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.inbound.tokens import Signer, token_of
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Enrollment, Lead, Message, Reply
from tests.inbound.recipients_world import KEY, NOW, SEQUENCE, config
from tests.runs.local_servers import Inbox, smtp_inbox
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

HARD, SOFT, FINE = "lead0000@example.com", "lead0001@example.com", "lead0002@example.com"


class BusyInbox(Inbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address == SOFT:
            return "450 4.2.1 mailbox busy, try later"
        return await super().handle_RCPT(server, session, envelope, address, options)


def test_rcpt_refusals_at_send_time(db_url: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    db = open_database(db_url)
    with db.session() as s:
        assert not import_csv(s, write_leads(tmp_path / "leads.csv",
                                             [lead_row(i) for i in range(3)])).errors
    write_repo(tmp_path / "repo", base_resources(sequence=[SEQUENCE[0], SEQUENCE[2]],
                                                 campaign={"allocation": None}))
    start_runs(db, tmp_path / "repo", now=NOW)
    with smtp_inbox() as (plain, port):
        busy = BusyInbox()  # this server refuses HARD for good and SOFT for now
        busy.refuse = {HARD}
        plain.handle_RCPT = busy.handle_RCPT  # type: ignore[method-assign]
        base = config(mailbox={"name": "replies", "host": "imap.acme.test",
                               "usernameEnv": "U", "passwordEnv": "P",
                               "address": "replies@acme.test"})
        cfg = ProjectConfig.model_validate({
            **base.model_dump(by_alias=True, exclude_none=True), "failureThreshold": 1.0,
            "transports": {"email": {"type": "smtp", "host": "127.0.0.1", "port": port,
                                     "fromAddress": "sales@mail.acme.test"}}})
        tick(db, now=NOW, config=cfg)
        with db.reading() as s:
            assert supp.suppressed(s, "acme", [HARD, SOFT, FINE], "email") == {HARD}
            kinds = sorted(s.execute(select(Reply.contact, Reply.kind)).all())
            assert kinds == [(HARD, "bounce"), (SOFT, "soft_bounce")]
            states = dict(s.execute(select(Lead.email, Enrollment.state).join(
                Enrollment, Enrollment.lead_id == Lead.id)).all())
            assert states == {HARD: "bounced", SOFT: "active", FINE: "active"}
            status = dict(s.execute(select(Message.recipient, Message.status)).all())
            assert status == {HARD: "failed", SOFT: "failed", FINE: "sent"}
        [(_, rcpts, mail)] = plain.messages
        assert rcpts == [FINE]
        link = mail["List-Unsubscribe"].split(",")[0].strip("<> ")
        token = token_of(link)
        assert Signer([KEY]).verify(token or "") is not None
        assert mail["List-Unsubscribe"] == (
            f"<{link}>, <mailto:replies@acme.test?subject=unsubscribe%20{token}>")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # the busy mailbox accepts later: the retry goes out, nothing more is suppressed
        busy_fixed = Inbox()
        busy_fixed.refuse = {HARD}
        plain.handle_RCPT = busy_fixed.handle_RCPT  # type: ignore[method-assign]
        tick(db, now=NOW + dt.timedelta(minutes=10), config=cfg)
    with db.reading() as s:
        status = dict(s.execute(select(Message.recipient, Message.status)).all())
        assert status[SOFT] == "sent" and status[HARD] == "failed"
        assert supp.suppressed(s, "acme", [SOFT]) == set()
    db.dispose()
