"""The delivery rules tick, pending work and delivery share, defined once.

- ``LEASE``: how long a claim (an enrollment being walked, a message queued or being
  sent) is held before another tick may take it over.
- The retry policy (``retry_at``): a temporary failure (of a send that proves nothing
  was accepted, or of writing the message) is tried again after ``BACKOFF``, at most
  ``MAX_ATTEMPTS`` times in all.
- ``deliverable_run``: whether a run's work may go out now (running, campaign active or
  a test run of a draft campaign, client not halted), as one SQL condition; and
  ``halt_reason``, the global halt that stops everything.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from campaign_gitops.state import kv
from campaign_gitops.state.tables import Campaign, CampaignRun, Client

runs = CampaignRun.__table__
campaigns = Campaign.__table__
clients = Client.__table__

LEASE = dt.timedelta(minutes=10)
BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
           dt.timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1


def retry_at(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after ``attempts`` temporary failures (counting the one that
    just happened); None when there are no attempts left."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[max(attempts, 1) - 1]


def deliverable_run() -> ColumnElement[bool]:
    """A run whose messages may go out now: running, its campaign active (a test run also
    while the campaign is a draft), its client not halted. The query joins ``campaigns``
    (the run's campaign) and ``clients`` (the campaign's client)."""
    return and_(runs.c.status == "running", clients.c.halted.is_(False),
                or_(campaigns.c.status == "active",
                    and_(runs.c.type == "test_run", campaigns.c.status == "draft")))


def halt_reason(session: Session) -> str | None:
    """Why delivery is halted globally (``halt --reason``), or None when it is not."""
    halt = kv.global_halt(session)
    if halt is None:
        return None
    reason = halt.get("reason")
    return "delivery is halted globally" + (f": {reason}" if reason else "")
