"""Property (SPEC section 7): whatever the interleaving of ticks (the clock moving on),
replies, unsubscribes, human approvals, campaign pauses and resumes and halts and
resumes, nothing is ever delivered to a suppressed contact or a stopped lead, by a
paused campaign or a halted client, twice for one (enrollment, step), or outside the
sending window.

What was delivered is what real transports recorded, not what the database says: email
goes to the outbox transport's JSONL file (the grouped path: inserted ``sending``, gated
in the insert transaction), SMS to a local HTTP receiver through the webhook transport
(one commit per message). Two campaigns of one client: ``q1`` reviewed by rules (its
messages go at once), ``q2`` by a human (its messages wait for an approval, then go
through the pending path). The state machine keeps its own model of who may receive what
and checks every new delivery against the model as it was when that tick ran.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, update

from campaign_gitops.cli.main import cli
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.suppressions import suppress
from campaign_gitops.runs.leads import import_csv
from campaign_gitops.runs.replies import ReplyInput, add_reply
from campaign_gitops.runs.review import decide
from campaign_gitops.runs.tick import tick
from campaign_gitops.state.db import Database, open_database
from campaign_gitops.state.tables import Campaign, Lead, Message, Resource
from tests.runs.local_servers import Provider
from tests.runs.runs_helpers import (
    base_resources,
    lead_row,
    mkdoc,
    start_runs,
    write_leads,
    write_repo,
)

LEADS = 4
START = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # a Monday, before the window opens
OPEN = START + dt.timedelta(minutes=70)  # each example starts here, after a first tick
STEPS = [{"channel": "email", "delayDays": 0, "template": "intro"},
         {"channel": "sms", "delayDays": 0, "template": "bye"},
         {"channel": "email", "delayDays": 1, "template": "value"},
         {"channel": "sms", "delayDays": 1, "template": "bye"}]
CAMPAIGNS = ("q1", "q2")
def _in_window(at: dt.datetime) -> bool:
    """The schedule of runs_helpers: weekdays 09:00-17:00 UTC (SMS quiet hours are wider)."""
    return at.isoweekday() <= 5 and dt.time(9) <= at.time() < dt.time(17)


def _build_world(url: str, root: Path) -> None:
    """Leads imported, both campaigns' runs started at START: each example's first state."""
    db = open_database(url)
    with db.session() as s:
        assert not import_csv(s, write_leads(root / "leads.csv",
                                             [lead_row(i) for i in range(LEADS)])).errors
    docs = base_resources(sequence=STEPS, campaign={"allocation": None,
                                                    "leadAllocationPct": 50})
    q2 = json.loads(json.dumps(docs[-1]))
    q2["metadata"]["name"] = "q2"
    q2["spec"]["reviewer"] = "desk"
    q2["spec"]["leadAllocationPct"] = 100
    docs += [mkdoc("Reviewer", "desk", {"type": "human"}), q2]
    start_runs(db, write_repo(root / "repo", docs), now=START)
    # the first step is out: q1's sent (the outbox, no file), q2's waiting for a reviewer
    tick(db, now=OPEN, config=ProjectConfig())
    db.dispose()


class _Template:
    """The world built once per test; each example starts from a copy of it (a copied
    SQLite file; on PostgreSQL a database created from the fixture's as a template)."""

    def __init__(self, root: Path, pg_url: str | None) -> None:
        self.root, self.pg_url = root, pg_url
        self.made: list[str] = []
        _build_world(pg_url or f"sqlite:///{root / 't.db'}", root)

    def _admin(self) -> Any:
        import psycopg

        assert self.pg_url is not None  # the maintenance database: not the template
        server = self.pg_url.rsplit("/", 1)[0].replace("postgresql+psycopg://",
                                                       "postgresql://")
        return psycopg.connect(f"{server}/postgres", autocommit=True)

    def copy(self, folder: Path) -> str:
        """A fresh database holding the world, for one example."""
        if self.pg_url is None:
            shutil.copyfile(self.root / "t.db", folder / "state.db")
            return f"sqlite:///{folder / 'state.db'}"
        name, template = f"cg_test_{uuid.uuid4().hex[:12]}", self.pg_url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.made.append(name)
        return f"{self.pg_url.rsplit('/', 1)[0]}/{name}"

    def drop(self, url: str | None = None) -> None:
        """Drop one example's database (``url``) or, without, every one made."""
        if self.pg_url is None:
            return
        from campaign_gitops.state import db as dbmod

        dbmod._checked.clear()
        names = [url.rsplit("/", 1)[1]] if url else list(self.made)
        with self._admin() as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if name in self.made:
                    self.made.remove(name)


class DeliveryWorld(RuleBasedStateMachine):
    template: _Template  # set per test (``_run``)

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.url = self.template.copy(self.root)
        self.provider = Provider()
        self.provider.thread.start()
        self.outbox = self.root / "outbox.jsonl"
        self.config = ProjectConfig.model_validate({"transports": {
            "email": {"type": "outbox", "path": str(self.outbox)},
            "sms": {"type": "webhook", "url": self.provider.url}}})
        self.db: Database | None = None
        self.now = OPEN
        # the model: what stops a delivery, as committed before the tick that made it
        self.suppressed: set[str] = set()
        self.replied: set[str] = set()  # the contacts of leads who replied
        self.paused: set[str] = set()  # campaigns
        self.halted: set[str] = set()  # "*" (global) or "acme"
        self.delivered: Counter[str] = Counter()  # idempotency key -> copies received
        self.seen_lines = 0
        self.seen_requests = 0
        self.ticks_in_window = 0

    @initialize()
    def world(self) -> None:
        self.db = open_database(self.url)

    def teardown(self) -> None:
        event(f"messages delivered: {'some' if self.delivered else 'none'}")
        if self.db is not None:
            self.db.dispose()
        self.provider.server.shutdown()
        self.provider.server.server_close()
        self.template.drop(self.url)
        self.tmp.cleanup()

    # ------------------------------------------------------------ what people do

    def _later(self, minutes: int = 1) -> dt.datetime:
        self.now += dt.timedelta(minutes=minutes)
        return self.now

    @rule(minutes=st.one_of(st.integers(1, 120), st.integers(1, 120), st.integers(1, 60 * 40)))
    def a_tick(self, minutes: int) -> None:
        assert self.db is not None
        now = self._later(minutes)
        tick(self.db, now=now, config=self.config)
        self._check_deliveries(now)

    def _someone(self, data: st.DataObject) -> int:
        """A lead: often one with a message waiting to go (written, approved, held),
        where a late reply or unsubscribe matters most; else any."""
        assert self.db is not None
        with self.db.reading() as s:
            waiting = sorted(set(s.execute(select(Message.lead_id).where(
                Message.status.in_(("pending_review", "approved", "queued")))).scalars()))
        ids = sorted(s for s in self._lead_ids() if s in waiting) or self._lead_ids()
        return data.draw(st.sampled_from(ids) if data.draw(st.booleans())
                         else st.sampled_from(self._lead_ids()))

    def _lead_ids(self) -> list[int]:
        assert self.db is not None
        with self.db.reading() as s:
            return sorted(s.execute(select(Lead.id)).scalars())

    def _contacts(self, lead_id: int) -> tuple[str, str]:
        assert self.db is not None
        with self.db.reading() as s:
            return tuple(s.execute(select(Lead.email, Lead.phone)  # type: ignore[return-value]
                                   .where(Lead.id == lead_id)).one())

    @rule(data=st.data())
    def a_reply(self, data: st.DataObject) -> None:
        assert self.db is not None
        email, phone = self._contacts(self._someone(data))
        with self.db.session() as s:
            add_reply(s, ReplyInput(contact=email, kind="reply"), now=self._later())
        self.replied.update((email, phone))

    @rule(data=st.data(), by_phone=st.booleans())
    def an_unsubscribe(self, data: st.DataObject, by_phone: bool) -> None:
        assert self.db is not None
        email, phone = self._contacts(self._someone(data))
        contact = phone if by_phone else email
        with self.db.session() as s:
            suppress(s, "acme", contact, reason="unsubscribe", source="test", actor="test",
                     now=self._later())
        self.suppressed.add(contact)

    @rule()
    def an_approval(self) -> None:
        """A reviewer approves every message waiting (``review approve``)."""
        assert self.db is not None
        with self.db.session() as s:
            ids = list(s.execute(select(Message.id).where(
                Message.status == "pending_review").order_by(Message.id)).scalars())
            decide(s, ids, approve=True, now=self._later())

    @rule(campaign=st.sampled_from(CAMPAIGNS), active=st.booleans())
    def a_pause_or_resume(self, campaign: str, active: bool) -> None:
        assert self.db is not None
        with self.db.session() as s:
            ids = select(Resource.id).where(Resource.kind == "Campaign",
                                            Resource.name == campaign)
            s.execute(update(Campaign).where(Campaign.resource_id.in_(ids.scalar_subquery()))
                      .values(status="active" if active else "paused"))
        self._later()
        (self.paused.discard if active else self.paused.add)(campaign)

    @rule(client=st.sampled_from(("*", "acme")), halt=st.booleans())
    def a_halt_or_resume(self, client: str, halt: bool) -> None:
        """Through the real CLI (``halt``/``resume``, ``--client``)."""
        args = ["--db", self.url, "halt" if halt else "resume"]
        if client != "*":
            args += ["--client", client]
        answer = CliRunner().invoke(cli, args)
        assert answer.exit_code == 0, answer.output
        self._later()
        (self.halted.add if halt else self.halted.discard)(client)

    # ------------------------------------------------------------ what was received

    def _received(self) -> list[dict[str, Any]]:
        lines = self.outbox.read_text().splitlines() if self.outbox.exists() else []
        new = [json.loads(line) for line in lines[self.seen_lines:]]
        self.seen_lines = len(lines)
        requests = self.provider.requests[self.seen_requests:]
        self.seen_requests += len(requests)
        return new + [json.loads(body) for _, body in requests]

    def _check_deliveries(self, now: dt.datetime) -> None:
        for message in self._received():
            key, recipient, campaign = message["id"], message["recipient"], message["campaign"]
            self.delivered[key] += 1
            assert self.delivered[key] == 1, f"{key} delivered twice"
            assert recipient not in self.suppressed, f"{key} to suppressed {recipient}"
            assert recipient not in self.replied, f"{key} to {recipient}, who replied"
            assert campaign.rpartition("/")[2] not in self.paused, f"{key} by a paused {campaign}"
            assert not self.halted, f"{key} delivered while halted ({sorted(self.halted)})"
            assert _in_window(now), f"{key} delivered at {now.isoformat()}, outside the window"

    @invariant()
    def nothing_recorded_outside_a_tick(self) -> None:
        """Only ticks deliver: between two ticks the transports receive nothing."""
        if self.db is not None:
            assert self._received() == []

    @precondition(lambda self: self.db is not None)
    @invariant()
    def every_delivery_is_recorded_sent(self) -> None:
        """At most once both ways: what a transport received is ``sent`` in the database,
        never left ``queued`` or ``failed`` to go again."""
        assert self.db is not None
        with self.db.reading() as s:
            sent = set(s.execute(select(Message.idempotency_key).where(
                Message.status == "sent")).scalars())
        assert set(self.delivered) <= sent


def _run(examples: int, pg_url: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = _Template(Path(tmp), pg_url)
        backend = "postgresql" if pg_url else "sqlite"
        machine = type(f"DeliveryWorld_{backend}", (DeliveryWorld,), {"template": template})
        try:
            run_state_machine_as_test(machine, settings=settings(
                max_examples=examples, stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow]))
        finally:
            template.drop()


def test_nothing_reaches_a_stopped_contact_twice_or_out_of_window_sqlite() -> None:
    _run(20)


@pytest.mark.postgres
def test_nothing_reaches_a_stopped_contact_twice_or_out_of_window_postgresql(
        pg_url: str) -> None:
    _run(6, pg_url)
