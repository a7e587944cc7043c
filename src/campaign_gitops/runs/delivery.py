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

The gate lives in runs/send_gate.py, a send's ``Result`` and how it is committed in
runs/send_results.py; this module runs the protocol and keeps the transports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from campaign_gitops.config.project import ProjectConfig
from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.redact import redact_text
from campaign_gitops.runs.bulk import one_of
from campaign_gitops.runs.send_gate import Verdict, gate
from campaign_gitops.runs.send_results import Result, pause_failing_runs, record, record_group
from campaign_gitops.runs.types import DeliveryError, OutgoingMessage, Queued, Transport
from campaign_gitops.state.db import Database, rowcount
from campaign_gitops.state.tables import Message

messages = cast(Table, Message.__table__)
# How many messages of a transport that dedupes by itself (the outbox) are gated, marked,
# sent and recorded together; every other message is gated in its own mark transaction.
GATE_CHUNK = 50
# on every message of a test run (SPEC section 7): tools and people can tell them apart
TEST_HEADER = "X-Campaign-Gitops-Test"


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
                record(session, previous, now)
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
                record_group(session, results, now)
            out.results.extend(results)
        for chunk in _chunks([q for q in queued if q.status != "sending"], GATE_CHUNK):
            together = [q for q in chunk if _dedupes(transports, q)]
            if together:  # marked, sent and recorded as one group (see _dedupes)
                with session.begin():
                    record_previous()
                    won = _mark_all_sending(session, gated_now(together), now)
                results = [send_one(q, transports) for q in together if q.message_id in won]
                with session.begin():
                    record_group(session, results, now)
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
            out.notes.extend(pause_failing_runs(session, failed_runs, now, threshold))
    return out


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


