"""The one place that suppresses, un-suppresses and forgets contacts, and the one answer
to "may I send to this contact?" (``suppressed``; the send-time gate asks it).

A suppression is ``(client, contact, channel)``: ``channel`` ``*`` is every channel (an
unsubscribe link, a bounce, a complaint, ``suppressions add``); an SMS or voice STOP is
recorded on the channel it came in on, and START lifts only that one. Asked without a
channel (what tick does), any suppression of the contact counts: a number that texted
STOP is neither texted nor called while it stands. ``contact`` is the
normalized address (lower-cased email, phone without spaces and punctuation), or
``sha256:<hex>`` of it once the person was forgotten: ``suppressed`` checks both, so a
forgotten person is never contacted again although nothing readable about them is kept.

Every change is written to ``audit_log`` in the caller's transaction; the caller commits
(the suppression is durable when its commit returns). Nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.state.db import rowcount
from campaign_gitops.state.tables import (
    AuditLog,
    Enrollment,
    Lead,
    Message,
    Reply,
    Suppression,
)

ALL = "*"
CHANNELS = (ALL, "email", "sms", "voice", "linkedin", "mail")
REASONS = ("unsubscribe", "bounce", "complaint", "stop", "manual", "forgotten")
HASH_PREFIX = "sha256:"
suppressions = cast(Table, Suppression.__table__)
audit_log = cast(Table, AuditLog.__table__)
leads = cast(Table, Lead.__table__)
messages = cast(Table, Message.__table__)
replies = cast(Table, Reply.__table__)
enrollments = cast(Table, Enrollment.__table__)
_PHONE_JUNK = re.compile(r"[\s().-]")
_CHUNK = 400  # each contact is asked for twice (plain and hashed): under SQLite's limit


def normalize_phone(value: str) -> str:
    """Spaces, dots, dashes and brackets removed (``+61 2 9999-0000`` → ``+61299990000``)."""
    return _PHONE_JUNK.sub("", value)


def normalize_contact(contact: str) -> str:
    """An email lower-cased, a phone without punctuation; a hashed contact as given."""
    contact = contact.strip()
    if contact.startswith(HASH_PREFIX):
        return contact
    return contact.lower() if "@" in contact else normalize_phone(contact)


def hashed(contact: str) -> str:
    """The kept form of a forgotten contact: ``sha256:<hex>`` of the normalized contact."""
    normal = normalize_contact(contact)
    if normal.startswith(HASH_PREFIX):
        return normal
    return HASH_PREFIX + hashlib.sha256(normal.encode()).hexdigest()


def _chunks(items: list[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def suppressed(session: Session, client: str, contacts: Iterable[str],
               channel: str | None = None) -> set[str]:
    """The given contacts (normalized) that ``client`` must not contact.

    With ``channel`` only the suppressions covering it (``*`` or that channel) count;
    without, any suppression of the contact does (the cautious answer).
    """
    wanted: dict[str, str] = {}
    for contact in contacts:
        normal = normalize_contact(contact)
        if normal:
            wanted[normal] = normal
            wanted[hashed(normal)] = normal
    found: set[str] = set()
    postgres = session.get_bind().dialect.name == "postgresql"  # one array parameter
    for chunk in _chunks(sorted(wanted), max(len(wanted), 1) if postgres else _CHUNK):
        query = select(suppressions.c.contact).where(
            suppressions.c.client == client, _contact_in(session, chunk))
        if channel is not None:
            query = query.where(suppressions.c.channel.in_((ALL, channel)))
        found.update(wanted[c] for c in session.execute(query).scalars())
    return found


def _contact_in(session: Session, contacts: list[str]) -> ColumnElement[bool]:
    """``contact IN contacts``; on PostgreSQL ``= ANY(array)``: one parameter, so the
    statement is the same (and prepared once) whatever the number of contacts."""
    if session.get_bind().dialect.name == "postgresql":
        return suppressions.c.contact == any_(bindparam(None, contacts, type_=ARRAY(String()),
                                                        unique=True))
    return suppressions.c.contact.in_(contacts)


def may_contact(session: Session, client: str, contact: str, channel: str | None = None) -> bool:
    """May ``client`` send to ``contact`` (on ``channel``)? The gate's question, for one."""
    return not suppressed(session, client, [contact], channel)


def audit(session: Session, action: str, *, actor: str, now: dt.datetime,
          client: str | None = None, contact: str | None = None,
          **detail: Any) -> None:
    session.execute(insert(audit_log).values(at=now, actor=actor, action=action, client=client,
                                             contact=contact, detail=detail))


