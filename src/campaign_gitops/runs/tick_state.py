"""The state of one tick (``TickState``) and the enrollment moves its phases make.

A tick (runs/tick.py) keeps, for its whole length, the plan, writer and reviewer of each
run it meets, the senders each run may use, and its tallies; the claim phase
(runs/tick_claim.py) and the commit phase (runs/tick_commit.py) hold an enrollment at its
step or advance it with the same ``move`` rows, written by ``apply_moves``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from campaign_gitops.config.models import Sender
from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.inbound.tokens import Links
from campaign_gitops.runs import bulk, delivery
from campaign_gitops.runs.calendar import next_day_start
from campaign_gitops.runs.compose import Work
from campaign_gitops.runs.send_gate import Verdict
from campaign_gitops.runs.sender_use import load_book
from campaign_gitops.runs.senders import SenderBook, client_senders, run_senders
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.types import Queued, Reviewer, Writer
from campaign_gitops.state.db import Database
from campaign_gitops.state.tables import CampaignRun

runs = cast(Table, CampaignRun.__table__)


@dataclass
class TickState:
    """The state of one tick: plans, writers and reviewers per run, tallies."""

    db: Database
    now: dt.datetime
    config: ProjectConfig
    transports: delivery.Transports
    worker: str
    links: Links | None = None
    plans: dict[int, RunPlan] = field(default_factory=dict)
    writers: dict[int, Writer] = field(default_factory=dict)
    reviewers: dict[int, Reviewer] = field(default_factory=dict)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    blocked_runs: set[int] = field(default_factory=set)
    touched_campaigns: set[int] = field(default_factory=set)
    sent_runs: set[int] = field(default_factory=set)
    allowed: dict[int, list[Sender]] = field(default_factory=dict)
    everyone: dict[int, list[Sender]] = field(default_factory=dict)

    def senders(self, plan: RunPlan) -> list[Sender]:
        """The senders ``plan``'s campaign may use (SPEC 9); [] keeps fromAddress."""
        if plan.run_id not in self.allowed:
            self.allowed[plan.run_id] = run_senders(plan.config)
        return self.allowed[plan.run_id]

    def sender(self, plan: RunPlan, email: str | None) -> Sender | None:
        """The client's sender ``email`` in ``plan``'s snapshot (a lead's kept sender)."""
        if not email:
            return None
        return next((s for s in self._client_senders(plan)
                     if s.email.lower() == email.lower()), None)

    def book(self, session: Session, books: dict[str, SenderBook],
             plan: RunPlan) -> SenderBook:
        """The client's use of its senders today, loaded once per transaction."""
        if plan.client not in books:
            books[plan.client] = load_book(
                session, plan.client, self._client_senders(plan), self.now,
                (plan.config.get("client") or {}).get("timezone"))
        return books[plan.client]

    def _client_senders(self, plan: RunPlan) -> list[Sender]:
        """All the client's senders in ``plan``'s snapshot, read once per run."""
        if plan.run_id not in self.everyone:
            self.everyone[plan.run_id] = client_senders(plan.config)
        return self.everyone[plan.run_id]

    def count(self, channel: str, status: str, n: int = 1) -> None:
        self.counts.setdefault(channel, Counter())[status] += n

    def plan(self, session: Session, run_id: int) -> RunPlan:
        if run_id not in self.plans:
            row = session.execute(select(runs.c.name, runs.c.type, runs.c.campaign_id,
                                         runs.c.config).where(runs.c.id == run_id)).one()
            self.plans[run_id] = dataclasses.replace(RunPlan.from_config(
                run_id, row.name, row.type, row.campaign_id, row.config), links=self.links)
        return self.plans[run_id]

    def send_and_record(self, queued: list[Queued],
                        gated: Verdict | None = None) -> None:
        """Through the send-time gate and the per-message protocol (runs/delivery.py);
        ``gated``: the verdict on messages claimed already (``delivery.claim_together``)."""
        done = delivery.deliver(self.db, queued, self.transports, self.now,
                                self.config.failure_threshold, gated)
        self.notes.extend(done.notes)
        for q, _ in done.skipped:
            self.count(q.channel, "skipped")
        for q, _ in done.held:
            self.count(q.channel, "held")
        for r in done.results:
            self.count(r.queued.channel, r.status)
            if r.error is None:
                self.sent_runs.add(r.queued.run_id)

    def writer(self, plan: RunPlan) -> Writer:
        if plan.run_id not in self.writers:
            from campaign_gitops.runs.writers import make_writer

            self.writers[plan.run_id] = make_writer(plan.config.get("writer")
                                                    or {"type": "template"})
        return self.writers[plan.run_id]

    def reviewer(self, plan: RunPlan) -> Reviewer:
        if plan.run_id not in self.reviewers:
            from campaign_gitops.runs.reviewers import make_reviewer

            self.reviewers[plan.run_id] = make_reviewer(plan.config.get("reviewer"))
        return self.reviewers[plan.run_id]


def move(work: Work, *, now: dt.datetime, **values: Any) -> dict[str, Any]:
    """An enrollment update: held at its step (no ``last_step_at``) or advanced."""
    base = {"e_id": work.enrollment_id, "next_step": work.step_index, "state": "active",
            "next_due_at": work.due}
    base.update(values)
    base["updated_at"] = now
    return base


def apply_moves(session: Session, moves: list[dict[str, Any]], worker: str) -> None:
    bulk.move_enrollments(session, [m for m in moves if "last_step_at" not in m], worker,
                          with_last_step=False)
    bulk.move_enrollments(session, [m for m in moves if "last_step_at" in m], worker,
                          with_last_step=True)


def hold(state: TickState, session: Session, plan: RunPlan, work: Work, channel: str,
         refused: str) -> dict[str, Any]:
    """Keep a step that today's limit (deferred to the next day) or credits refuse."""
    if refused == "daily_limit":
        state.count(channel, "deferred")
        later = next_day_start(state.now, plan.window, channel, work.lead.get("timezone"))
        return move(work, now=state.now, next_due_at=later)
    state.count(channel, "blocked")
    state.blocked_runs.add(plan.run_id)
    _note_no_credits(state, session, plan)
    return move(work, now=state.now)


def _note_no_credits(state: TickState, session: Session, plan: RunPlan) -> None:
    reason = f"delivery stopped: client {plan.client} has no credits left"
    if reason not in state.notes:
        state.notes.append(reason)
    session.execute(update(runs).where(runs.c.id == plan.run_id).values(status_reason=reason))
