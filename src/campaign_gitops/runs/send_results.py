"""One send's outcome (``Result``) and how it is committed (SPEC section 7).

``sent``; ``failed`` when the failure proves nothing was accepted (retried with the
delivery backoff unless permanent or out of attempts: then its credit is refunded);
``unknown`` when the server may have accepted it (its credit stays spent, nothing
retries it: an operator settles it). A recipient refused at send time is a bounce (a
hard one suppresses the contact). A message left ``sending`` past the lease becomes
``unknown`` (``recover_interrupted``); a run whose failures pass the threshold pauses.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from campaign_gitops.inbound.suppressions import suppress
from campaign_gitops.runs.bulk import mark_sent
from campaign_gitops.runs.gate import refund
from campaign_gitops.runs.policy import LEASE, retry_at
from campaign_gitops.runs.types import Queued
from campaign_gitops.state.db import rowcount
from campaign_gitops.state.tables import CampaignRun, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
UNKNOWN_HINT = ("settle it with `campaign-gitops communications settle {id} "
                "--as sent|failed|resend`")
MIN_FAILURES_TO_PAUSE = 5


@dataclass(frozen=True, slots=True)
class Result:
    queued: Queued
    transport: str
    provider_id: str | None = None
    error: str | None = None
    permanent: bool = False
    bounce: str | None = None  # hard / soft: the server refused the recipient (RCPT)
    ambiguous: bool = False  # the server may have accepted it: unknown, never retried

    @property
    def status(self) -> str:
        if self.error is None:
            return "sent"
        return "unknown" if self.ambiguous else "failed"


def record_group(session: Session, results: list[Result], now: dt.datetime) -> None:
    """The outcomes of a group sent together: the sent ones in one statement."""
    mark_sent(session, [{"m_id": r.queued.message_id, "m_transport": r.transport,
                         "m_provider": r.provider_id} for r in results if r.error is None], now)
    for result in results:
        if result.error is not None:
            record(session, result, now)


def record(session: Session, r: Result, now: dt.datetime) -> None:
    """Commit one send's outcome (in the caller's transaction)."""
    q = r.queued
    where = update(messages).where(messages.c.id == q.message_id,
                                   messages.c.status == "sending")
    if r.error is None:
        session.execute(where.values(
            status="sent", sent_at=now, updated_at=now, status_reason=None,
            transport=r.transport, transport_message_id=r.provider_id,
            attempts=messages.c.attempts + 1, next_attempt_at=None))
        return
    if r.ambiguous:  # it may have gone out: its credit stays spent, nothing retries it
        reason = (f"{r.error}: the server may have accepted it, so it is not sent again "
                  f"by itself; " + UNKNOWN_HINT.format(id=q.message_id))
        session.execute(where.values(status="unknown", updated_at=now, transport=r.transport,
                                     status_reason=reason, attempts=messages.c.attempts + 1,
                                     next_attempt_at=None))
        return
    attempts = q.attempts + 1
    retry = None if r.permanent else retry_at(attempts, now)
    final = retry is None
    reason = r.error if not final or r.permanent else \
        f"{r.error} (gave up after {attempts} attempts)"
    session.execute(where.values(status="failed", updated_at=now, transport=r.transport,
                                 status_reason=reason, attempts=messages.c.attempts + 1,
                                 next_attempt_at=retry))
    if final and not q.is_test:
        refund(session, Counter({q.client: 1}))
    if r.bounce and not q.is_test:
        _record_bounces(session, [r], now)


def recover_interrupted(session: Session, now: dt.datetime) -> Counter[str]:
    """Messages left ``sending`` past the lease (their tick crashed or was killed
    between the mark and the result) become ``unknown``: they may have gone out.
    Returns how many per channel."""
    stale = session.execute(select(messages.c.id, messages.c.channel).where(
        messages.c.status == "sending", messages.c.updated_at < now - LEASE)
        .with_for_update(skip_locked=True)).all()
    for message_id, _ in stale:
        session.execute(update(messages).where(
            messages.c.id == message_id, messages.c.status == "sending").values(
            status="unknown", updated_at=now, status_reason=(
                "its send began but no result was recorded (the process crashed or was "
                "killed); it may have gone out, so it is not sent again by itself; "
                + UNKNOWN_HINT.format(id=message_id))))
    return Counter(channel for _, channel in stale)


def _record_bounces(session: Session, bounced: list[Result], now: dt.datetime) -> None:
    """A recipient refused at send time: a hard bounce (5xx on RCPT) suppresses the
    contact for the client and stops its sequences (a ``bounce`` reply); a soft one is
    recorded (``soft_bounce``, once per attempt) and the message retried."""
    from campaign_gitops.runs.replies import ReplyInput, add_reply, already_recorded

    for r in bounced:
        q = r.queued
        external = f"smtp:{r.bounce}:{q.idempotency_key}:{q.attempts + 1}"
        if already_recorded(session, external):
            continue
        if r.bounce == "hard":
            suppress(session, q.client, q.recipient, reason="bounce", source="smtp",
                     actor="tick", now=now)
        add_reply(session, ReplyInput(
            contact=q.recipient, kind="bounce" if r.bounce == "hard" else "soft_bounce",
            body=r.error, channel=q.channel, external_id=external, source="smtp",
            actor="tick", message_key=q.idempotency_key, client=q.client), now=now)


def pause_failing_runs(session: Session, run_ids: set[int], now: dt.datetime,
                        threshold: float) -> list[str]:
    notes: list[str] = []
    for run_id in sorted(run_ids):
        counts: dict[str, int] = dict(session.execute(
            select(messages.c.status, func.count()).where(
                messages.c.run_id == run_id, messages.c.status.in_(("sent", "failed")))
            .group_by(messages.c.status)).all())
        failed, total = counts.get("failed", 0), counts.get("failed", 0) + counts.get("sent", 0)
        if failed < MIN_FAILURES_TO_PAUSE or failed / total <= threshold:
            continue
        reason = (f"paused: {failed} of {total} deliveries failed, above the failure "
                  f"threshold of {threshold:.0%}; fix the transport, then resume the run")
        done = session.execute(update(runs).where(runs.c.id == run_id,
                                                  runs.c.status == "running")
                               .values(status="paused", status_reason=reason))
        if rowcount(done):
            notes.append(f"run {run_id} {reason}")
    return notes
