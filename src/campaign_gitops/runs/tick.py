"""tick: start the runs that came due and deliver every due sequence step.

One tick, in order: stop if delivery is halted globally; finish the enrollments of
completed campaigns; start due scheduled runs (a due recurring series starts one
occurrence and moves on to its next fire); deliver approved and retry-due
messages; then, batch after batch, claim due enrollments (``FOR UPDATE SKIP LOCKED``
and a lease, so several processes can tick at once), write and review each step
outside any transaction, and in one short transaction gate them by daily limit and
credits, insert the messages (``queued`` before sending), advance the enrollments;
send; record. Campaign metrics and finished runs are updated at the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from campaign_gitops.config.models import Sender
from campaign_gitops.config.project import ProjectConfig, is_frozen
from campaign_gitops.inbound.tokens import Links, links_for
from campaign_gitops.runs import bulk, delivery, pending, policy
from campaign_gitops.runs.allocation import release_leads
from campaign_gitops.runs.calendar import next_day_start, next_slot
from campaign_gitops.runs.compose import (
    Outcome,
    Work,
    message_key,
    precheck,
    unsubscribe_url,
    write,
)
from campaign_gitops.runs.enrollments import advance_values, load_leads, reply_flags, suppressed
from campaign_gitops.runs.gate import charge, load_budget
from campaign_gitops.runs.metrics import update_metrics
from campaign_gitops.runs.sender_use import Thread, load_book, reply_subject, threads
from campaign_gitops.runs.sender_use import envelope as sender_envelope
from campaign_gitops.runs.senders import SenderBook, client_senders, run_senders
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.settle import attention
from campaign_gitops.runs.start import launch, start_occurrence
from campaign_gitops.runs.types import NO_ENVELOPE, OutboundMessage
from campaign_gitops.state.db import Database, rowcount
from campaign_gitops.state.tables import (
    ApplyLog,
    Campaign,
    CampaignRun,
    Client,
    Enrollment,
    Message,
    Resource,
)

enrollments = cast(Table, Enrollment.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
resources = cast(Table, Resource.__table__)
clients = cast(Table, Client.__table__)
messages = cast(Table, Message.__table__)
apply_log = cast(Table, ApplyLog.__table__)
DEFAULT_BATCH = 1000
MAX_ROUNDS = 10_000


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick did: messages by channel and status, runs started, and why it stopped."""

    now: dt.datetime
    counts: dict[str, dict[str, int]]
    started_runs: tuple[str, ...] = ()
    halted: str | None = None
    notes: tuple[str, ...] = ()
    # what needs a person after this tick, in the whole database: unknown messages to
    # settle, stuck ones (queued or sending past the lease)
    attention: dict[str, int] = field(default_factory=dict)

    def total(self, status: str) -> int:
        return sum(by_status.get(status, 0) for by_status in self.counts.values())

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for by_status in self.counts.values():
            out.update(by_status)
        return out

    def as_json(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "halted": self.halted,
                "started_runs": list(self.started_runs),
                "counts": {ch: dict(sorted(v.items())) for ch, v in sorted(self.counts.items())},
                "totals": dict(sorted(self.totals().items())),
                "attention": dict(self.attention),
                "notes": list(self.notes)}


