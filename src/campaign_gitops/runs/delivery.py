"""Handing queued messages to the transports, at most once, whatever crashes.

The per-message protocol (SPEC section 7):

1. ``queued``: written and committed; never handed to a transport yet, so sending it
   (again, after a crash) is safe.
2. ``sending``: committed *before* the transport is called. The result of the previous
   message commits in the same transaction, so there is one commit per message and at
   most one message is ever between its mark and its result.
3. the result, committed right after: ``sent``; ``failed`` when the failure proves
   nothing was accepted (connection refused, an SMTP 4xx/5xx before or in answer to
   DATA, an HTTP 4xx/5xx answer: retried with backoff unless permanent); ``unknown``
   when the server may have accepted it (a timeout or a dropped connection after the
   message was handed over, a transport bug).

Messages of a transport that dedupes by key itself (the outbox) are grouped: tick
inserts them ``sending`` and gates them in the transaction that writes them
(``presend``, ``claim_together``); they are sent and their results committed together.

A message found ``sending`` past the lease (its tick crashed or was killed) becomes
``unknown`` too. ``unknown`` is never sent again by itself: an operator settles it
(``communications settle ID --as sent|failed|resend``).

Just before each send, the one send-time gate looks again (``gate``): contact
suppressed, enrollment stopped, run no longer running, campaign paused or completed,
client or global halt. A message that fails it is ``skipped`` with the reason and its
credit refunded. A run whose failures pass ``failure_threshold`` pauses itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound.suppressions import normalize_contact, suppress, suppressed
from campaign_gitops.redact import redact_text
from campaign_gitops.runs.bulk import mark_sent, one_of
from campaign_gitops.runs.gate import refund
from campaign_gitops.runs.policy import LEASE, halt_reason, retry_at
from campaign_gitops.runs.types import DeliveryError, OutboundMessage, OutgoingMessage, Transport
from campaign_gitops.state.db import Database, rowcount
from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Enrollment, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
clients = cast(Table, Client.__table__)
enrollments = cast(Table, Enrollment.__table__)
# How many messages of a transport that dedupes by itself (the outbox) are gated, marked,
# sent and recorded together; every other message is gated in its own mark transaction.
GATE_CHUNK = 50
STOPPED_ENROLLMENTS = ("replied", "bounced", "unsubscribed")
FINISHED_RUNS = ("completed", "cancelled")
# on every message of a test run (SPEC section 7): tools and people can tell them apart
TEST_HEADER = "X-Campaign-Gitops-Test"
UNKNOWN_HINT = ("settle it with `campaign-gitops communications settle {id} "
                "--as sent|failed|resend`")
MIN_FAILURES_TO_PAUSE = 5


# A committed ``queued`` message, ready to hand to its transport (``message_id`` set).
Queued = OutboundMessage


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

    def for_message(self, q: Queued) -> Transport | CampaignGitopsError:
        """A sender's named transport (SPEC 9), else the channel's."""
        name = q.envelope.transport
        if not name:
            return self.get(q.channel)
        key = f"@{name}"
        if key not in self._made:
            from campaign_gitops.runs.transports import make_named_transport

            try:
                self._made[key] = make_named_transport(name, self.config)
            except CampaignGitopsError as exc:
                self._made[key] = exc
        return self._made[key]

    def close(self) -> None:
        for transport in self._made.values():
            close = getattr(transport, "close", None)
            if callable(close):
                close()


def _outgoing(q: Queued, recipient: str, key: str) -> OutgoingMessage:
    return q.outgoing(recipient, key, {TEST_HEADER: "true"} if q.is_test else None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The send-time gate's answer for a group of messages."""

    send: list[Queued]
    skipped: list[tuple[Queued, str]]  # never to go: suppressed, enrollment stopped
    held: list[tuple[Queued, str]]  # not now: a halt, a pause; they stay queued


def gate(session: Session, queued: list[Queued], now: dt.datetime) -> Verdict:
    """The one send-time gate: what may go out now, what never will, what waits.

    Looked at just before sending, for fresh, approved and retried messages alike:
    a global or client halt, the run no longer running or the campaign paused (a test
    run of a draft campaign may go) hold a message: it stays ``queued`` and goes once the
    lease has passed and the gate is open again (its credit stays reserved). The contact
    suppressed (an unsubscribe, a STOP, a bounce committed since the message was written
    or approved), the enrollment stopped (replied, bounced, unsubscribed), the campaign
    completed or the run finished drop it: ``skipped`` with the reason, its credit
    refunded. The window and quiet hours are checked where a message is taken for
    sending (tick's walk, pending work), with the same ``now``.
    """
    if not queued:
        return Verdict([], [], [])
    halted = halt_reason(session)
    if halted:
        return Verdict([], [], [(q, halted) for q in queued])
    held, dropped = _state_refusals(session, queued)
    by_client: dict[str, list[Queued]] = {}
    for q in queued:
        if not q.is_test and q.message_id not in held and q.message_id not in dropped:
            by_client.setdefault(q.client, []).append(q)
    for client, items in by_client.items():
        # the cautious answer, like the claim's: any suppression of the contact counts
        # (a number that texted STOP is not called either)
        found = suppressed(session, client, [q.recipient for q in items])
        dropped.update((q.message_id, "suppressed") for q in items
                       if normalize_contact(q.recipient) in found)
    for reason in sorted(set(dropped.values())):
        ids = sorted(i for i, r in dropped.items() if r == reason)
        session.execute(update(messages).where(messages.c.id.in_(ids)).values(
            status="skipped", status_reason=reason, updated_at=now))
    skipped = [(q, dropped[q.message_id]) for q in queued if q.message_id in dropped]
    refund(session, Counter(q.client for q, _ in skipped if not q.is_test))
    return Verdict([q for q in queued if q.message_id not in held and
                    q.message_id not in dropped],
                   skipped, [(q, held[q.message_id]) for q in queued if q.message_id in held])


