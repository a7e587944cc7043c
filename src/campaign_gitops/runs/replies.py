"""Replies and outcomes: what came back, and what it does to the sequences.

A reply is matched to a message by its email Message-ID (``In-Reply-To`` equals
``messages.transport_message_id``), else to a lead by email or phone. Effects, for the
lead's enrollments with the client (only the given campaign's, when one is named):

- ``reply``: stops the sequence (state ``replied``) unless a remaining step says
  ``skipIfReplied: false`` (it then walks only those steps);
- ``out_of_office``: recorded, nothing stops;
- ``unsubscribe``: the contact is suppressed for the client; the sequences stop;
- ``bounce``: the contact is suppressed (hard bounce); the sequences stop unless a
  remaining step says ``skipIfBounced: false``;
- ``complaint`` (a spam report): suppressed like an unsubscribe;
- ``converted``: the lead is marked converted (it stays with the client) and its
  sequences finish;
- ``soft_bounce`` (a transient delivery failure), ``resubscribe`` and ``help`` (SMS
  keywords): recorded only.

Suppressing goes through inbound/suppressions.py. A reply given an ``external_id`` (an
inbound mail's Message-ID) is recorded once: ``already_recorded`` tells the fetcher.

Campaign metrics are recomputed for the campaigns touched.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.orm import Session

from campaign_gitops.findings import CampaignGitopsError
from campaign_gitops.inbound import suppressions as supp
from campaign_gitops.inbound.suppressions import normalize_contact
from campaign_gitops.runs import csvfile
from campaign_gitops.runs.leads import RowError
from campaign_gitops.runs.metrics import update_metrics
from campaign_gitops.state.queries import campaign_named
from campaign_gitops.state.tables import (
    CampaignRun,
    Enrollment,
    Lead,
    Message,
    Reply,
    Resource,
)

KINDS = ("reply", "out_of_office", "unsubscribe", "bounce", "converted", "complaint",
         "soft_bounce", "resubscribe", "help")
# Kinds that suppress the contact for the client (and stop its sequences).
SUPPRESSING = ("unsubscribe", "bounce", "complaint")
# Kinds the campaign metrics count (runs/metrics.py): only they recompute them.
METRIC_KINDS = ("reply", "converted")
# Kinds that are recorded and change nothing else.
RECORDED_ONLY = ("out_of_office", "soft_bounce", "resubscribe", "help")
leads = cast(Table, Lead.__table__)
messages = cast(Table, Message.__table__)
enrollments = cast(Table, Enrollment.__table__)
runs = cast(Table, CampaignRun.__table__)
resources = cast(Table, Resource.__table__)
replies = cast(Table, Reply.__table__)


@dataclass(frozen=True, slots=True)
class ReplyInput:
    contact: str
    kind: str
    campaign: str | None = None
    body: str | None = None
    in_reply_to: str | None = None
    received_at: dt.datetime | None = None
    channel: str | None = None  # the channel it came in on, when known
    external_id: str | None = None  # a mail's Message-ID: recorded once
    source: str = "replies"  # where it came from (audit): replies, imap:<box>, webhook
    actor: str = "cli"
    suppress_channel: str | None = None  # a STOP suppresses its channel only
    # The message it answers, by idempotency key and client (a signed unsubscribe link).
    message_key: str | None = None
    client: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyResult:
    reply_id: int
    kind: str
    contact: str
    client: str | None
    campaign_id: int | None
    lead_id: int | None
    matched_by: str  # message_id, contact, none
    stopped: int  # enrollments whose sequence stopped
    suppressed: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.reply_id, "kind": self.kind, "contact": self.contact,
                "client": self.client, "campaign_id": self.campaign_id,
                "lead_id": self.lead_id, "matched_by": self.matched_by,
                "stopped": self.stopped, "suppressed": self.suppressed}


def campaign_ids(session: Session, name: str) -> list[int]:
    """Campaign resource ids for ``name`` or ``client/name``."""
    found = list(session.execute(select(resources.c.id).where(campaign_named(name))).scalars())
    if not found:
        raise CampaignGitopsError(f"no campaign named {name!r}",
                                  hint="use the campaign's name, or client/name")
    return found


@dataclass(frozen=True, slots=True)
class _Match:
    lead_id: int | None
    client: str | None
    campaign_id: int | None
    run_id: int | None
    message_id: int | None
    how: str


def _match(session: Session, item: ReplyInput, contact: str,
           wanted: list[int] | None) -> _Match:
    if item.message_key and item.client:
        row = session.execute(select(
            messages.c.id, messages.c.lead_id, messages.c.client, messages.c.campaign_id,
            messages.c.run_id).where(messages.c.idempotency_key == item.message_key,
                                     messages.c.client == item.client)).first()
        if row is not None:
            return _Match(row.lead_id, row.client, row.campaign_id, row.run_id, row.id,
                          "message_id")
    # In-Reply-To, or the References list (newest last): the newest known message wins.
    for ref in reversed((item.in_reply_to or "").replace(",", " ").split()):
        row = session.execute(select(
            messages.c.id, messages.c.lead_id, messages.c.client, messages.c.campaign_id,
            messages.c.run_id).where(messages.c.transport_message_id.in_(
                {ref, ref.strip("<>"), f"<{ref.strip('<>')}>"}))).first()
        if row is not None:
            return _Match(row.lead_id, row.client, row.campaign_id, row.run_id, row.id,
                          "message_id")
    lead = session.execute(select(leads.c.id, leads.c.client).where(
        or_(leads.c.email == contact, leads.c.phone == contact))).first()
    if lead is None:
        campaign = wanted[0] if wanted else None
        client = session.execute(select(resources.c.client).where(
            resources.c.id == campaign)).scalar() if campaign else None
        return _Match(None, client, campaign, None, None, "none")
    query = (select(messages.c.id, messages.c.campaign_id, messages.c.run_id,
                    messages.c.client)
             .where(messages.c.lead_id == lead.id, messages.c.status == "sent")
             .order_by(messages.c.sent_at.desc(), messages.c.id.desc()).limit(1))
    if wanted:
        query = query.where(messages.c.campaign_id.in_(wanted))
    last = session.execute(query).first()
    if last is not None:
        return _Match(lead.id, last.client, last.campaign_id, last.run_id, last.id, "contact")
    campaign = wanted[0] if wanted else None
    return _Match(lead.id, lead.client, campaign, None, None, "contact")


def _open_enrollments(session: Session, lead_id: int, client: str,
                      wanted: list[int] | None) -> list[Any]:
    query = (select(enrollments.c.id, enrollments.c.next_step, runs.c.config, runs.c.id.label(
        "run_id"), runs.c.campaign_id)
             .join(runs, runs.c.id == enrollments.c.run_id)
             .join(resources, resources.c.id == runs.c.campaign_id)
             .where(enrollments.c.lead_id == lead_id, enrollments.c.state == "active",
                    resources.c.client == client, runs.c.type != "test_run"))
    if wanted:
        query = query.where(runs.c.campaign_id.in_(wanted))
    return list(session.execute(query).all())


def _stop(session: Session, rows: list[Any], kind: str, now: dt.datetime) -> int:
    flag = {"reply": "skipIfReplied", "bounce": "skipIfBounced"}.get(kind)
    state = {"reply": "replied", "bounce": "bounced", "unsubscribe": "unsubscribed",
             "complaint": "unsubscribed", "converted": "finished"}[kind]
    stopped = 0
    for row in rows:
        remaining = (row.config.get("steps") or [])[row.next_step:]
        if flag and any(step.get(flag) is False for step in remaining):
            continue  # keeps walking the steps that go out anyway
        session.execute(update(enrollments).where(enrollments.c.id == row.id).values(
            state=state, next_due_at=None, updated_at=now))
        stopped += 1
    return stopped


def already_recorded(session: Session, external_id: str) -> bool:
    return session.execute(select(replies.c.id).where(
        replies.c.external_id == external_id)).first() is not None


def add_reply(session: Session, item: ReplyInput, *, now: dt.datetime,
              metrics: bool = True) -> ReplyResult:
    """Record one reply or outcome and apply its effects.

    ``metrics=False`` leaves the campaign metrics to the caller (a batch recomputes them
    once per campaign: ``update_metrics``)."""
    if item.kind not in KINDS:
        raise CampaignGitopsError(f"unknown reply kind {item.kind!r}",
                                  hint="kind is one of " + ", ".join(KINDS))
    contact = normalize_contact(item.contact)
    if not contact:
        raise CampaignGitopsError("a reply needs a contact (email or phone)")
    wanted = campaign_ids(session, item.campaign) if item.campaign else None
    match = _match(session, item, contact, wanted)
    if item.client and match.client != item.client:  # the caller knows the client (signed)
        match = _Match(None, item.client, None, None, None, "none")
    stopped, suppressed = 0, False
    if match.client and item.kind in SUPPRESSING:
        supp.suppress(session, match.client, contact, reason=item.kind,
                      source=item.source, actor=item.actor, now=now,
                      channel=item.suppress_channel or supp.ALL)
        suppressed = True
    channel_only = item.kind == "unsubscribe" and item.suppress_channel not in (None, supp.ALL)
    if match.lead_id is not None and match.client and item.kind not in RECORDED_ONLY \
            and not channel_only:
        scope = wanted or None
        rows = _open_enrollments(session, match.lead_id, match.client, scope)
        stopped = _stop(session, rows, item.kind, now)
    if item.kind == "converted" and match.lead_id is not None:
        session.execute(update(leads).where(leads.c.id == match.lead_id).values(
            converted=True, updated_at=now))
    reply_id = session.execute(insert(replies).values(
        client=match.client, campaign_id=match.campaign_id, run_id=match.run_id,
        lead_id=match.lead_id, message_id=match.message_id, contact=contact, kind=item.kind,
        body=item.body, channel=item.channel, external_id=item.external_id,
        received_at=item.received_at or now, created_at=now)
        .returning(replies.c.id)).scalar_one()
    if metrics and match.campaign_id is not None and item.kind in METRIC_KINDS:
        update_metrics(session, [match.campaign_id], now)
    return ReplyResult(reply_id, item.kind, contact, match.client, match.campaign_id,
                       match.lead_id, match.how, stopped, suppressed)


# ---------------------------------------------------------------- files

def _item(raw: dict[str, Any]) -> ReplyInput:
    contact = str(raw.get("contact") or raw.get("email") or raw.get("phone") or "").strip()
    if not contact:
        raise ValueError("no contact (email or phone)")
    kind = str(raw.get("kind") or "").strip()
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    received = raw.get("received_at")
    when = None
    if received:
        when = dt.datetime.fromisoformat(str(received).replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError("received_at needs a UTC offset")
    return ReplyInput(contact=contact, kind=kind, campaign=raw.get("campaign") or None,
                      body=raw.get("body") or None,
                      in_reply_to=raw.get("in_reply_to") or raw.get("In-Reply-To") or None,
                      received_at=when)


def read_replies(path: Path) -> tuple[list[tuple[int, ReplyInput]], list[RowError]]:
    """Parse a CSV (header row) or JSONL file of replies: (line, item) and bad lines."""
    good: list[tuple[int, ReplyInput]] = []
    bad: list[RowError] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows: list[tuple[int, Any]] = []
        for number, line in enumerate(csvfile.read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                bad.append(RowError(number, f"not JSON: {exc.msg}"))
            except RecursionError:
                bad.append(RowError(number, "nested too deeply: a reply is one flat JSON "
                                            "object (contact, kind, campaign, body, ...)"))
    else:
        rows = list(csvfile.rows(path)[1])  # not UTF-8 or broken quoting: an error
    for number, raw in rows:
        try:
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            good.append((number, _item(raw)))
        except ValueError as exc:
            bad.append(RowError(number, str(exc)))
    return good, bad


def import_replies(session: Session, path: Path, *, now: dt.datetime,
                   skip_invalid: bool = False) -> tuple[list[ReplyResult], list[RowError]]:
    good, bad = read_replies(path)
    if bad and not skip_invalid:
        return [], bad
    results = []
    for number, item in good:
        try:
            results.append(add_reply(session, item, now=now))
        except CampaignGitopsError as exc:
            bad.append(RowError(number, exc.message))
    return results, bad