@dataclass
class _Tick:
    """The state of one tick: plans, writers and reviewers per run, tallies."""

    db: Database
    now: dt.datetime
    config: ProjectConfig
    transports: delivery.Transports
    worker: str
    links: Links | None = None
    plans: dict[int, RunPlan] = field(default_factory=dict)
    writers: dict[int, Any] = field(default_factory=dict)
    reviewers: dict[int, Any] = field(default_factory=dict)
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
        if plan.run_id not in self.everyone:
            self.everyone[plan.run_id] = client_senders(plan.config)
        return next((s for s in self.everyone[plan.run_id]
                     if s.email.lower() == email.lower()), None)

    def book(self, session: Session, books: dict[str, SenderBook],
             plan: RunPlan) -> SenderBook:
        """The client's use of its senders today, loaded once per transaction."""
        if plan.client not in books:
            if plan.run_id not in self.everyone:
                self.everyone[plan.run_id] = client_senders(plan.config)
            books[plan.client] = load_book(
                session, plan.client, self.everyone[plan.run_id], self.now,
                (plan.config.get("client") or {}).get("timezone"))
        return books[plan.client]

    def count(self, channel: str, status: str, n: int = 1) -> None:
        self.counts.setdefault(channel, Counter())[status] += n

    def plan(self, session: Session, run_id: int) -> RunPlan:
        if run_id not in self.plans:
            row = session.execute(select(runs.c.name, runs.c.type, runs.c.campaign_id,
                                         runs.c.config).where(runs.c.id == run_id)).one()
            self.plans[run_id] = dataclasses.replace(RunPlan.from_config(
                run_id, row.name, row.type, row.campaign_id, row.config), links=self.links)
        return self.plans[run_id]

    def send_and_record(self, queued: list[delivery.Queued],
                        gated: delivery.Verdict | None = None) -> None:
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

    def writer(self, plan: RunPlan) -> Any:
        if plan.run_id not in self.writers:
            from campaign_gitops.runs.writers import make_writer

            self.writers[plan.run_id] = make_writer(plan.config.get("writer")
                                                    or {"type": "template"})
        return self.writers[plan.run_id]

    def reviewer(self, plan: RunPlan) -> Any:
        if plan.run_id not in self.reviewers:
            from campaign_gitops.runs.reviewers import make_reviewer

            self.reviewers[plan.run_id] = make_reviewer(plan.config.get("reviewer"))
        return self.reviewers[plan.run_id]


def client_halts(session: Session) -> list[str]:
    """A note per halted client (with the ``halt --reason``): its delivery waits."""
    notes = []
    for name in session.execute(select(clients.c.name).where(
            clients.c.halted.is_(True), clients.c.deleted_at.is_(None))
            .order_by(clients.c.name)).scalars():
        detail = session.execute(select(apply_log.c.detail).where(
            apply_log.c.action == "halt", apply_log.c.resource == f"{name}/Client/{name}")
            .order_by(apply_log.c.serial.desc()).limit(1)).scalar()
        reason = (detail or {}).get("reason")
        notes.append(f"delivery for client {name} is halted" + (f": {reason}" if reason else "")
                     + f" (campaign-gitops resume --client {name})")
    return notes


def tick(db: Database, *, now: dt.datetime, config: ProjectConfig,
         batch_size: int = DEFAULT_BATCH, root: Path | None = None) -> TickResult:
    """Start due runs and deliver every due step (safe to run from several processes)."""
    with db.session() as session:
        halted = policy.halt_reason(session)
    if halted:
        return TickResult(now=now, counts={}, halted=halted, attention=_attention(db, now))
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    state = _Tick(db, now, config, delivery.Transports(config, root), worker,
                  links_for(config))
    with db.session() as session:
        state.notes.extend(client_halts(session))
    try:
        _finish_completed_campaigns(state)
        _start_due_runs(state)
        pending.deliver_pending(state, batch_size)
        for _ in range(MAX_ROUNDS):
            if not _round(state, batch_size):
                break
        _wrap_up(state)
    finally:
        state.transports.close()
    return TickResult(now=now, counts={ch: dict(c) for ch, c in state.counts.items()},
                      started_runs=tuple(state.started), notes=tuple(state.notes),
                      attention=_attention(db, now))


def _attention(db: Database, now: dt.datetime) -> dict[str, int]:
    with db.reading() as session:
        return attention(session, now, lease=policy.LEASE)


def _finish_completed_campaigns(state: _Tick) -> None:
    """A completed campaign finishes its enrollments and its runs."""
    with state.db.session() as session:
        done = select(campaigns.c.resource_id).where(campaigns.c.status == "completed")
        open_runs = select(runs.c.id).where(runs.c.campaign_id.in_(done),
                                            runs.c.status.in_(("running", "paused",
                                                               "scheduled")))
        session.execute(update(enrollments).where(
            enrollments.c.state == "active", enrollments.c.run_id.in_(open_runs.scalar_subquery()))
            .values(state="finished", next_due_at=None, updated_at=state.now))
        closing = list(session.execute(open_runs).scalars())
        if not closing:
            return
        session.execute(update(runs).where(runs.c.id.in_(closing)).values(
            status="completed", finished_at=state.now, status_reason="campaign completed"))
        release_leads(session, closing + _occurrences(session, closing), now=state.now)


