"""The one send-time gate (SPEC section 7), looked at just before each send.

Through the real human-review path and a real HTTP receiver: a message approved after
its lead unsubscribed or replied is skipped with the reason; a halt and a paused campaign
hold approved messages until resume; and an unsubscribe committed while a batch is going
out stops the very next message of that contact (the gate runs in the transaction that
marks each message ``sending``). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.suppressions import suppress
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.replies import ReplyInput, add_reply
from campaign_gitops.runs.review import decide
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Campaign, Client, Message
from tests.runs.local_servers import http_provider
from tests.runs.runs_helpers import base_resources, lead_row, start_runs, write_leads, write_repo

MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
EMAIL = [{"channel": "email", "delayDays": 0, "template": "intro"}]


def _setup(tmp_path: Path, db_url: str, url: str, leads: int,
           **resources: Any) -> tuple[Database, ProjectConfig]:
    db = open_database(db_url)
    with db.session() as session:
        assert not import_csv(session, write_leads(
            tmp_path / "leads.csv", [lead_row(i) for i in range(leads)])).errors
    root = write_repo(tmp_path / "repo", base_resources(sequence=EMAIL, **resources))
    config = {"transports": {"email": {"type": "webhook", "url": url}}}
    (root / "campaign-gitops.yaml").write_text(yaml.safe_dump(config))
    start_runs(db, root, now=MONDAY_9 - dt.timedelta(hours=1))
    return db, ProjectConfig.model_validate(config)


def _messages(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.session() as session:
        return {r.recipient: (r.status, r.status_reason) for r in session.execute(
            select(Message.recipient, Message.status, Message.status_reason))}


def _received(provider: Any) -> list[str]:
    return [json.loads(body)["recipient"] for _, body in provider.requests]


def test_approval_after_unsubscribe_or_reply_is_skipped(db_url: str, tmp_path: Path) -> None:
    with http_provider() as provider:
        db, config = _setup(tmp_path, db_url, provider.url, 3, reviewer={"type": "human"})
        tick(db, now=MONDAY_9, config=config)
        with db.session() as session:
            ids = list(session.execute(select(Message.id).order_by(Message.id)).scalars())
            add_reply(session, ReplyInput(contact="lead0000@example.com", kind="unsubscribe"),
                      now=MONDAY_9)
            add_reply(session, ReplyInput(contact="lead0001@example.com", kind="reply"),
                      now=MONDAY_9)
            decide(session, ids, approve=True, now=MONDAY_9 + dt.timedelta(hours=1))
        result = tick(db, now=MONDAY_9 + dt.timedelta(hours=2), config=config)
        assert result.total("sent") == 1
        assert _received(provider) == ["lead0002@example.com"]
    messages = _messages(db)
    assert messages["lead0000@example.com"] == ("skipped", "enrollment stopped: unsubscribed")
    assert messages["lead0001@example.com"] == ("skipped", "enrollment stopped: replied")


def test_halt_and_pause_hold_approved_messages_until_resume(db_url: str,
                                                            tmp_path: Path) -> None:
    with http_provider() as provider:
        db, config = _setup(tmp_path, db_url, provider.url, 2, reviewer={"type": "human"})
        tick(db, now=MONDAY_9, config=config)
        with db.session() as session:
            ids = list(session.execute(select(Message.id)).scalars())
            decide(session, ids, approve=True, now=MONDAY_9)
            session.execute(update(Client).values(halted=True))
        assert tick(db, now=MONDAY_9 + dt.timedelta(hours=1), config=config).total("sent") == 0
        with db.session() as session:
            session.execute(update(Client).values(halted=False))
            session.execute(update(Campaign).values(status="paused"))
        assert tick(db, now=MONDAY_9 + dt.timedelta(hours=2), config=config).total("sent") == 0
        assert provider.requests == []
        with db.session() as session:
            session.execute(update(Campaign).values(status="active"))
        assert tick(db, now=MONDAY_9 + dt.timedelta(hours=3), config=config).total("sent") == 2
    assert {status for status, _ in _messages(db).values()} == {"sent"}


def test_an_unsubscribe_during_a_batch_stops_the_next_message(db_url: str,
                                                              tmp_path: Path) -> None:
    """While the first message is at the receiver, the second lead unsubscribes (committed
    by another connection): the gate in the second message's mark transaction sees it."""
    with http_provider() as provider:
        db, config = _setup(tmp_path, db_url, provider.url, 3)

        def unsubscribe_the_next(headers: dict[str, str], body: bytes) -> None:
            if json.loads(body)["recipient"] == "lead0002@example.com":  # sent first: best
                with db.session() as session:
                    suppress(session, "acme", "lead0001@example.com", reason="unsubscribe",
                             source="test", actor="test", now=MONDAY_9)

        provider.on_request = unsubscribe_the_next
        result = tick(db, now=MONDAY_9, config=config)
        received = _received(provider)
    assert "lead0001@example.com" not in received and len(received) == 2
    assert result.total("skipped") == 1
    assert _messages(db)["lead0001@example.com"] == ("skipped", "suppressed")
