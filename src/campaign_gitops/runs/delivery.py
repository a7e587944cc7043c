"""Handing queued messages to the transports and recording what happened.

A message is inserted as ``queued`` (and committed) before it is sent, with its
idempotency key ``<enrollment>:<step>``; the transport dedupes on that key, so a crash
between sending and recording never sends a step twice. A failed delivery is retried
with backoff on later ticks; a permanent failure (or the last attempt) refunds the
credit. A run whose failures pass ``failure_threshold`` pauses itself and says why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.suppressions import normalize_contact, suppress, suppressed
from campaign_gitops.runs.bulk import mark_sent
from campaign_gitops.runs.gate import refund
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage, Transport
from campaign_gitops.state.tables import CampaignRun, Message

messages = Message.__table__
runs = CampaignRun.__table__
BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
           dt.timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
MIN_FAILURES_TO_PAUSE = 5


@dataclass(frozen=True, slots=True)
class Queued:
    """A committed ``queued`` message, ready to hand to its transport."""

    message_id: int
    run_id: int
    client: str
    campaign: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    idempotency_key: str
    attempts: int
    is_test: bool
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    queued: Queued
    transport: str
    provider_id: str | None = None
    error: str | None = None
    permanent: bool = False
    bounce: str | None = None  # hard / soft: the server refused the recipient (RCPT)


class Transports:
    """One transport per channel for the whole tick, built on first use."""

    def __init__(self, config: ProjectConfig, root: Path | None,
                 factory: Callable[..., Transport] | None = None) -> None:
        self.config = config
        self.root = root
        self._made: dict[str, Transport | CampaignGitopsError] = {}
        self._factory = factory

    def get(self, channel: str) -> Transport | CampaignGitopsError:
        if channel not in self._made:
            factory = self._factory
            if factory is None:
                from campaign_gitops.runs.transports import make_transport

                factory = make_transport
            try:
                self._made[channel] = factory(channel, self.config, root=self.root)
            except CampaignGitopsError as exc:
                self._made[channel] = exc
        return self._made[channel]

    def close(self) -> None:
        for transport in self._made.values():
            close = getattr(transport, "close", None)
            if callable(close):
                close()


def _outgoing(q: Queued, recipient: str, key: str) -> OutgoingMessage:
    return OutgoingMessage(idempotency_key=key, channel=q.channel, recipient=recipient,
                           subject=q.subject, body=q.body, client=q.client,
                           campaign=q.campaign, metadata=dict(q.metadata))


def drop_suppressed(session: Session, queued: list[Queued],
                    now: dt.datetime) -> tuple[list[Queued], list[Queued]]:
    """The last look before the transports: a contact suppressed since its message was
    written or approved (an unsubscribe, a STOP, a bounce committed meanwhile) is not
    sent to; its message becomes ``skipped`` (reason ``suppressed``), its credit
    refunded. Returns (to send, skipped)."""
    by_client: dict[tuple[str, str], list[Queued]] = {}
    for q in queued:
        if not q.is_test:
            by_client.setdefault((q.client, q.channel), []).append(q)
    blocked: set[int] = set()
    for (client, channel), items in by_client.items():
        found = suppressed(session, client, [q.recipient for q in items], channel)
        blocked.update(q.message_id for q in items
                       if normalize_contact(q.recipient) in found)
    if not blocked:
        return queued, []
    dropped = [q for q in queued if q.message_id in blocked]
    session.execute(update(messages).where(messages.c.id.in_(sorted(blocked))).values(
        status="skipped", status_reason="suppressed", updated_at=now))
    refund(session, Counter(q.client for q in dropped))
    return [q for q in queued if q.message_id not in blocked], dropped


def send_one(q: Queued, transports: Transports) -> Result:
    transport = transports.get(q.channel)
    if isinstance(transport, CampaignGitopsError):
        return Result(q, "config", error=f"transport for {q.channel}: {transport.message}")
    recipients = [r.strip() for r in q.recipient.split(",") if r.strip()]
    if not q.is_test:
        recipients = [q.recipient]
    ids: list[str] = []
    try:
        for i, recipient in enumerate(recipients):
            key = q.idempotency_key if i == 0 else f"{q.idempotency_key}#{i}"
            ids.append(transport.send(_outgoing(q, recipient, key)))
    except DeliveryError as exc:
        return Result(q, transport.name, error=exc.reason, permanent=exc.permanent,
                      bounce=exc.bounce)
    except Exception as exc:  # a transport bug must not stop the tick: retried later
        return Result(q, transport.name, error=f"{type(exc).__name__}: {exc}")
    return Result(q, transport.name, provider_id=",".join(ids))


def send_all(queued: list[Queued], transports: Transports) -> list[Result]:
    return [send_one(q, transports) for q in queued]


def record(session: Session, results: list[Result], now: dt.datetime,
           threshold: float) -> list[str]:
    """Write the outcome of each send; refund lost credits; pause failing runs (notes)."""
    sent = [r for r in results if r.error is None]
    failed = [r for r in results if r.error is not None]
    mark_sent(session, [{"m_id": r.queued.message_id, "m_transport": r.transport,
                         "m_provider": r.provider_id} for r in sent], now)
    if not failed:
        return []
    rows = []
    lost: Counter[str] = Counter()
    for r in failed:
        attempts = r.queued.attempts + 1
        final = r.permanent or attempts >= MAX_ATTEMPTS
        if final and not r.queued.is_test:
            lost[r.queued.client] += 1
        retry = None if final else now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        reason = r.error if not final or r.permanent else f"{r.error} (gave up after " \
                                                           f"{attempts} attempts)"
        rows.append({"m_id": r.queued.message_id, "m_transport": r.transport,
                     "m_reason": reason, "m_next": retry})
    session.execute(
        update(messages).where(messages.c.id == bindparam("m_id")).values(
            status="failed", updated_at=now, transport=bindparam("m_transport"),
            status_reason=bindparam("m_reason"), attempts=messages.c.attempts + 1,
            next_attempt_at=bindparam("m_next")), rows)
    refund(session, lost)
    _record_bounces(session, [r for r in failed if r.bounce and not r.queued.is_test], now)
    return _pause_failing_runs(session, {r.queued.run_id for r in failed}, now, threshold)


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


def _pause_failing_runs(session: Session, run_ids: set[int], now: dt.datetime,
                        threshold: float) -> list[str]:
    notes: list[str] = []
    for run_id in sorted(run_ids):
        counts = dict(session.execute(
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
        if done.rowcount:
            notes.append(f"run {run_id} {reason}")
    return notes