def _occurrences(session: Session, series_ids: list[int]) -> list[int]:
    """The occurrences of these recurring series (finished ones too)."""
    return list(session.execute(select(runs.c.id).where(
        bulk.one_of(session, runs.c.series_id, series_ids))).scalars())


def _releasable(session: Session, run_ids: list[int]) -> list[int]:
    """The finished runs whose leads go back to the pool now: an occurrence of a recurring
    series keeps them while its series goes on (so the next occurrences take fresh leads,
    not the ones already walked) and hands them back when the series ends."""
    if not run_ids:
        return []
    series = runs.alias("series")
    held = set(session.execute(
        select(runs.c.id).join(series, series.c.id == runs.c.series_id)
        .where(bulk.one_of(session, runs.c.id, run_ids), series.c.status == "scheduled"))
        .scalars())
    return [run_id for run_id in run_ids if run_id not in held]


def _start_due_runs(state: _Tick) -> None:
    window = is_frozen(state.config, state.now)
    if window is not None:  # a freeze window starts no run: scheduled runs wait for its end
        state.notes.append(f"scheduled runs wait: inside freeze window {window.name!r}")
        return
    with state.db.session() as session:
        query = (select(CampaignRun)
                 .join(Campaign, Campaign.resource_id == CampaignRun.campaign_id)
                 .where(CampaignRun.status == "scheduled", CampaignRun.scheduled_for <= state.now,
                        Campaign.status == "active")
                 .order_by(CampaignRun.scheduled_for, CampaignRun.id))
        if state.db.is_postgres:
            query = query.with_for_update(skip_locked=True, of=CampaignRun)
        for run in session.execute(query).scalars().all():
            where = f"{run.config['campaign']['client']}/{run.config['campaign']['name']}"
            state.touched_campaigns.add(run.campaign_id)
            if run.cron is not None and run.series_id is None:
                _start_occurrence(state, session, run, where)
                continue
            count = launch(session, run, now=state.now)
            state.started.append(f"{where}/{run.name} ({count} leads)")


def _start_occurrence(state: _Tick, session: Session, series: CampaignRun, where: str) -> None:
    """One occurrence of a due recurring series; the series waits for its next fire."""
    done = start_occurrence(session, series, now=state.now)
    if done.run is not None:
        state.started.append(f"{where}/{done.name} ({done.leads} leads)")
        what = f"started {done.name} for the fire at {done.fire.isoformat()}"
    else:
        what = f"run {done.name} exists already, not started again"
    if done.coalesced_since is not None:
        what += f" (fires since {done.coalesced_since.isoformat()} coalesced into it)"
    after = f"next at {done.next_fire.isoformat()}" if done.next_fire is not None else ""
    if done.next_fire is None:  # the series ended: its finished occurrences' leads go back
        after = "its cron fires no more: the series ended"
        release_leads(session, _occurrences(session, [series.id]), now=state.now)
    state.notes.append(f"series {where}/{series.name}: {what}; {after}")


def _deliverable_runs(state: _Tick, session: Session) -> list[int]:
    """Runs whose enrollments may be worked on now: deliverable (``policy``) and (but for
    test runs) with credits left."""
    query = (select(runs.c.id)
             .join(campaigns, campaigns.c.resource_id == runs.c.campaign_id)
             .join(resources, resources.c.id == runs.c.campaign_id)
             .join(clients, clients.c.name == resources.c.client)
             .where(policy.deliverable_run(),
                    or_(runs.c.type == "test_run", clients.c.credits > 0)))
    return sorted(set(session.execute(query).scalars()) - state.blocked_runs)


def _claim_query(state: _Tick, session: Session, run_ids: list[int], limit: int) -> Any:
    """Due enrollments of ``run_ids``, oldest due first (an ordered walk of
    ``ix_enrollments_claim`` that stops at ``limit``), skipping rows others hold."""
    e = enrollments
    query = (
        select(e.c.id, e.c.run_id, e.c.lead_id, e.c.sample, e.c.next_step, e.c.next_due_at,
               e.c.sender)
        .where(e.c.state == "active", e.c.next_due_at <= state.now,
               or_(e.c.claimed_until.is_(None), e.c.claimed_until < state.now),
               bulk.one_of(session, e.c.run_id, run_ids))
        .order_by(e.c.next_due_at, e.c.id).limit(limit))
    if state.db.is_postgres:
        query = query.with_for_update(skip_locked=True)
    return query


