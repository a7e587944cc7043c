"""What comes back, recorded: inbound mail (IMAP) and provider events (the webhook).

inbound/ reads and parses (imap.py, classify.py, webhook.py); this module records
through replies.py (matching, stopping sequences) and inbound/suppressions.py:

- ``record_mail``: one mail, once per Message-ID (its own transaction);
- ``fetch_mailbox``: ``replies fetch`` and the daemon's poll, one mailbox once;
- ``handle_event``: one verified webhook event (STOP, START, HELP, replies).
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaign_gitops.config.project import MailboxConfig
from campaign_gitops.inbound import suppressions as supp, webhook
from campaign_gitops.inbound.classify import Verdict, classify
from campaign_gitops.inbound.imap import FetchReport, process
from campaign_gitops.inbound.tokens import Signer
from campaign_gitops.runs.metrics import update_metrics
from campaign_gitops.runs.replies import METRIC_KINDS, ReplyInput, add_reply, already_recorded
from campaign_gitops.state.db import Database
from campaign_gitops.state.tables import Lead, Message

messages = Message.__table__
leads = Lead.__table__


def record_mail(db: Database, box: str, raw: bytes, *, now: dt.datetime,
                signer: Signer | None, touched: set[int] | None = None) -> tuple[str, str]:
    """Record one mail: (``recorded``, ``duplicate`` or ``unmatched``, its kind).

    With ``touched``, the campaign metrics are not recomputed: the ids of the campaigns
    whose replies changed are added to it (``update_metrics`` them once per batch)."""
    verdict = classify(raw)
    try:
        with db.session() as session:
            if already_recorded(session, verdict.message_id):
                return "duplicate", verdict.kind
            done = _record(session, box, verdict, now=now, signer=signer, touched=touched)
            if not done:
                session.rollback()
                return "unmatched", verdict.kind
    except IntegrityError:  # another process recorded it at the same moment
        return "duplicate", verdict.kind
    return "recorded", verdict.kind


def _record(session: Any, box: str, v: Verdict, *, now: dt.datetime,
            signer: Signer | None, touched: set[int] | None) -> bool:
    source = f"imap:{box}"
    if v.kind == "unsubscribe":  # the mailto: of List-Unsubscribe
        what = signer.verify(v.token or "") if signer is not None else None
        if what is None:
            return False
        if not what.test:
            supp.suppress(session, what.client, what.contact, reason="unsubscribe",
                          source=source, actor="imap", now=now)
        add_reply(session, ReplyInput(
            contact=what.contact, kind="unsubscribe", body=v.subject, external_id=v.message_id,
            source=source, actor="imap", channel="email", message_key=what.message,
            client=what.client), now=now)
        return True
    matched = False
    for i, contact in enumerate(v.contacts):
        if not contact:
            continue
        result = add_reply(session, ReplyInput(
            contact=contact, kind=v.kind, body=v.body or None, in_reply_to=v.references,
            channel="email", external_id=v.message_id if i == 0 else f"{v.message_id}#{i}",
            source=source, actor="imap"), now=now, metrics=touched is None)
        matched = matched or result.matched_by != "none"
        if touched is not None and result.campaign_id is not None and \
                v.kind in METRIC_KINDS:
            touched.add(result.campaign_id)
    return matched


def fetch_mailbox(db: Database, box: MailboxConfig, *, now: dt.datetime,
                  environ: Mapping[str, str] | None = None, signer: Signer | None = None,
                  ssl_context: ssl.SSLContext | None = None,
                  connector: Callable[..., IMAPClient] | None = None) -> FetchReport:
    """Read ``box`` once (``replies fetch``, the daemon's poll). MailboxError on failure.

    Campaign metrics are recomputed once per batch for the campaigns whose replies
    changed, not per mail."""

    def recompute(touched: set[int]) -> None:
        with db.session() as session:
            update_metrics(session, touched, now)

    return process(box, lambda raw, touched: record_mail(
        db, box.name, raw, now=now, signer=signer, touched=touched),
        environ=environ, ssl_context=ssl_context, connector=connector,
        after_batch=recompute)


# ---------------------------------------------------------------- webhook events


def _clients_of(session: Session, number: str, in_reply_to: str | None) -> list[str]:
    """The client of the answered message, else every client that wrote to the number."""
    if in_reply_to:
        found = session.execute(select(messages.c.client).where(
            messages.c.transport_message_id == in_reply_to)).scalar()
        if found:
            return [found]
    lead_ids = select(leads.c.id).where(leads.c.phone == number).scalar_subquery()
    return sorted(set(session.execute(select(messages.c.client).where(
        messages.c.lead_id.in_(lead_ids)).distinct()).scalars()))


def handle_event(session: Session, event: webhook.Event, *, now: dt.datetime) -> dict[str, Any]:
    """Apply one verified event; what happened, as the JSON answer."""
    external = f"hook:{event.event_id}" if event.event_id else None
    if external and already_recorded(session, external):
        return {"recorded": False, "duplicate": True}
    number = supp.normalize_contact(event.sender)
    word = webhook.keyword(event.body) if event.channel in webhook.PHONE_CHANNELS \
        and not event.kind else None
    answer: dict[str, Any] = {"recorded": True, "keyword": word}
    if word == "stop":
        clients = _clients_of(session, number, event.in_reply_to)
        for client in clients:
            supp.suppress(session, client, number, reason="stop", source="webhook",
                          actor="webhook", now=now, channel=event.channel)
        answer["suppressed_for"] = clients
        kind = "unsubscribe"
    elif word == "start":
        clients = _clients_of(session, number, event.in_reply_to)
        lifted = [c for c in clients if supp.unsuppress(
            session, c, number, actor="webhook", now=now, channel=event.channel,
            only_reason="stop")]
        answer["resubscribed"] = lifted
        kind = "resubscribe"
    elif word == "help":
        kind = "help"
    else:
        kind = event.kind or "reply"
    # A STOP was applied above for each client, on its channel only: the sequence's
    # other channels go on (the gate skips this channel's steps).
    item = ReplyInput(contact=number, kind=kind, body=event.body or None,
                      in_reply_to=event.in_reply_to, received_at=event.received_at,
                      channel=event.channel, external_id=external, source="webhook",
                      actor="webhook",
                      suppress_channel=event.channel if word == "stop" else None)
    result = add_reply(session, item, now=now)
    answer.update(result.as_json())
    return answer
