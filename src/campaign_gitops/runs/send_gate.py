"""The one send-time gate: looked at just before each message is handed to a transport.

A global or client halt, a run no longer running or a paused campaign hold a message
(it stays ``queued``); a suppressed contact, a stopped enrollment, a completed campaign
or a finished run drop it (``skipped`` with the reason, its credit refunded).
runs/delivery.py runs it in the transaction that marks a message ``sending``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from campaign_gitops.inbound.suppressions import normalize_contact, suppressed
from campaign_gitops.runs.bulk import one_of
from campaign_gitops.runs.gate import refund
from campaign_gitops.runs.policy import halt_reason
from campaign_gitops.runs.types import Queued
from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Enrollment, Message

messages = cast(Table, Message.__table__)
runs = cast(Table, CampaignRun.__table__)
campaigns = cast(Table, Campaign.__table__)
clients = cast(Table, Client.__table__)
enrollments = cast(Table, Enrollment.__table__)
STOPPED_ENROLLMENTS = ("replied", "bounced", "unsubscribed")
FINISHED_RUNS = ("completed", "cancelled")


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