def _claim(state: _Tick, limit: int) -> tuple[list[Outcome], list[Work]] | None:
    """Lease a batch of due enrollments to this worker.

    Returns the outcomes known without writing (skips, finished) and the work to write;
    what today's limits or the credits cannot take is deferred or released right here,
    before anything is written.
    """
    with state.db.session() as session:
        run_ids = _deliverable_runs(state, session)
        if not run_ids:
            return None
        rows = session.execute(_claim_query(state, session, run_ids, limit)).all()
        if not rows:
            return None
        session.execute(update(enrollments).where(
            bulk.one_of(session, enrollments.c.id, [r.id for r in rows]))
            .values(claimed_by=state.worker, claimed_until=state.now + policy.LEASE))
        works = _works(state, session, rows)
        blocked = _suppressions(state, session, works)
        budget = load_budget(session, [state.plans[w.run_id] for w in works], state.now,
                             lock=False)
        ready: list[Outcome] = []
        to_write: list[Work] = []
        moves: list[dict[str, Any]] = []
        books: dict[str, SenderBook] = {}
        for work in works:
            plan = state.plans[work.run_id]
            if work.step_index >= len(plan.steps):
                ready.append(Outcome(work, "", "", "finished"))
                continue
            skipped = precheck(plan, work, blocked.get(plan.client, set()))
            if skipped is not None:
                ready.append(skipped)
                continue
            channel = plan.steps[work.step_index]["channel"]
            closed = _window_closed(state, plan, work, channel)
            if closed is not None:
                moves.append(closed)
                continue
            room, refused = budget.room(plan, channel)
            if room <= 0:
                moves.append(_hold(state, session, plan, work, channel,
                                   refused or "daily_limit"))
                continue
            picked = _pick_sender(state, state.book(session, books, plan), plan, work, channel)
            if isinstance(picked, dict):
                moves.append(picked)
                continue
            budget.take(plan, channel, 1)
            to_write.append(picked)
        _apply_moves(session, moves, state.worker)
    return ready, to_write


def _pick_sender(state: _Tick, book: SenderBook, plan: RunPlan, work: Work,
                 channel: str) -> Work | dict[str, Any]:
    """The work with its lead's sender (SPEC 9), or the move that makes it wait.

    A lead keeps its sender; a new one gets the allowed sender with the most room left
    today among those whose pacing lets them send now. A sender with no room today
    waits for the next window; pacing (``minGapSeconds``, ``maxPerHour``) moves the
    step to the time the mailbox may send again. Test runs take their lead's (or the
    first) sender and count against no cap."""
    allowed = state.senders(plan)
    if not allowed:
        return work
    sender = state.sender(plan, work.lead_sender) if work.lead_sender else None
    if channel != "email":  # {{sender_name}} of an SMS or a call: the lead's sender
        return dataclasses.replace(work, sender=sender or allowed[0])
    if plan.is_test:
        return dataclasses.replace(work, sender=sender or allowed[0])
    now = state.now
    if sender is None:
        sender = book.choose(allowed, now, now)
    if sender is not None:
        at = book.next_free(sender.email, now)
    else:  # none may send now: the earliest any of them may
        frees = [f for f in (book.next_free(s.email, now) for s in allowed) if f is not None]
        at = min(frees) if frees else None
    tz = work.lead.get("timezone")
    if at is None:  # no room left today: the next window
        state.count(channel, "deferred")
        return _move(work, now=now,
                     next_due_at=next_day_start(now, plan.window, channel, tz))
    if at > now or sender is None:  # paced: when the mailbox may send again
        state.count(channel, "waiting")
        return _move(work, now=now, next_due_at=next_slot(at, plan.window, channel, tz)
                     or next_day_start(now, plan.window, channel, tz))
    book.take(sender.email, now)
    return dataclasses.replace(work, sender=sender)