def _state_refusals(session: Session,
                    queued: list[Queued]) -> tuple[dict[int, str], dict[int, str]]:
    """(held, dropped): message id -> why its client, run, campaign or enrollment stops
    it now (held) or for good (dropped)."""
    rows = session.execute(
        select(messages.c.id, enrollments.c.state, runs.c.status.label("run_status"),
               runs.c.type, campaigns.c.status.label("campaign_status"), clients.c.halted)
        .join(enrollments, enrollments.c.id == messages.c.enrollment_id)
        .join(runs, runs.c.id == messages.c.run_id)
        .join(campaigns, campaigns.c.resource_id == messages.c.campaign_id)
        .join(clients, clients.c.name == messages.c.client)
        .where(one_of(session, messages.c.id, [q.message_id for q in queued]))).all()
    held: dict[int, str] = {}
    dropped: dict[int, str] = {}
    for row in rows:
        draft_test = row.type == "test_run" and row.campaign_status == "draft"
        if row.halted:
            held[row.id] = "client halted"
        elif row.state in STOPPED_ENROLLMENTS:
            dropped[row.id] = f"enrollment stopped: {row.state}"
        elif row.campaign_status == "completed" or row.run_status in FINISHED_RUNS:
            dropped[row.id] = (f"campaign {row.campaign_status}"
                               if row.campaign_status == "completed" else
                               f"run {row.run_status}")
        elif row.run_status != "running":
            held[row.id] = f"run {row.run_status}"
        elif row.campaign_status != "active" and not draft_test:
            held[row.id] = f"campaign {row.campaign_status}"
    return held, dropped


def send_one(q: Queued, transports: Transports) -> Result:
    transport = transports.for_message(q)
    if isinstance(transport, CampaignGitopsError):
        what = q.envelope.transport or q.channel
        return Result(q, "config", error=redact_text(f"transport for {what}: {transport.message}"))
    recipients = [r.strip() for r in q.recipient.split(",") if r.strip()]
    if not q.is_test:
        recipients = [q.recipient]
    ids: list[str] = []
    try:
        for i, recipient in enumerate(recipients):
            key = q.idempotency_key if i == 0 else f"{q.idempotency_key}#{i}"
            ids.append(transport.send(_outgoing(q, recipient, key)))
    except DeliveryError as exc:  # status_reason: no URL credentials (webhook URLs)
        return Result(q, transport.name, error=redact_text(exc.reason),
                      permanent=exc.permanent,
                      bounce=exc.bounce, ambiguous=exc.ambiguous or bool(ids))
    except Exception as exc:  # a transport bug: nobody knows what left, so never resent
        return Result(q, transport.name, error=redact_text(f"{type(exc).__name__}: {exc}"),
                      ambiguous=True)
    return Result(q, transport.name, provider_id=",".join(ids))


@dataclass(slots=True)
class Delivered:
    """What ``deliver`` did: each send's result, the messages the gate refused (with the
    reason), the messages held by a halt, and notes (runs paused for failures)."""

    results: list[Result]
    skipped: list[tuple[Queued, str]]
    held: list[tuple[Queued, str]]
    notes: list[str]


def presend(drafts: list[Queued], transports: Transports) -> list[Queued]:
    """Fresh messages of a transport that dedupes by key itself (``_dedupes``: the outbox)
    are inserted ``sending``, not ``queued``: no other tick ever sees them waiting, and
    ``claim_together`` gates them in the same transaction."""
    return [dataclasses.replace(d, status="sending")
            if d.status == "queued" and _dedupes(transports, d) else d
            for d in drafts]


