"""Reading what a batch of enrollments needs, and how an enrollment moves on.

Bulk reads (one query per batch, chunked under SQLite's parameter limit): the leads,
which of them replied or bounced for the client, and which contacts the client
suppresses. ``advance_values`` is where an enrollment goes after a step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign_gitops.inbound import suppressions as suppressions_module
from campaign_gitops.runs.bulk import is_postgres, one_of
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.state.tables import Lead, Reply

leads = Lead.__table__
replies = Reply.__table__
CHUNK = 900
LEAD_FIELDS = ("id", "email", "phone", "linkedin_url", "first_name", "last_name", "title",
               "seniority", "company", "company_industry", "company_country",
               "company_employee_count", "company_technologies", "timezone")


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _chunks(session: Session, values: Iterable[Any]) -> Iterator[list[Any]]:
    """One chunk on PostgreSQL (an array parameter), else under SQLite's limit."""
    items = list(values)
    if is_postgres(session):
        if items:
            yield items
        return
    yield from chunks(items)


def load_leads(session: Session, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    columns = [leads.c[name] for name in LEAD_FIELDS]
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(session, sorted(set(ids))):
        query = select(*columns).where(one_of(session, leads.c.id, chunk))
        for row in session.execute(query).mappings():
            found[row["id"]] = dict(row)
    return found


def reply_flags(session: Session,
                pairs: Iterable[tuple[str, int]]) -> dict[int, tuple[bool, bool]]:
    """Lead id -> (replied, bounced) for the client, for leads with such a reply."""
    wanted = dict((lead_id, client) for client, lead_id in pairs)
    flags: dict[int, tuple[bool, bool]] = {}
    for chunk in _chunks(session, sorted(wanted)):
        query = select(replies.c.lead_id, replies.c.client, replies.c.kind).where(
            one_of(session, replies.c.lead_id, chunk), replies.c.kind.in_(("reply", "bounce")))
        for lead_id, client, kind in session.execute(query):
            if client is not None and client != wanted.get(lead_id):
                continue
            replied, bounced = flags.get(lead_id, (False, False))
            flags[lead_id] = (replied or kind == "reply", bounced or kind == "bounce")
    return flags


def suppressed(session: Session, client: str, contacts: Iterable[str]) -> set[str]:
    """The given contacts (normalized) the client must not contact: the one answer is
    inbound/suppressions.py's."""
    return suppressions_module.suppressed(session, client, contacts)


def final_state(replied: bool, bounced: bool) -> str:
    return "replied" if replied else "bounced" if bounced else "finished"


def advance_values(plan: RunPlan, step_index: int, anchor: dt.datetime,
                   lead_timezone: str | None, *, replied: bool = False,
                   bounced: bool = False) -> dict[str, Any]:
    """The enrollment after step ``step_index`` (sent, skipped, rejected or failed at
    ``anchor``): the next step and when it is due, or a final state."""
    nxt = step_index + 1
    values: dict[str, Any] = {"next_step": nxt, "last_step_at": anchor}
    if nxt >= len(plan.steps):
        return {**values, "state": final_state(replied, bounced), "next_due_at": None}
    due = plan.next_due(nxt, anchor, lead_timezone)
    if due is None:
        return {**values, "state": "failed", "next_due_at": None}
    return {**values, "state": "active", "next_due_at": due}
