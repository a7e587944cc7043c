"""Messages that wait for delivery outside the step walk.

- ``approved``: a human approved it (``review approve``); it still passes the sending
  window, the daily limit and the credits gate, like any fresh message.
- ``failed`` with ``next_attempt_at`` due: a retry inside the sending window (its credit
  is already reserved).
- ``queued`` for longer than the lease: a tick crashed (or was killed) after inserting
  it and before marking it ``sending``, or the send-time gate held it (a halt, a pause):
  no transport has seen it, so sending it is safe.

A message left ``sending`` past the lease is not here: it may have gone out, so it
becomes ``unknown`` (``send_results.recover_interrupted``) and waits for an operator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update

from campaign_gitops.runs import policy
from campaign_gitops.runs.calendar import next_slot
from campaign_gitops.runs.compose import unsubscribe_url
from campaign_gitops.runs.gate import charge, load_budget
from campaign_gitops.runs.send_results import recover_interrupted
from campaign_gitops.runs.sender_use import envelope, threads
from campaign_gitops.runs.senders import SenderBook
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.tick_state import TickState
from campaign_gitops.runs.types import Envelope, OutboundMessage, Queued
from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Lead, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
clients = cast(Table, Client.__table__)
leads = cast(Table, Lead.__table__)


def _query(state: TickState, limit: int, seen: set[int]) -> Any:
    m = messages
    query = (
        select(m.c.id, m.c.run_id, m.c.status, m.c.channel, m.c.recipient, m.c.subject,
               m.c.body, m.c.idempotency_key, m.c.attempts, m.c.client, m.c.campaign_id,
               m.c.enrollment_id, m.c.lead_id, m.c.step_index, m.c.status_reason,
               m.c.created_at, m.c.sender, leads.c.email, leads.c.timezone)
        .join(runs, runs.c.id == m.c.run_id)
        .join(campaigns, campaigns.c.resource_id == m.c.campaign_id)
        .join(clients, clients.c.name == m.c.client)
        .outerjoin(leads, leads.c.id == m.c.lead_id)
        .where(or_(m.c.status == "approved",
                   and_(m.c.status == "failed", m.c.next_attempt_at <= state.now,
                        # a failed write is retried by the step walk (tick), not here
                        or_(m.c.status_reason.is_(None),
                            m.c.status_reason.not_like("write failed:%"))),
                   and_(m.c.status == "queued", m.c.updated_at < state.now - policy.LEASE)),
               policy.deliverable_run())
        .order_by(m.c.id).limit(limit))
    if seen:
        query = query.where(m.c.id.not_in(sorted(seen)))
    if state.db.is_postgres:
        query = query.with_for_update(skip_locked=True, of=m)
    return query


def deliver_pending(state: TickState, limit: int) -> None:
    """Send approved, retry-due and stale queued messages (gated like fresh ones)."""
    with state.db.session() as session:
        recovered = recover_interrupted(session, state.now)
    for channel, n in recovered.items():
        state.count(channel, "unknown", n)
    seen: set[int] = set()
    while True:
        queued = _take(state, limit, seen)
        if queued is None:
            return
        state.send_and_record(queued)


def _take(state: TickState, limit: int, seen: set[int]) -> list[Queued] | None:
    with state.db.session() as session:
        rows = session.execute(_query(state, limit, seen)).all()
        if not rows:
            return None
        seen.update(r.id for r in rows)
        plans = {r.run_id: state.plan(session, r.run_id) for r in rows}
        fresh = [plans[r.run_id] for r in rows if r.status == "approved"]
        budget = load_budget(session, fresh, state.now, lock=state.db.is_postgres)
        books: dict[str, SenderBook] = {}
        taken = []
        for r in rows:
            plan = plans[r.run_id]
            if not plan.is_test and next_slot(state.now, plan.window, r.channel,
                                              r.timezone) != state.now:
                continue  # outside the sending window: a later tick sends it
            if r.status == "approved" and not plan.is_test and r.sender and not _mailbox_free(
                    state.book(session, books, plan), r.sender, state.now):
                state.count(r.channel, "deferred")  # its sender's cap or pacing: later
                continue
            if r.status == "approved" and budget.admit(plan, r.channel):
                state.count(r.channel, "deferred")
                continue
            taken.append(r)
        if taken:
            session.execute(update(messages).where(messages.c.id.in_([r.id for r in taken]))
                            .values(status="queued", updated_at=state.now))
            approved = [r.id for r in taken if r.status == "approved"]
            if approved:
                session.execute(update(messages).where(messages.c.id.in_(approved))
                                .values(scheduled_for=state.now))
        charge(session, budget)
        thread = threads(session, [r.enrollment_id for r in taken if r.sender],
                         before={r.enrollment_id: r.step_index for r in taken})
    return [_queued(r, plans[r.run_id], envelope(
        state.sender(plans[r.run_id], r.sender), thread.get(r.enrollment_id))) for r in taken]


def _mailbox_free(book: SenderBook, email: str, now: dt.datetime) -> bool:
    """An approved email goes when its sender's cap and pacing let it (then counted)."""
    if book.sender(email) is None or not book.can_send(email, now):
        return book.sender(email) is None  # a sender no longer configured: not held
    book.take(email, now)
    return True


def _queued(row: Any, plan: RunPlan, envelope: Envelope) -> Queued:
    return OutboundMessage(
        run_id=row.run_id, campaign_id=row.campaign_id, campaign=plan.campaign,
        client=row.client, enrollment_id=row.enrollment_id, lead_id=row.lead_id,
        step_index=row.step_index, channel=row.channel, recipient=row.recipient,
        subject=row.subject, body=row.body, status="queued", status_reason=None,
        idempotency_key=row.idempotency_key, created_at=row.created_at,
        attempts=row.attempts, is_test=plan.is_test,
        unsubscribe_url=unsubscribe_url(plan, {"email": row.email or ""}, row.idempotency_key),
        envelope=envelope, message_id=row.id)