def _works(state: _Tick, session: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> list[Work]:
    leads = load_leads(session, [r.lead_id for r in rows if r.lead_id is not None])
    for r in rows:
        state.plan(session, r.run_id)
    flags = reply_flags(session, [(state.plans[r.run_id].client, r.lead_id)
                                  for r in rows if r.lead_id is not None])
    works = []
    for r in rows:
        lead = leads.get(r.lead_id, {}) if r.lead_id is not None else dict(r.sample or {})
        replied, bounced = flags.get(r.lead_id, (False, False))
        works.append(Work(r.id, r.run_id, r.lead_id, lead, r.next_step, r.next_due_at,
                          replied, bounced, lead_sender=r.sender))
    return works


def _suppressions(state: _Tick, session: Session, works: list[Work]) -> dict[str, set[str]]:
    by_client: dict[str, set[str]] = {}
    for work in works:
        plan = state.plans[work.run_id]
        by_client.setdefault(plan.client, set()).update(
            str(v).lower() for v in (work.lead.get("email"), work.lead.get("phone")) if v)
    return {client: suppressed(session, client, contacts)
            for client, contacts in by_client.items()}


def _window_closed(state: _Tick, plan: RunPlan, work: Work,
                   channel: str) -> dict[str, Any] | None:
    """A due step whose sending window is closed now (an overdue step found by a tick
    after hours, on a weekend or in SMS/voice quiet hours) waits for its next slot;
    None when it may go out now. Test runs have no window."""
    if plan.is_test:
        return None
    slot = next_slot(state.now, plan.window, channel, work.lead.get("timezone"))
    if slot == state.now:
        return None
    if slot is None:  # the window never opens for this channel
        state.count(channel, "failed")
        return _move(work, now=state.now, state="failed", next_due_at=None)
    state.count(channel, "waiting")
    return _move(work, now=state.now, next_due_at=slot)


def _hold(state: _Tick, session: Session, plan: RunPlan, work: Work, channel: str,
          refused: str) -> dict[str, Any]:
    """Keep a step that today's limit (deferred to the next day) or credits refuse."""
    if refused == "daily_limit":
        state.count(channel, "deferred")
        later = next_day_start(state.now, plan.window, channel, work.lead.get("timezone"))
        return _move(work, now=state.now, next_due_at=later)
    state.count(channel, "blocked")
    state.blocked_runs.add(plan.run_id)
    _note_no_credits(state, session, plan)
    return _move(work, now=state.now)


def _round(state: _Tick, limit: int) -> bool:
    claimed = _claim(state, limit)
    if claimed is None:
        return False
    ready, to_write = claimed
    outcomes = ready + [write(state.plans[w.run_id], w, state.writer(state.plans[w.run_id]),
                              state.reviewer(state.plans[w.run_id])) for w in to_write]
    state.send_and_record(*_commit_outcomes(state, outcomes))
    return True


def _commit_outcomes(state: _Tick, outcomes: list[Outcome]
                     ) -> tuple[list[delivery.Queued], delivery.Verdict]:
    """Gate, insert the messages and advance the enrollments, in one transaction; the
    outbox's messages are inserted ``sending`` and gated in it too (``delivery.presend``,
    ``delivery.claim_together``)."""
    now = state.now
    with state.db.session() as session:
        plans = [state.plans[o.work.run_id] for o in outcomes]
        budget = load_budget(session, plans, now, lock=state.db.is_postgres)
        drafts: list[OutboundMessage] = []
        moves: list[dict[str, Any]] = []
        earlier = _write_failures(session, outcomes)
        books: dict[str, SenderBook] = {}
        thread = threads(session, [o.work.enrollment_id for o in outcomes
                                   if o.work.sender is not None],
                         before={o.work.enrollment_id: o.work.step_index for o in outcomes})
        for outcome, plan in zip(outcomes, plans, strict=True):
            work = outcome.work
            tz = work.lead.get("timezone")
            if outcome.status == "finished":
                moves.append(_move(work, state="finished", now=now))
                continue
            if outcome.wants_delivery:
                paced = _sender_refuses(state, state.book(session, books, plan), plan, work)
                if paced is not None:
                    moves.append(paced)
                    continue
                refused = budget.admit(plan, outcome.channel)
                if refused is not None:
                    moves.append(_hold(state, session, plan, work, outcome.channel, refused))
                    continue
            draft, retry = _write_retry(
                _draft(plan, outcome, now, thread.get(work.enrollment_id)), outcome,
                earlier.get(message_key(work)), now)
            drafts.append(draft)
            state.touched_campaigns.add(plan.campaign_id)
            if retry is not None:  # a temporary write failure: same step, later
                moves.append(_move(work, now=now, next_due_at=retry))
                state.count(outcome.channel, "failed")
                continue
            if outcome.status == "pending_review":
                moves.append(_move(work, now=now, next_due_at=None))
            else:
                anchor = work.due if outcome.status == "skipped" and work.due else now
                moves.append(_move(work, now=now, **advance_values(
                    plan, work.step_index, anchor, tz, replied=work.replied,
                    bounced=work.bounced)))
            if not outcome.wants_delivery:
                state.count(outcome.channel, outcome.status)
        charge(session, budget)
        queued = _insert_messages(session, delivery.presend(drafts, state.transports))
        _apply_moves(session, moves, state.worker)
        _keep_senders(session, drafts)
        return delivery.claim_together(session, queued, now)


def _sender_refuses(state: _Tick, book: SenderBook, plan: RunPlan,
                    work: Work) -> dict[str, Any] | None:
    """The claim's sender check again, on the book read under the budget's lock (another
    tick may have used the mailbox since): the move when it may not send now."""
    if work.sender is None or plan.is_test or plan.steps[work.step_index]["channel"] != "email":
        return None
    at = book.next_free(work.sender.email, state.now)
    if at is not None and at <= state.now:
        book.take(work.sender.email, state.now)
        return None
    state.count("email", "deferred" if at is None else "waiting")
    tz = work.lead.get("timezone")
    later = next_day_start(state.now, plan.window, "email", tz)
    if at is not None:
        later = next_slot(at, plan.window, "email", tz) or later
    return _move(work, now=state.now, next_due_at=later)


def _keep_senders(session: Session, drafts: list[OutboundMessage]) -> None:
    """A lead keeps the sender of its first email for its whole sequence."""
    kept = [{"e_id": d.enrollment_id, "e_sender": d.envelope.sender} for d in drafts
            if d.envelope.sender and d.status in ("queued", "pending_review")]
    if kept:
        session.execute(update(enrollments).where(
            enrollments.c.id == bindparam("e_id"), enrollments.c.sender.is_(None))
            .values(sender=bindparam("e_sender")), kept)


def _write_failures(session: Session, outcomes: list[Outcome]) -> dict[str, tuple[int, int]]:
    """Idempotency key -> (message id, attempts) of the earlier temporary write failures
    of these steps: the only message a step can have while its enrollment is still on it."""
    keys = [f"{o.work.enrollment_id}:{o.work.step_index}" for o in outcomes
            if o.status != "finished"]
    if not keys:
        return {}
    rows = session.execute(select(messages.c.idempotency_key, messages.c.id,
                                  messages.c.attempts).where(
        bulk.one_of(session, messages.c.idempotency_key, keys),
        messages.c.status == "failed"))
    return {key: (message_id, attempts) for key, message_id, attempts in rows}


def _write_retry(draft: OutboundMessage, outcome: Outcome, earlier: tuple[int, int] | None,
                 now: dt.datetime) -> tuple[OutboundMessage, dt.datetime | None]:
    """``draft`` completed for a step written before; for a temporary write failure with
    attempts left, also the time of the next attempt (the delivery backoff), else None."""
    attempts = earlier[1] if earlier else 0
    if earlier:
        draft = dataclasses.replace(draft, replaces=earlier[0])
    if not outcome.temporary:
        return draft, None
    attempts += 1
    retry = policy.retry_at(attempts, now)
    if retry is None:
        return dataclasses.replace(draft, attempts=attempts, status_reason=(
            f"{outcome.reason} (gave up after {attempts} attempts)")), None
    return dataclasses.replace(
        draft, attempts=attempts, next_attempt_at=retry,
        status_reason=f"{outcome.reason} (temporary: attempt {attempts} of "
                      f"{policy.MAX_ATTEMPTS}, retried after {retry.isoformat()})"), retry


def _note_no_credits(state: _Tick, session: Session, plan: RunPlan) -> None:
    reason = f"delivery stopped: client {plan.client} has no credits left"
    if reason not in state.notes:
        state.notes.append(reason)
    session.execute(update(runs).where(runs.c.id == plan.run_id).values(status_reason=reason))


def _move(work: Work, *, now: dt.datetime, **values: Any) -> dict[str, Any]:
    """An enrollment update: held at its step (no ``last_step_at``) or advanced."""
    base = {"e_id": work.enrollment_id, "next_step": work.step_index, "state": "active",
            "next_due_at": work.due}
    base.update(values)
    base["updated_at"] = now
    return base


def _apply_moves(session: Session, moves: list[dict[str, Any]], worker: str) -> None:
    bulk.move_enrollments(session, [m for m in moves if "last_step_at" not in m], worker,
                          with_last_step=False)
    bulk.move_enrollments(session, [m for m in moves if "last_step_at" in m], worker,
                          with_last_step=True)


def _draft(plan: RunPlan, outcome: Outcome, now: dt.datetime,
           thread: Thread | None = None) -> OutboundMessage:
    """The message of an outcome; an email of a lead with a sender goes out from it, a
    reply in the lead's thread (``Re: …`` unless its step has its own template)."""
    work = outcome.work
    key = message_key(work)
    subject, envelope = outcome.subject, NO_ENVELOPE
    if work.sender is not None and outcome.channel == "email" and outcome.status in (
            "queued", "pending_review"):
        own = bool(plan.steps[work.step_index].get("template"))
        subject = reply_subject(subject, thread, own)
        envelope = sender_envelope(work.sender, thread)
    return OutboundMessage(
        run_id=plan.run_id, campaign_id=plan.campaign_id, campaign=plan.campaign,
        client=plan.client, enrollment_id=work.enrollment_id, lead_id=work.lead_id,
        step_index=work.step_index, channel=outcome.channel, recipient=outcome.recipient,
        subject=subject, body=outcome.body, status=outcome.status,
        status_reason=outcome.reason, idempotency_key=key, created_at=now,
        is_test=plan.is_test, unsubscribe_url=unsubscribe_url(plan, work.lead, key),
        envelope=envelope)


def _insert_messages(session: Session,
                     drafts: list[OutboundMessage]) -> list[delivery.Queued]:
    """Insert the new rows (rewrite those of earlier temporary write failures); the
    ``queued`` (and ``sending``: ``delivery.presend``) ones, with their ids, for delivery."""
    if not drafts:
        return []
    by_key = {d.idempotency_key: d for d in drafts}
    inserted = bulk.insert_messages(session, [d.row() for d in drafts if d.replaces is None])
    for d in drafts:  # a step whose earlier write failed temporarily: its row, rewritten
        if d.replaces is not None:
            values = {k: v for k, v in d.row().items()
                      if k not in ("idempotency_key", "created_at")}
            session.execute(update(messages).where(messages.c.id == d.replaces)
                            .values(**values))
            inserted.append((d.replaces, d.idempotency_key))
    return [dataclasses.replace(by_key[key], message_id=message_id)
            for message_id, key in inserted if by_key[key].status in ("queued", "sending")]


def _wrap_up(state: _Tick) -> None:
    with state.db.session() as session:
        delivered = sorted(set(state.sent_runs) - state.blocked_runs)
        if delivered:  # credits came back: the stop reason is history
            session.execute(update(runs).where(
                runs.c.id.in_(delivered),
                runs.c.status_reason.like("delivery stopped:%")).values(status_reason=None))
        done = [run_id for run_id in sorted(state.plans)
                if _complete_if_done(session, run_id, state.now)]
        release_leads(session, _releasable(session, done), now=state.now)
        if state.touched_campaigns:
            update_metrics(session, state.touched_campaigns, state.now)


def _complete_if_done(session: Session, run_id: int, now: dt.datetime) -> bool:
    """Mark a running run completed when nothing is left to walk or deliver."""
    active = session.execute(select(enrollments.c.id).where(
        enrollments.c.run_id == run_id, enrollments.c.state == "active").limit(1)).first()
    if active:
        return False
    waiting = session.execute(select(messages.c.id).where(
        messages.c.run_id == run_id,
        or_(messages.c.status.in_(("pending_review", "approved", "queued", "sending",
                                    "unknown")),
            and_(messages.c.status == "failed", messages.c.next_attempt_at.is_not(None))))
        .limit(1)).first()
    if waiting:
        return False
    done = session.execute(update(runs).where(runs.c.id == run_id, runs.c.status == "running")
                           .values(status="completed", finished_at=now))
    return bool(rowcount(done))