def _check(channel: str, reason: str) -> None:
    if channel not in CHANNELS:
        raise CampaignGitopsError(f"unknown channel {channel!r}",
                                  hint="channel is one of " + ", ".join(CHANNELS))
    if reason not in REASONS:
        raise CampaignGitopsError(f"unknown suppression reason {reason!r}",
                                  hint="reason is one of " + ", ".join(REASONS))


def _insert_ignoring_duplicates(session: Session, row: dict[str, Any]) -> bool:
    """Insert unless ``(client, contact, channel)`` exists (also when racing); new?"""
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - the two supported
        if session.execute(select(suppressions.c.id).where(
                suppressions.c.client == row["client"], suppressions.c.contact == row["contact"],
                suppressions.c.channel == row["channel"])).first():
            return False
        session.execute(insert(suppressions).values(**row))
        return True
    done = session.execute(maker(suppressions).values(**row).on_conflict_do_nothing(
        index_elements=["client", "contact", "channel"]).returning(suppressions.c.id))
    return done.first() is not None


def suppress(session: Session, client: str, contact: str, *, reason: str, source: str,
             actor: str, now: dt.datetime, channel: str = ALL) -> bool:
    """Suppress ``contact`` for ``client`` on ``channel``; True when it was not already."""
    _check(channel, reason)
    normal = normalize_contact(contact)
    if not normal:
        raise CampaignGitopsError("a suppression needs a contact (email or phone)")
    new = _insert_ignoring_duplicates(session, {
        "client": client, "contact": normal, "channel": channel, "reason": reason,
        "source": source, "created_at": now})
    if new:
        audit(session, "suppress", actor=actor, now=now, client=client, contact=normal,
              channel=channel, reason=reason, source=source)
    return new


def unsuppress(session: Session, client: str, contact: str, *, actor: str, now: dt.datetime,
               channel: str | None = None, only_reason: str | None = None) -> int:
    """Lift ``client``'s suppressions of ``contact`` (one ``channel``, else all); how many.

    ``only_reason`` lifts only suppressions of that reason (START lifts a STOP, never a
    bounce or an unsubscribe link). A forgotten (hashed) suppression is never lifted.
    """
    normal = normalize_contact(contact)
    query = delete(suppressions).where(suppressions.c.client == client,
                                       suppressions.c.contact == normal)
    if channel is not None:
        query = query.where(suppressions.c.channel == channel)
    if only_reason is not None:
        query = query.where(suppressions.c.reason == only_reason)
    removed = rowcount(session.execute(query))
    if removed:
        audit(session, "unsuppress", actor=actor, now=now, client=client, contact=normal,
              channel=channel or "every", removed=removed)
    return removed


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    client: str
    contact: str
    channel: str
    reason: str
    source: str | None
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {"client": self.client, "contact": self.contact, "channel": self.channel,
                "reason": self.reason, "source": self.source,
                "created_at": self.created_at.isoformat()}


def list_suppressions(session: Session, client: str | None = None, *,
                      limit: int | None = None) -> list[SuppressionRow]:
    """A client's (or every client's) suppressions, newest first."""
    query = select(suppressions.c.client, suppressions.c.contact, suppressions.c.channel,
                   suppressions.c.reason, suppressions.c.source, suppressions.c.created_at
                   ).order_by(suppressions.c.created_at.desc(), suppressions.c.id.desc())
    if client is not None:
        query = query.where(suppressions.c.client == client)
    if limit is not None:
        query = query.limit(limit)
    return [SuppressionRow(*row) for row in session.execute(query)]


# ---------------------------------------------------------------- data requests


def _lead_ids(session: Session, normal: str) -> list[int]:
    return list(session.execute(select(leads.c.id).where(
        or_(leads.c.email == normal, leads.c.phone == normal))).scalars())


def export_contact(session: Session, contact: str, *, actor: str,
                   now: dt.datetime) -> dict[str, Any]:
    """Everything held on ``contact``: lead rows, messages, replies, suppressions."""
    normal = normalize_contact(contact)
    ids = _lead_ids(session, normal)

    def rows(table: Any, *where: Any) -> list[dict[str, Any]]:
        found = session.execute(select(table).where(or_(*where)).order_by(table.c.id))
        return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                 for k, v in row.items()} for row in found.mappings()]

    data = {
        "contact": normal,
        "leads": rows(leads, leads.c.id.in_(ids)) if ids else [],
        "messages": rows(messages, messages.c.lead_id.in_(ids),
                         messages.c.recipient == normal),
        "replies": rows(replies, replies.c.lead_id.in_(ids), replies.c.contact == normal),
        "enrollments": rows(enrollments, enrollments.c.lead_id.in_(ids)) if ids else [],
        "suppressions": rows(suppressions, suppressions.c.contact.in_(
            (normal, hashed(normal)))),
    }
    audit(session, "export", actor=actor, now=now, contact=hashed(normal),
          leads=len(data["leads"]), messages=len(data["messages"]))
    return data


