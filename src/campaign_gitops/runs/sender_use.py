"""Senders against the database (SPEC 9): each client's use of its mailboxes today,
the thread a lead's next email continues, the envelope it goes out in.

``load_book`` is what tick (and pending work) choose and pace with; ``sender_usage``
is the one query ``status``, ``runs show`` and the web UI show use against caps with.
A sender's "today" is the client's local day (``spec.timezone``); test runs count
against no cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_gitops.config.models import Sender
from campaign_gitops.runs.calendar import day_bounds
from campaign_gitops.runs.gate import COUNTED
from campaign_gitops.runs.senders import HOUR, SenderBook
from campaign_gitops.runs.types import Envelope
from campaign_gitops.state.tables import CampaignRun, Message

messages = Message.__table__
runs = CampaignRun.__table__
# A lead's earlier emails that may have reached it: the thread its next email continues.
THREAD_STATUSES = ("sent", "unknown")
REPLY_PREFIX = "Re: "


def load_book(session: Session, client: str, senders: Sequence[Sender], now: dt.datetime,
              timezone: str | None) -> SenderBook:
    """``client``'s use of ``senders`` today (all its campaigns) and their recent sends."""
    book = SenderBook(list(senders))
    emails = sorted({s.email.lower() for s in senders})
    if not emails:
        return book
    start, end = day_bounds(now, timezone or "UTC")
    gap = max((s.min_gap_seconds or 0 for s in senders), default=0)
    since = min(start, now - max(HOUR, dt.timedelta(seconds=gap)))
    base = (select(messages.c.sender, messages.c.scheduled_for)
            .join(runs, runs.c.id == messages.c.run_id)
            .where(messages.c.client == client, messages.c.sender.in_(emails),
                   runs.c.type != "test_run", messages.c.status.in_(COUNTED),
                   messages.c.scheduled_for >= since, messages.c.scheduled_for < end))
    for sender, at in session.execute(base):
        if at is None:
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        if at >= start:
            book.sent_today[sender] = book.sent_today.get(sender, 0) + 1
        if at <= now:
            book.recent.setdefault(sender, []).append(at)
    return book


@dataclass(frozen=True, slots=True)
class SenderUse:
    """One sender's use today: for ``status``, ``runs show`` and the web UI."""

    client: str
    email: str
    name: str
    sent_today: int
    daily_limit: int
    max_per_hour: int | None = None
    min_gap_seconds: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"client": self.client, "email": self.email, "name": self.name,
                "sent_today": self.sent_today, "daily_limit": self.daily_limit,
                "max_per_hour": self.max_per_hour, "min_gap_seconds": self.min_gap_seconds}

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>"


def sender_usage(session: Session, now: dt.datetime, *, client: str | None = None,
                 only: Sequence[str] | None = None) -> list[SenderUse]:
    """Per-sender use today vs cap of every client (or ``client``) with senders, from the
    applied Client resources; ``only``: just these sender emails (a run's)."""
    from campaign_gitops.state.tables import Resource

    resources = Resource.__table__
    query = select(resources.c.name, resources.c.spec).where(
        resources.c.kind == "Client", resources.c.deleted_at.is_(None)).order_by(
        resources.c.name)
    if client is not None:
        query = query.where(resources.c.name == client)
    wanted = {e.lower() for e in only} if only is not None else None
    out: list[SenderUse] = []
    for name, spec in session.execute(query):
        senders = [Sender.model_validate(s) for s in (spec or {}).get("senders") or ()]
        if wanted is not None:
            senders = [s for s in senders if s.email.lower() in wanted]
        if not senders:
            continue
        book = load_book(session, name, senders, now, (spec or {}).get("timezone"))
        out.extend(SenderUse(name, s.email, s.name, book.sent_today.get(s.email.lower(), 0),
                             s.daily_limit, s.max_per_hour, s.min_gap_seconds)
                   for s in senders)
    return out


@dataclass(frozen=True, slots=True)
class Thread:
    """A lead's earlier emails in one enrollment: Message-IDs in order, first subject."""

    ids: tuple[str, ...]
    subject: str | None


def threads(session: Session, enrollment_ids: Sequence[int],
            before: dict[int, int] | None = None) -> dict[int, Thread]:
    """The thread of each enrollment's earlier emails (steps before ``before[id]``)."""
    from campaign_gitops.runs.bulk import one_of
    from campaign_gitops.runs.transport_smtp import message_id

    if not enrollment_ids:
        return {}
    rows = session.execute(
        select(messages.c.enrollment_id, messages.c.step_index, messages.c.idempotency_key,
               messages.c.subject, messages.c.transport_message_id, messages.c.sender)
        .where(one_of(session, messages.c.enrollment_id, list(enrollment_ids)),
               messages.c.channel == "email", messages.c.status.in_(THREAD_STATUSES))
        .order_by(messages.c.enrollment_id, messages.c.step_index)).all()
    found: dict[int, list[Any]] = {}
    for row in rows:
        if before is not None and row.step_index >= before.get(row.enrollment_id, 1 << 30):
            continue
        found.setdefault(row.enrollment_id, []).append(row)
    out = {}
    for eid, items in found.items():
        ids = tuple(r.transport_message_id if (r.transport_message_id or "").startswith("<")
                    else message_id(r.idempotency_key, r.sender or "") for r in items)
        out[eid] = Thread(ids, items[0].subject)
    return out


def reply_subject(subject: str | None, thread: Thread | None, own: bool) -> str | None:
    """A later email of a thread is a reply: ``Re: <first subject>`` unless its step sets
    its own subject (``own``)."""
    if thread is None or own or not thread.subject:
        return subject
    first = thread.subject
    return first if first.lower().startswith("re:") else REPLY_PREFIX + first


def envelope(sender: Sender | None, thread: Thread | None) -> Envelope:
    """The envelope of an email from ``sender`` continuing ``thread``."""
    if sender is None:
        return Envelope()
    return Envelope(
        sender=sender.email.lower(), sender_name=sender.name, reply_to=sender.reply_to,
        in_reply_to=thread.ids[-1] if thread else None,
        references=thread.ids if thread else (), transport=sender.transport,
        dkim=sender.dkim.model_dump(by_alias=True, exclude_none=True) if sender.dkim else None)


def run_sender_usage(session: Session, run_id: int, now: dt.datetime) -> list[SenderUse]:
    """The use today of the senders a run may email from (its pinned campaign's)."""
    from campaign_gitops.runs.senders import run_senders

    row = session.execute(select(runs.c.config).where(runs.c.id == run_id)).first()
    if row is None or not row.config:
        return []
    client = (row.config.get("campaign") or {}).get("client")
    emails = [s.email for s in run_senders(row.config)]
    return sender_usage(session, now, client=client, only=emails) if emails else []


def usage_text(use: list[SenderUse]) -> str:
    """``Isla Moreno <isla@acme.test> 3/40 today, …`` (``none`` without senders)."""
    return ", ".join(f"{u.label} {u.sent_today}/{u.daily_limit}" for u in use) or "none"
