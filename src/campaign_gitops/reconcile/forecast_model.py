"""The forecast's values: what it reads (a run, its audience as cohorts, a client's
mailboxes) and what it says of a run (``RunForecast``). Pure: no database."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.runs.senders import run_senders
from campaign_gitops.runs.sequences import RunPlan

# The contacts a lead may have (what the recipients and skip rules look at): "mail"
# stands for a postal name/company.
CONTACTS = ("email", "phone", "linkedin_url", "mail")
ALL_CONTACTS = frozenset(CONTACTS)
HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class Mailboxes:
    """One client's senders as the forecast counts them (SPEC 9)."""

    timezone: str                                   # the client's day: where caps count
    limits: Mapping[str, int]                       # sender email -> dailyLimit, in order
    used_today: Mapping[str, int] = field(default_factory=dict)  # emails sent today


def allowed_senders(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The senders (lower-case emails, the client's order) a run's campaign may use, as
    tick chooses among them (``runs.senders.run_senders``); () for none."""
    return tuple(sender.email.lower() for sender in run_senders(config))


def mailboxes(config: Mapping[str, Any],
              used_today: Mapping[str, int] | None = None) -> Mailboxes | None:
    """The client's senders of a run's pinned config (None: the client has none)."""
    client = config.get("client") or {}
    senders = client.get("senders") or ()
    if not senders:
        return None
    return Mailboxes(str(client.get("timezone") or "UTC"),
                     {str(s["email"]).lower(): int(s.get("dailyLimit") or 50)
                      for s in senders},
                     dict(used_today or {}))


@dataclass(frozen=True, slots=True)
class Cohort:
    """``count`` consecutive enrollments (in enrollment order) alike for the forecast."""

    count: int
    timezone: str | None = None
    contacts: frozenset[str] = ALL_CONTACTS
    step: int = 0
    due: dt.datetime | None = None  # None: enrolled when the run starts (its first step)


@dataclass(frozen=True, slots=True)
class SimRun:
    """A run to forecast: its pinned plan, when it starts and its audience."""

    plan: RunPlan
    start: dt.datetime
    cohorts: tuple[Cohort, ...]

    @property
    def audience(self) -> int:
        return sum(c.count for c in self.cohorts)


@dataclass
class RunForecast:
    """What ``simulate`` expects one run to do."""

    audience: int
    per_day: Counter[tuple[dt.date, str]] = field(default_factory=Counter)
    sent_per_step: Counter[int] = field(default_factory=Counter)
    skipped_per_step: Counter[int] = field(default_factory=Counter)
    failed_per_step: Counter[int] = field(default_factory=Counter)
    first_send: dt.datetime | None = None
    first_batch: int = 0  # messages sent at ``first_send``
    last_send: dt.datetime | None = None
    blocked: int = 0      # enrollments left when the client's credits ran out
    unfinished: int = 0   # enrollments still walking at the horizon
    credits_out: dt.date | None = None
    warnings: list[str] = field(default_factory=list)
    next_fires: list[dt.datetime] = field(default_factory=list)  # a recurring series

    @property
    def failed(self) -> int:
        """Steps that can never go out: their sending window never opens."""
        return sum(self.failed_per_step.values())

    @property
    def credits(self) -> int:
        """One credit per delivered message."""
        return sum(self.per_day.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "first_send": self.first_send.isoformat() if self.first_send else None,
            "last_send": self.last_send.isoformat() if self.last_send else None,
            "per_day": [{"date": day.isoformat(), "channel": channel, "messages": n}
                        for (day, channel), n in sorted(self.per_day.items())],
            "credits": self.credits,
            "warnings": list(self.warnings),
            **({"next_fires": [f.isoformat() for f in self.next_fires]}
               if self.next_fires else {}),
        }