@dataclass(frozen=True, slots=True)
class Forgotten:
    contact_hash: str
    leads: int
    messages: int
    replies: int
    suppressions: int  # hashed suppressions kept (one per client and channel)

    def as_json(self) -> dict[str, Any]:
        return {"contact": self.contact_hash, "leads": self.leads, "messages": self.messages,
                "replies": self.replies, "suppressions": self.suppressions}


ERASED = "[erased]"
FORGOTTEN = "forgotten"  # the email_status of an erased lead: no segment selects it


def forget(session: Session, contact: str, *, actor: str, now: dt.datetime) -> Forgotten:
    """Erase a person everywhere and keep only hashed suppressions (GDPR art. 17).

    The lead row's personal fields are blanked (its id stays, so the history of runs and
    counts stays whole), message recipients, subjects and bodies and reply bodies are
    erased, its open enrollments stopped, and every suppression of the contact
    becomes a hashed one; every client that held the lead or wrote to it gets a hashed
    ``forgotten`` suppression on every channel.
    """
    normal = normalize_contact(contact)
    if not normal or normal.startswith(HASH_PREFIX):
        raise CampaignGitopsError("leads forget needs an email address or a phone number")
    digest = hashed(normal)
    ids = _lead_ids(session, normal)
    clients: set[str] = set()
    if ids:
        clients.update(c for c in session.execute(select(leads.c.client).where(
            leads.c.id.in_(ids))).scalars() if c)
    by_message = or_(messages.c.lead_id.in_(ids), messages.c.recipient == normal) if ids \
        else messages.c.recipient == normal
    clients.update(session.execute(select(messages.c.client).where(by_message)
                                   .distinct()).scalars())
    by_reply = or_(replies.c.lead_id.in_(ids), replies.c.contact == normal) if ids \
        else replies.c.contact == normal
    clients.update(c for c in session.execute(select(replies.c.client).where(by_reply)
                                              .distinct()).scalars() if c)
    old = list(session.execute(select(suppressions.c.client, suppressions.c.channel,
                                      suppressions.c.reason).where(
        suppressions.c.contact == normal)))
    session.execute(delete(suppressions).where(suppressions.c.contact == normal))
    kept = 0
    for row in old:
        kept += _insert_ignoring_duplicates(session, {
            "client": row.client, "contact": digest, "channel": row.channel,
            "reason": row.reason, "source": "forget", "created_at": now})
    for client in sorted(clients - {r.client for r in old if r.channel == ALL}):
        kept += _insert_ignoring_duplicates(session, {
            "client": client, "contact": digest, "channel": ALL, "reason": "forgotten",
            "source": "forget", "created_at": now})
    erased_messages = rowcount(session.execute(update(messages).where(by_message).values(
        recipient=digest, subject=None, body=ERASED, updated_at=now)))
    erased_replies = rowcount(session.execute(update(replies).where(by_reply).values(
        contact=digest, body=None)))
    if ids:
        session.execute(update(enrollments).where(enrollments.c.lead_id.in_(ids)).values(
            sample=None, state="unsubscribed", next_due_at=None, updated_at=now)
            .where(enrollments.c.state == "active"))
        for lead_id in ids:
            session.execute(update(leads).where(leads.c.id == lead_id).values(
                email=f"{HASH_PREFIX}{lead_id}:{digest[len(HASH_PREFIX):][:16]}",
                phone=None, linkedin_url=None, first_name=None, last_name=None, title=None,
                seniority=None, company=None, company_industry=None, company_country=None,
                company_employee_count=None, company_technologies=[], timezone=None,
                email_status=FORGOTTEN, client=None, assigned_at=None, updated_at=now))
    audit(session, "forget", actor=actor, now=now, contact=digest, leads=len(ids),
          messages=erased_messages, replies=erased_replies, clients=sorted(clients))
    return Forgotten(digest, len(ids), erased_messages, erased_replies, kept)
