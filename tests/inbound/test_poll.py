"""The daemon's inbound poll against dovecot: records, then a failing mailbox (bad
password) backs off and shows in /readyz and /metrics, and recovers."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from campaign_gitops.inbound.tokens import Signer
from campaign_gitops.reconcile.events import EventLog
from campaign_gitops.reconcile.health import Health, HealthServer, Metrics
from campaign_gitops.reconcile.inbound_poll import InboundPoller
from campaign_gitops.state.tables import Message, Reply
from tests.inbound import mails
from tests.inbound.dovecot import Dovecot, append
from tests.inbound.recipients_world import KEY, NOW, build, config


def test_poll_backs_off_reports_and_recovers(db_url: str, tmp_path: Path,
                                             imap_server: Dovecot,
                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    monkeypatch.setenv("IMAP_USER", imap_server.user)
    monkeypatch.setenv("IMAP_PASSWORD", "wrong")
    cfg = config(mailbox={"name": "replies", "host": imap_server.host,
                          "port": imap_server.port, "tls": "none", "usernameEnv": "IMAP_USER",
                          "passwordEnv": "IMAP_PASSWORD"})
    world = build(tmp_path, db_url, cfg, leads=1)
    with world.db.reading() as s:
        sent = s.execute(select(Message.transport_message_id).where(
            Message.recipient == "lead0000@example.com")).scalar()
    append(imap_server, [mails.reply("lead0000@example.com", f"<{sent}>", "<r0@x>")])
    # The daemon loop's database probe answered (readiness needs it; the loop is not run here).
    health = Health(role="leader", last_ok=True, db_answered=0.0, clock=lambda: 0.0)
    metrics = Metrics()
    poller = InboundPoller(world.db, list(cfg.inbound.mailboxes), interval=60.0,
                           signer=Signer([KEY]), health=health, metrics=metrics,
                           log=EventLog("json", stream=io.StringIO()))
    server = HealthServer(health, metrics, 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        poller.poll_once(100.0, NOW)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        box = ready.json()["mailboxes"]["replies"]
        assert box["ok"] is False and box["attempts"] == 1 and "login" in box["error"]
        assert 'campaign_gitops_mailbox_failures{mailbox="replies"} 1.0' in \
            httpx.get(f"{base}/metrics").text
        first_retry = poller.next_due()
        assert first_retry > 100.0
        poller.poll_once(first_retry, NOW)  # still failing: a longer wait
        assert poller.next_due() - first_retry > first_retry - 100.0
        assert health.ready()[1]["mailboxes"]["replies"]["attempts"] == 2
        monkeypatch.setenv("IMAP_PASSWORD", imap_server.password)
        poller.poll_once(poller.next_due() - 0.5, NOW)  # not due yet: nothing tried
        assert health.ready()[1]["mailboxes"]["replies"]["attempts"] == 2
        poller.poll_once(poller.next_due(), NOW + dt.timedelta(minutes=5))
        assert httpx.get(f"{base}/readyz").status_code == 200
        text = httpx.get(f"{base}/metrics").text
        assert 'campaign_gitops_mailbox_failures{mailbox="replies"} 0.0' in text
        assert 'campaign_gitops_inbound_mails_total{kind="reply",mailbox="replies"} 1.0' in text
        with world.db.reading() as s:
            assert s.execute(select(func.count()).select_from(Reply)).scalar() == 1
    finally:
        server.stop()
        world.db.dispose()
