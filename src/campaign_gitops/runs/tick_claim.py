"""The claim phase of a tick's round: lease a batch of due enrollments to this worker.

Due enrollments of the deliverable runs are claimed oldest due first (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, and a lease, so several processes can tick at once). What is
known without writing comes back as outcomes (finished sequences, skips); what today's
sending window, daily limit, credits or sender pacing refuse waits right here (a move
to a later time), before anything is written; the rest, each with its sender, is the
work the round writes (runs/compose.py) and commits (runs/tick_commit.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Row, Select, Table, or_, select, update
from sqlalchemy.orm import Session

from campaign_gitops.runs import bulk, policy
from campaign_gitops.runs.calendar import next_day_start, next_slot
from campaign_gitops.runs.compose import Outcome, Work, precheck
from campaign_gitops.runs.enrollments import load_leads, reply_flags, suppressed
from campaign_gitops.runs.gate import load_budget
from campaign_gitops.runs.senders import SenderBook
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.tick_state import TickState, apply_moves, hold, move
from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Enrollment, Resource

enrollments = cast(Table, Enrollment.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
resources = cast(Table, Resource.__table__)
clients = cast(Table, Client.__table__)


def claim(state: TickState, limit: int) -> tuple[list[Outcome], list[Work]] | None:
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
                moves.append(hold(state, session, plan, work, channel,
                                  refused or "daily_limit"))
                continue
            picked = _pick_sender(state, state.book(session, books, plan), plan, work, channel)
            if isinstance(picked, dict):
                moves.append(picked)
                continue
            budget.take(plan, channel, 1)
            to_write.append(picked)
        apply_moves(session, moves, state.worker)
    return ready, to_write


def _deliverable_runs(state: TickState, session: Session) -> list[int]:
    """Runs whose enrollments may be worked on now: deliverable (``policy``) and (but for
    test runs) with credits left."""
    query = (select(runs.c.id)
             .join(campaigns, campaigns.c.resource_id == runs.c.campaign_id)
             .join(resources, resources.c.id == runs.c.campaign_id)
             .join(clients, clients.c.name == resources.c.client)
             .where(policy.deliverable_run(),
                    or_(runs.c.type == "test_run", clients.c.credits > 0)))
    return sorted(set(session.execute(query).scalars()) - state.blocked_runs)


def _claim_query(state: TickState, session: Session, run_ids: list[int],
                 limit: int) -> Select[*tuple[Any, ...]]:
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


def _pick_sender(state: TickState, book: SenderBook, plan: RunPlan, work: Work,
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
        return move(work, now=now, next_due_at=next_day_start(now, plan.window, channel, tz))
    if at > now or sender is None:  # paced: when the mailbox may send again
        state.count(channel, "waiting")
        return move(work, now=now, next_due_at=next_slot(at, plan.window, channel, tz)
                    or next_day_start(now, plan.window, channel, tz))
    book.take(sender.email, now)
    return dataclasses.replace(work, sender=sender)


def _works(state: TickState, session: Session,
           rows: Sequence[Row[*tuple[Any, ...]]]) -> list[Work]:
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


def _suppressions(state: TickState, session: Session,
                  works: list[Work]) -> dict[str, set[str]]:
    by_client: dict[str, set[str]] = {}
    for work in works:
        plan = state.plans[work.run_id]
        by_client.setdefault(plan.client, set()).update(
            str(v).lower() for v in (work.lead.get("email"), work.lead.get("phone")) if v)
    return {client: suppressed(session, client, contacts)
            for client, contacts in by_client.items()}


def _window_closed(state: TickState, plan: RunPlan, work: Work,
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
        return move(work, now=state.now, state="failed", next_due_at=None)
    state.count(channel, "waiting")
    return move(work, now=state.now, next_due_at=slot)
