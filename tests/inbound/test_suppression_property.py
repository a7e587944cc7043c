"""Property: after any interleaving of unsubscribes (the one-click POST), SMS STOPs (the
signed webhook), bounces (an inbound DSN), approvals and ticks, no message is delivered
to a contact after its suppression committed.

Two campaigns of one client: ``q1`` reviewed by rules (messages go out at once), ``q2``
by a human (messages wait until an approval, then go out through the pending path).
SQLite; each example builds its own database.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from campaign_gitops.inbound.tokens import Signer, Unsubscribe
from campaign_gitops.inbound.webhook import signature
from campaign_gitops.runs.inbound import record_mail
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.review import decide
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import open_database
from campaign_gitops.state.tables import Enrollment, Message
from campaign_gitops.web.app import create_app
from tests.inbound import mails
from tests.inbound.recipients_world import HOOK_SECRET, KEY, NOW, config
from tests.runs.runs_helpers import (
    base_resources,
    lead_row,
    mkdoc,
    start_runs,
    write_leads,
    write_repo,
)

LEADS = 4
STEPS = [{"channel": "email", "delayDays": 0, "template": "intro"},
         {"channel": "sms", "delayDays": 0, "template": "bye"},
         {"channel": "email", "delayDays": 1, "template": "value"},
         {"channel": "sms", "delayDays": 1, "template": "bye"}]
lead = st.integers(0, LEADS - 1)
operation = st.one_of(
    st.tuples(st.just("unsubscribe"), lead),
    st.tuples(st.just("stop"), lead),
    st.tuples(st.just("bounce"), lead),
    st.tuples(st.just("approve"), st.integers(0, 3)),
    st.tuples(st.just("tick"), st.integers(1, 900)),
)


def _world(root: Path):  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{root / 'state.db'}")
    with db.session() as s:
        assert not import_csv(s, write_leads(root / "leads.csv",
                                             [lead_row(i) for i in range(LEADS)])).errors
    docs = base_resources(sequence=STEPS, campaign={"allocation": None,
                                                    "leadAllocationPct": 50})
    q1 = docs[-1]
    q2 = json.loads(json.dumps(q1))
    q2["metadata"]["name"] = "q2"
    q2["spec"]["reviewer"] = "desk"
    q2["spec"]["leadAllocationPct"] = 100
    docs += [mkdoc("Reviewer", "desk", {"type": "human"}), q2]
    write_repo(root / "repo", docs)
    start_runs(db, root / "repo", now=NOW)
    return db


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_GITOPS_SIGNING_KEY", KEY)
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(operation, min_size=3, max_size=14))
def test_nobody_is_sent_to_after_their_suppression_committed(ops: list[tuple[str, int]]):
    cfg = config(per_minute=100000)
    with tempfile.TemporaryDirectory() as tmp:
        db = _world(Path(tmp))
        web = TestClient(create_app(db, config=cfg))
        signer = Signer([KEY])
        now = NOW + dt.timedelta(minutes=1)
        blocked: dict[tuple[str, str], dt.datetime] = {}  # (contact, channel) -> since
        for op, arg in [("tick", 1), *ops, ("approve", 3), ("tick", 60 * 24),
                        ("tick", 60 * 24)]:
            now += dt.timedelta(minutes=1)
            email, phone = f"lead{arg:04d}@example.com", f"+1555{arg:07d}"
            if op == "unsubscribe":
                token = signer.sign(Unsubscribe("acme", email, "link"))
                assert web.post(f"/u/{token}").status_code == 200
                for channel in ("email", "sms"):
                    blocked.setdefault((email, channel), now)
            elif op == "stop":
                body = json.dumps({"channel": "sms", "from": phone, "body": "STOP"}).encode()
                answer = web.post("/hooks/inbound", content=body, headers={
                    "X-Campaign-Gitops-Signature": signature(HOOK_SECRET, body)})
                assert answer.status_code == 200
                if answer.json()["suppressed_for"]:  # the number was written to
                    blocked.setdefault((phone, "sms"), now)
            elif op == "bounce":
                raw = mails.dsn(email, "<unknown@x>", f"<dsn-{arg}-{now.timestamp()}@mx>",
                                permanent=True)
                outcome, _ = record_mail(db, "replies", raw, now=now, signer=signer)
                if outcome == "recorded":
                    for channel in ("email", "sms"):
                        blocked.setdefault((email, channel), now)
            elif op == "approve":
                with db.session() as s:
                    ids = list(s.execute(select(Message.id).where(
                        Message.status == "pending_review").order_by(Message.id)).scalars())
                    decide(s, ids[: arg + 1], approve=True, now=now)
            else:
                now += dt.timedelta(minutes=arg)
                tick(db, now=now, config=cfg)
            with db.reading() as s:
                sent = s.execute(select(Message.recipient, Message.channel, Message.sent_at)
                                 .where(Message.status == "sent")).all()
            for recipient, channel, sent_at in sent:
                since = blocked.get((recipient, channel))
                assert since is None or sent_at < since, (recipient, channel, sent_at, since)
        with db.reading() as s:  # something did go out: the property is not vacuous
            assert s.execute(select(Enrollment.id)).first() is not None
        db.dispose()