def claim_together(session: Session, inserted: list[Queued],
                   now: dt.datetime) -> tuple[list[Queued], Verdict]:
    """The send-time gate, in the caller's transaction (the one that inserts them), on
    the messages ``presend`` marked ``sending``: the skipped ones are ``skipped``, the held
    ones go back to ``queued`` (pending work takes them once the gate opens). Returns the
    messages to deliver (those claimed still ``sending``: ``deliver`` sends them without
    a transaction of its own before; the others ``queued``, each gated in its own mark
    transaction) and the verdict on the claimed ones."""
    verdict = gate(session, [q for q in inserted if q.status == "sending"], now)
    if verdict.held:
        session.execute(update(messages).where(
            one_of(session, messages.c.id, [q.message_id for q, _ in verdict.held]))
            .values(status="queued", updated_at=now))
    refused = {q.message_id for q, _ in [*verdict.skipped, *verdict.held]}
    return [q for q in inserted if q.message_id not in refused], verdict


def deliver(db: Database, queued: list[Queued], transports: Transports, now: dt.datetime,
            threshold: float, gated: Verdict | None = None) -> Delivered:
    """Send ``queued`` through the per-message protocol (see the module's docstring).

    The send-time gate runs in the very transaction that marks a message ``sending``: a
    suppression, a reply or a halt committed before that mark stops the message. Messages
    of a transport that dedupes by key itself (``_dedupes``) are gated, marked, sent and
    recorded in groups: of GATE_CHUNK here, or the whole batch when the caller inserted
    and gated them already (status ``sending``: ``presend``, ``claim_together``, whose
    verdict is ``gated``)."""
    out = Delivered([], list(gated.skipped) if gated else [],
                    list(gated.held) if gated else [], [])
    if not queued:
        return out
    with db.sessions() as session:
        previous: Result | None = None

        def record_previous() -> None:
            nonlocal previous
            if previous is not None:
                _record(session, previous, now)
                previous = None

        def gated_now(items: list[Queued]) -> list[Queued]:
            verdict = gate(session, items, now)
            out.held.extend(verdict.held)
            out.skipped.extend(verdict.skipped)
            return verdict.send

        claimed = [q for q in queued if q.status == "sending"]
        if claimed:  # gated and marked by the caller's committed transaction
            results = [send_one(q, transports) for q in claimed]
            with session.begin():
                _record_group(session, results, now)
            out.results.extend(results)
        for chunk in _chunks([q for q in queued if q.status != "sending"], GATE_CHUNK):
            together = [q for q in chunk if _dedupes(transports, q)]
            if together:  # marked, sent and recorded as one group (see _dedupes)
                with session.begin():
                    record_previous()
                    won = _mark_all_sending(session, gated_now(together), now)
                results = [send_one(q, transports) for q in together if q.message_id in won]
                with session.begin():
                    _record_group(session, results, now)
                out.results.extend(results)
            for q in chunk:
                if _dedupes(transports, q):
                    continue
                with session.begin():
                    record_previous()
                    claimed_one = bool(gated_now([q])) and _mark_sending(session, q, now)
                if not claimed_one:  # refused by the gate, or another tick took it meanwhile
                    continue
                previous = send_one(q, transports)
                out.results.append(previous)
        with session.begin():
            record_previous()
            failed_runs = {r.queued.run_id for r in out.results if r.status == "failed"}
            out.notes.extend(_pause_failing_runs(session, failed_runs, now, threshold))
    return out


def _record_group(session: Session, results: list[Result], now: dt.datetime) -> None:
    """The outcomes of a group sent together: the sent ones in one statement."""
    mark_sent(session, [{"m_id": r.queued.message_id, "m_transport": r.transport,
                         "m_provider": r.provider_id} for r in results if r.error is None], now)
    for result in results:
        if result.error is not None:
            _record(session, result, now)


def _chunks(items: list[Queued], size: int) -> Iterator[list[Queued]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _dedupes(transports: Transports, q: Queued) -> bool:
    """A transport that delivers an idempotency key at most once by itself (``dedupes =
    True``: the outbox) needs no commit between two of its sends: its messages are marked
    ``sending`` together (committed), sent, and their results committed together. A
    crash in between still leaves them ``sending`` -> ``unknown``, never sent twice."""
    return bool(getattr(transports.for_message(q), "dedupes", False))


def _mark_all_sending(session: Session, group: list[Queued], now: dt.datetime) -> set[int]:
    """``queued -> sending`` for a group; the ids this caller won (not another tick)."""
    if not group:
        return set()
    won = session.execute(update(messages).where(
        one_of(session, messages.c.id, [q.message_id for q in group]),
        messages.c.status == "queued")
        .values(status="sending", updated_at=now, status_reason=None)
        .returning(messages.c.id)).scalars()
    return set(won)


def _mark_sending(session: Session, q: Queued, now: dt.datetime) -> bool:
    done = session.execute(update(messages).where(
        messages.c.id == q.message_id, messages.c.status == "queued")
        .values(status="sending", updated_at=now, status_reason=None))
    return bool(rowcount(done))


def _record(session: Session, r: Result, now: dt.datetime) -> None:
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


def _pause_failing_runs(session: Session, run_ids: set[int], now: dt.datetime,
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
