"""Settling ``unknown`` messages: the operator's word on what the machine cannot know.

A message is ``unknown`` when its send began but its result never came (a crash) or the
server may have accepted it (a timeout after SMTP DATA or an HTTP request body). Nothing
sends it again by itself (runs/delivery.py). An operator who has checked (the mail
server's log, the provider's dashboard) settles it:

- ``sent``: it went out; it counts as delivered from the time of its attempt.
- ``failed``: it did not; final, its credit refunded.
- ``resend``: send it again. It goes back through the approved path: the sending
  window, the daily limit, the credits and the send-time gate, like a message a human
  approved; its first credit is refunded and the new attempt charges one. It keeps its
  idempotency key, so an SMTP Message-ID or a webhook ``Idempotency-Key`` lets a
  receiver that did get the first copy drop the second.

Each settlement is audit-logged with the actor and the reason.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Literal, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from campaign_gitops.inbound.suppressions import audit
from campaign_gitops.runs.decisions import Decided, locked
from campaign_gitops.runs.gate import refund
from campaign_gitops.state.tables import CampaignRun, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
Outcome = Literal["sent", "failed", "resend"]
OUTCOMES: tuple[Outcome, ...] = ("sent", "failed", "resend")


def settle(session: Session, ids: list[int], outcome: Outcome, *, reason: str,
           now: dt.datetime, actor: str = "cli") -> list[Decided]:
    """Settle each ``unknown`` message in ``ids`` as ``outcome``; one result per id."""
    return [_settle_one(session, mid, outcome, reason, now, actor) for mid in ids]


def _settle_one(session: Session, message_id: int, outcome: Outcome, reason: str,
                now: dt.datetime, actor: str) -> Decided:
    row = locked(session, select(
        messages.c.status, messages.c.client, messages.c.updated_at, messages.c.recipient,
        runs.c.type, runs.c.status.label("run_status"))
        .join(runs, runs.c.id == messages.c.run_id), message_id, "unknown")
    if isinstance(row, Decided):
        return row
    if outcome == "resend" and row.run_status != "running":
        return Decided(message_id, "unchanged",
                       f"its run is {row.run_status}: resume the run first, or settle it "
                       "as sent or failed")
    why = f"settled as {outcome} by {actor}" + (f": {reason}" if reason else "")
    where = update(messages).where(messages.c.id == message_id)
    is_test = row.type == "test_run"
    if outcome == "sent":
        session.execute(where.values(status="sent", sent_at=row.updated_at, updated_at=now,
                                     status_reason=why, next_attempt_at=None))
        status = "sent"
    elif outcome == "failed":
        session.execute(where.values(status="failed", updated_at=now, status_reason=why,
                                     next_attempt_at=None))
        status = "failed"
    else:
        session.execute(where.values(status="approved", updated_at=now, status_reason=why,
                                     next_attempt_at=None))
        status = "approved"
    if outcome != "sent" and not is_test:
        refund(session, Counter({row.client: 1}))
    audit(session, "settle", actor=actor, now=now, client=row.client, contact=row.recipient,
          message_id=message_id, outcome=outcome, reason=reason)
    return Decided(message_id, status, why)


def attention(session: Session, now: dt.datetime, *, lease: dt.timedelta,
              run_ids: list[int] | None = None) -> dict[str, int]:
    """What needs a person: ``unknown`` messages (to settle) and ``stuck`` ones (queued or
    sending for longer than the lease: a halt, a pause or a closed window holds them, or
    no tick has run since a crash)."""
    query = select(
        func.count().filter(messages.c.status == "unknown"),
        func.count().filter(and_(messages.c.status.in_(("queued", "sending")),
                                 messages.c.updated_at < now - lease)),
    ).where(or_(messages.c.status == "unknown",
                messages.c.status.in_(("queued", "sending"))))
    if run_ids is not None:
        query = query.where(messages.c.run_id.in_(run_ids))
    unknown, stuck = session.execute(query).one()
    return {"unknown": int(unknown or 0), "stuck": int(stuck or 0)}
