"""The commit phase of a tick's round: one short transaction for the written steps.

Under the budget's lock it gates the outcomes again (daily limit and credits, the
sender's cap and pacing, which another tick may have used since the claim), inserts the
messages (``queued`` before sending; a step whose earlier write failed temporarily gets
its row rewritten, with the delivery backoff), advances or holds the enrollments, keeps
each lead's sender, and claims the outbox's messages for delivery
(``delivery.presend``, ``delivery.claim_together``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from campaign_gitops.runs import bulk, delivery, policy
from campaign_gitops.runs.calendar import next_day_start, next_slot
from campaign_gitops.runs.compose import Outcome, Work, message_key, unsubscribe_url
from campaign_gitops.runs.enrollments import advance_values
from campaign_gitops.runs.gate import charge, load_budget
from campaign_gitops.runs.send_gate import Verdict
from campaign_gitops.runs.sender_use import (
    Thread,
    envelope as sender_envelope,
    reply_subject,
    threads,
)
from campaign_gitops.runs.senders import SenderBook
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.runs.tick_state import TickState, apply_moves, hold, move
from campaign_gitops.runs.types import NO_ENVELOPE, OutboundMessage, Queued
from campaign_gitops.state.tables import Enrollment, Message

enrollments = cast(Table, Enrollment.__table__)
messages = cast(Table, Message.__table__)


def commit_outcomes(state: TickState, outcomes: list[Outcome]
                    ) -> tuple[list[Queued], Verdict]:
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
                moves.append(move(work, state="finished", now=now))
                continue
            if outcome.wants_delivery:
                paced = _sender_refuses(state, state.book(session, books, plan), plan, work)
                if paced is not None:
                    moves.append(paced)
                    continue
                refused = budget.admit(plan, outcome.channel)
                if refused is not None:
                    moves.append(hold(state, session, plan, work, outcome.channel, refused))
                    continue
            draft, retry = _write_retry(
                _draft(plan, outcome, now, thread.get(work.enrollment_id)), outcome,
                earlier.get(message_key(work)), now)
            drafts.append(draft)
            state.touched_campaigns.add(plan.campaign_id)
            if retry is not None:  # a temporary write failure: same step, later
                moves.append(move(work, now=now, next_due_at=retry))
                state.count(outcome.channel, "failed")
                continue
            if outcome.status == "pending_review":
                moves.append(move(work, now=now, next_due_at=None))
            else:
                anchor = work.due if outcome.status == "skipped" and work.due else now
                moves.append(move(work, now=now, **advance_values(
                    plan, work.step_index, anchor, tz, replied=work.replied,
                    bounced=work.bounced)))
            if not outcome.wants_delivery:
                state.count(outcome.channel, outcome.status)
        charge(session, budget)
        queued = _insert_messages(session, delivery.presend(drafts, state.transports))
        apply_moves(session, moves, state.worker)
        _keep_senders(session, drafts)
        return delivery.claim_together(session, queued, now)


def _sender_refuses(state: TickState, book: SenderBook, plan: RunPlan,
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
    return move(work, now=state.now, next_due_at=later)


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
                     drafts: list[OutboundMessage]) -> list[Queued]:
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
