"""Which mailbox sends what (SPEC 9): pure, no database, no clock.

A new lead goes to the allowed sender with the most room left today (ties: the order
of the client's ``spec.senders``); a lead keeps its sender for its whole sequence. Each
sender's ``dailyLimit`` holds across all campaigns of the client, ``maxPerHour`` over
any sliding hour, and ``minGapSeconds`` between two emails of one mailbox. A campaign's
own quota (its daily limit times its email allocation share) combines with the caps:
what does not fit today is left for the next window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.config.models import Sender

HOUR = dt.timedelta(hours=1)


def allowed_senders(senders: Sequence[Sender], narrow: Sequence[str] | None) -> list[Sender]:
    """The client's senders a campaign may use (``senders: [email, …]`` narrows them)."""
    if narrow is None:
        return list(senders)
    wanted = {email.lower() for email in narrow}
    return [s for s in senders if s.email.lower() in wanted]


def client_senders(config: Mapping[str, Any]) -> list[Sender]:
    """The senders of a run's pinned snapshot (``config['client']['senders']``)."""
    client = config.get("client") or {}
    return [Sender.model_validate(item) for item in client.get("senders") or ()]


def run_senders(config: Mapping[str, Any]) -> list[Sender]:
    """The senders a run's campaign may use: the client's, narrowed by the campaign."""
    narrow = ((config.get("campaign") or {}).get("spec") or {}).get("senders")
    return allowed_senders(client_senders(config), narrow)


def email_quota(daily_limit: int, share_pct: int = 100) -> int:
    """A campaign's emails a day: its daily limit times its email allocation share."""
    return math.floor(daily_limit * share_pct / 100)


@dataclass
class SenderBook:
    """Per-sender use of one client today: what may still leave, and when.

    ``sent_today`` counts each sender's emails of the client's day so far (all
    campaigns); ``recent`` the send times of the last hour or more (for maxPerHour and
    the minimum gap). ``take`` records a send.
    """

    senders: Sequence[Sender]
    sent_today: dict[str, int] = field(default_factory=dict)
    recent: dict[str, list[dt.datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_email = {s.email.lower(): s for s in self.senders}

    def sender(self, email: str) -> Sender | None:
        return self._by_email.get(email.lower())

    def room(self, email: str) -> int:
        """Emails ``email`` may still send today (0 for an unknown sender)."""
        sender = self.sender(email)
        if sender is None:
            return 0
        return max(0, sender.daily_limit - self.sent_today.get(sender.email.lower(), 0))

    def next_free(self, email: str, now: dt.datetime) -> dt.datetime | None:
        """The earliest time at or after ``now`` that ``email`` may send (pacing only);
        None when its daily cap is used up."""
        sender = self.sender(email)
        if sender is None or self.room(email) <= 0:
            return None
        times = sorted(self.recent.get(sender.email.lower(), ()))
        at = max(now, times[-1]) if times else now  # one mailbox sends in order
        if sender.min_gap_seconds and times:
            at = max(at, times[-1] + dt.timedelta(seconds=sender.min_gap_seconds))
        if sender.max_per_hour is not None:
            # The hour before ``at`` may hold at most maxPerHour - 1 sends.
            while True:
                inside = [t for t in times if at - HOUR < t <= at]
                if len(inside) < sender.max_per_hour:
                    break
                at = inside[len(inside) - sender.max_per_hour] + HOUR
        return at

    def can_send(self, email: str, now: dt.datetime) -> bool:
        at = self.next_free(email, now)
        return at is not None and at <= now

    def take(self, email: str, now: dt.datetime) -> None:
        """Record one email of ``email`` sent at ``now``."""
        key = email.lower()
        self.sent_today[key] = self.sent_today.get(key, 0) + 1
        self.recent.setdefault(key, []).append(now)

    def choose(self, allowed: Iterable[Sender], now: dt.datetime | None = None,
               until: dt.datetime | None = None) -> Sender | None:
        """The sender for a new lead: most room left today (ties: list order) among those
        whose pacing lets them send by ``until`` (when given); None when none can."""
        best: Sender | None = None
        best_room = 0
        for sender in allowed:
            room = self.room(sender.email)
            if room > best_room and now is not None and until is not None:
                free = self.next_free(sender.email, now)
                if free is None or free > until:
                    continue
            if room > best_room:
                best, best_room = sender, room
        return best


@dataclass(frozen=True, slots=True)
class Due:
    """A message a campaign wants to send: ``sender`` is the lead's (None: a new lead)."""

    lead: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    lead: str
    sender: str
    at: dt.datetime


def plan_sends(due: Sequence[Due], allowed: Sequence[Sender], quota: int,
               book: SenderBook, now: dt.datetime,
               until: dt.datetime | None = None) -> tuple[list[Assignment], list[Due]]:
    """Which of a campaign's ``due`` messages leave between ``now`` and ``until``.

    Each gets the lead's sender (a new lead: ``book.choose``) and the earliest time its
    sender's pacing allows; the campaign sends at most ``quota`` (what is left of its
    daily limit share today). With ``until`` None only what may leave at ``now`` is
    planned. Returns (assignments, what waits for the next window); ``book`` is updated.
    """
    end = now if until is None else until
    planned: list[Assignment] = []
    waiting: list[Due] = []
    for item in due:
        if len(planned) >= quota:
            waiting.append(item)
            continue
        chosen = (book.choose(allowed, now, end) if item.sender is None
                  else book.sender(item.sender))
        if chosen is None:
            waiting.append(item)
            continue
        at = book.next_free(chosen.email, now)
        if at is None or at > end:
            waiting.append(item)
            continue
        book.take(chosen.email, at)
        planned.append(Assignment(item.lead, chosen.email, at))
    return planned, waiting


def usage(book: SenderBook) -> list[tuple[str, str, int, int]]:
    """(email, name, sent today, daily limit) of each sender, for status and runs show."""
    return [(s.email, s.name, book.sent_today.get(s.email.lower(), 0), s.daily_limit)
            for s in book.senders]

