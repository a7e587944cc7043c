"""The forecast's calendar walk (``reconcile.forecast.simulate`` runs it). Pure.

``Walk`` moves enrollments through the same rules ``tick`` applies, taken from the
same functions: the sending windows and quiet hours (``runs.calendar``), the steps,
their delays and skips (``runs.sequences.RunPlan``, ``runs.compose.precheck``), where
an enrollment goes after a step (``runs.enrollments.advance_values``) and the daily
limit, allocation shares and credits (``runs.gate.Budget.room``/``take``). Only the
bookkeeping differs: instead of one row per enrollment it moves *groups* of
enrollments that share a run, a step, a due time, a timezone and the contacts they
have, and that are consecutive in enrollment order (tick claims oldest due first, ties
by enrollment id, so a group is a run of ids and a daily limit splits it in two).

Inputs: ``now``, the runs (their pinned plan, when they start and their audience as
groups in allocation order, best first), the clients' credits and what each campaign
already sent today. Output: per run, messages per local day (the schedule's timezone,
the day the daily limit counts) and channel, first and last send, credits used,
skips, and what was left (credits ran out, a window that never opens, the horizon).

Ticks: by default the walk sends each step at the moment it is due (the daemon
ticks every minute); ``ticks`` gives explicit tick times instead (a test that ticks
twice a day). Not modelled: replies, bounces and unsubscribes to come (nobody knows
them), pauses and halts to come, write failures and ``manual`` reviewers.
Senders (SPEC 9): ``senders`` gives, per client, its mailboxes' ``dailyLimit`` (one cap
per sender across all the client's campaigns, counted on the client's local day) and
what each already sent today; a run's emails a day are bounded further by the room left
in the senders its campaign may use (``allowed_senders``: the client's ``spec.senders``
narrowed by the campaign's ``senders``). An email goes to the allowed sender with the
most room left (ties: the client's order), as tick chooses for a new lead. Counted
together, not per lead: a lead keeps its sender in tick, the forecast lets any allowed
sender's room take a follow-up; pacing (``maxPerHour``, ``minGapSeconds``) is not
modelled.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from campaign_gitops.reconcile.forecast_model import (
    Mailboxes,
    RunForecast,
    SimRun,
    allowed_senders,
)
from campaign_gitops.runs.calendar import Window, due_at, next_day_start, next_slot
from campaign_gitops.runs.compose import Work, precheck
from campaign_gitops.runs.enrollments import advance_values
from campaign_gitops.runs.gate import Budget
from campaign_gitops.runs.sequences import RunPlan

# One group of alike enrollments inside a batch: (place in enrollment order, how many,
# step, lead timezone, contacts).
_Item = tuple[int, int, int, "str | None", frozenset[str]]


@lru_cache(maxsize=4096)
def _lead(contacts: frozenset[str], timezone: str | None) -> dict[str, Any]:
    """A stand-in lead with these contacts, for the real skip and recipient rules."""
    lead: dict[str, Any] = {key: "x" for key in contacts if key != "mail"}
    if "mail" in contacts:
        lead["company"] = "x"
    lead["timezone"] = timezone
    return lead


@lru_cache(maxsize=65536)
def _due(start: dt.datetime, delay: int, window: Window, channel: str,
         timezone: str | None) -> dt.datetime | None:
    return due_at(start, delay, window, channel, timezone)


@lru_cache(maxsize=65536)
def _local_day(moment: dt.datetime, timezone: str) -> dt.date:
    """The local day of ``moment`` where the daily limit counts (``gate.load_budget``)."""
    return moment.astimezone(Window(timezone=timezone).local_zone(None)).date()


@lru_cache(maxsize=4096)
def _zone_key(window: Window, timezone: str | None) -> str:
    return window.local_zone(timezone).key


class Walk:
    """The walk. Enrollments due at the same instant, of one run, in one local zone, form
    a *batch* (their groups in enrollment order), so a backlog that today's limit defers
    moves as one batch, not group by group. A step a lead skips is resolved when it is
    scheduled: a skip needs no slot and is anchored at its due time, as in tick."""

    def __init__(self, runs: Sequence[SimRun], credits: Mapping[str, int],
                 used_today: Mapping[tuple[int, str], int], now: dt.datetime,
                 senders: Mapping[str, Mailboxes], memo: dict[str, Any]) -> None:
        self.runs = runs
        self.now = now
        self.out = [RunForecast(audience=r.audience) for r in runs]
        self.budget = Budget(credits=dict(credits))
        self.days: dict[int, dt.date] = {}
        self.senders = senders
        # emails each sender sent, by (client, sender, the client's local day)
        self.mailed: Counter[tuple[str, str, dt.date]] = Counter()
        for client, boxes in senders.items():
            today = _local_day(now, boxes.timezone)
            for email, n in boxes.used_today.items():
                self.mailed[(client, email.lower(), today)] += n
        self.allowed: dict[int, tuple[str, ...]] = {}
        self.heap: list[tuple[dt.datetime, int, str]] = []
        self.batches: dict[tuple[dt.datetime, int, str], list[_Item]] = {}
        # runs walking the same steps in the same window move and skip alike: one memo
        # for them (shared by the parts ``simulate`` walks one after the other)
        self.skips: dict[tuple[str, int, frozenset[str]], bool] = memo.setdefault("skips", {})
        self.moves: dict[tuple[str, int, dt.datetime, str | None], dict[str, Any]] = \
            memo.setdefault("moves", {})
        self.shape = [shape_of(r.plan) for r in runs]
        self.test = [r.plan.is_test for r in runs]
        self.channel_of = [tuple(str(step["channel"]) for step in r.plan.steps) for r in runs]
        self.slots: dict[tuple[str, dt.datetime, str, str | None], dt.datetime | None] = \
            memo.setdefault("slots", {})
        self.next_days: dict[tuple[str, dt.datetime, str, str | None], dt.datetime | None] = \
            memo.setdefault("next_days", {})
        self.zones: dict[tuple[str, str | None], str] = memo.setdefault("zones", {})
        self.channels: dict[int, set[str]] = {}  # the channels each campaign counts
        for (cid, channel), n in used_today.items():
            self.budget.used[(cid, channel)] += n
            self.budget.used_total[cid] += n
            self.channels.setdefault(cid, set()).add(channel)
        for r in runs:
            self.channels.setdefault(r.plan.campaign_id, set()).update(
                str(step["channel"]) for step in r.plan.steps)
            self.days.setdefault(r.plan.campaign_id, _local_day(now, r.plan.window.timezone))
        self.exhausted: set[str] = {c for c, n in credits.items() if n <= 0}

    # -------------------------------------------------- scheduling

    def enrol(self) -> None:
        for index, run in enumerate(self.runs):
            plan, place = run.plan, 0
            for cohort in run.cohorts:
                if cohort.count <= 0:
                    continue
                due = cohort.due
                if due is None and plan.steps:
                    first = plan.steps[0]
                    due = _due(run.start, int(first.get("delayDays") or 0), plan.window,
                               first["channel"], cohort.timezone)
                if due is None:
                    self.out[index].failed_per_step[cohort.step] += (
                        cohort.count if plan.steps else 0)
                else:
                    self.schedule(index, due, (place, cohort.count, cohort.step,
                                               cohort.timezone, cohort.contacts))
                place += cohort.count

    def skips_step(self, run: int, step: int, contacts: frozenset[str]) -> bool:
        key = (self.shape[run], step, contacts)
        if key not in self.skips:
            plan = self.runs[run].plan
            work = Work(0, plan.run_id, None, _lead(contacts, None), step, None)
            self.skips[key] = precheck(plan, work, frozenset()) is not None
        return self.skips[key]

    def schedule(self, run: int, due: dt.datetime | None, item: _Item) -> None:
        """Put ``item`` (its step due at ``due``) in its batch, walking past the steps
        it skips (each anchored at its due time, as tick anchors a skip)."""
        place, count, step, tz, contacts = item
        plan, out = self.runs[run].plan, self.out[run]
        while due is not None and step < len(plan.steps) and \
                self.skips_step(run, step, contacts):
            out.skipped_per_step[step] += count
            moved = self.moved(run, step, due, tz)
            if moved["state"] == "failed":
                out.failed_per_step[step + 1] += count
                return
            due, step = moved["next_due_at"], int(moved["next_step"])
        if due is None or step >= len(plan.steps):
            return  # finished
        zone = self.zones.get((self.shape[run], tz))
        if zone is None:
            zone = self.zones[(self.shape[run], tz)] = _zone_key(plan.window, tz)
        key = (due, run, zone)
        batch = self.batches.get(key)
        if batch is None:
            self.batches[key] = [(place, count, step, tz, contacts)]
            heapq.heappush(self.heap, key)
        else:
            batch.append((place, count, step, tz, contacts))

    def moved(self, run: int, step: int, anchor: dt.datetime,
              tz: str | None) -> dict[str, Any]:
        """``advance_values`` (where an enrollment goes after a step), remembered: many
        groups of a run take the same step at the same moment."""
        key = (self.shape[run], step, anchor, tz)
        if key not in self.moves:
            self.moves[key] = advance_values(self.runs[run].plan, step, anchor, tz)
        return self.moves[key]

    def advance(self, run: int, item: _Item, anchor: dt.datetime) -> None:
        place, count, step, tz, contacts = item
        moved = self.moved(run, step, anchor, tz)
        if moved["state"] == "failed":
            self.out[run].failed_per_step[step + 1] += count
        elif moved["state"] == "active":
            self.schedule(run, moved["next_due_at"],
                          (place, count, int(moved["next_step"]), tz, contacts))

    # -------------------------------------------------- one batch at a tick

    def mailboxes(self, plan: RunPlan, channel: str,
                  now: dt.datetime) -> list[tuple[tuple[str, str, dt.date], int]]:
        """The senders ``plan`` may email from now: (their counter key, dailyLimit);
        [] when no sender cap applies (another channel, a test run, no senders)."""
        boxes = self.senders.get(plan.client) if self.senders else None
        if boxes is None or channel != "email" or plan.is_test:
            return []
        if plan.run_id not in self.allowed:
            self.allowed[plan.run_id] = allowed_senders(plan.config)
        day = _local_day(now, boxes.timezone)
        return [((plan.client, email, day), boxes.limits[email])
                for email in self.allowed[plan.run_id] if email in boxes.limits]

    def room(self, plan: RunPlan, channel: str, day: dt.date,
             now: dt.datetime) -> tuple[int, str | None]:
        cid = plan.campaign_id
        if self.days.get(cid) != day:  # a new day for the campaign's limit
            self.days[cid] = day
            self.budget.used_total[cid] = 0
            for used in self.channels.get(cid, ()):
                self.budget.used.pop((cid, used), None)
        room, refused = self.budget.room(plan, channel)
        boxes = self.mailboxes(plan, channel, now) if self.senders else None
        if boxes:
            left = sum(max(0, limit - self.mailed[key]) for key, limit in boxes)
            if left < room:
                room, refused = left, "daily_limit"
        return room, refused

    def process(self, key: tuple[dt.datetime, int, str], now: dt.datetime) -> None:
        """The batch ``key`` is due at or before ``now``: a tick at ``now`` claims it,
        oldest enrollment first."""
        _due, run, zone = key
        items = self.batches.pop(key)
        items.sort()
        plan, out, shape, is_test = (self.runs[run].plan, self.out[run], self.shape[run],
                                     self.test[run])
        if not is_test and plan.client in self.exhausted:
            out.blocked += sum(item[1] for item in items)
            return
        channel_of = self.channel_of[run]
        day = _local_day(now, plan.window.timezone)
        channels = {channel_of[item[2]] for item in items}
        full: dict[str, str] = {}  # channels today's limit (or the credits) refuse now
        held: dict[str, list[_Item]] = {}
        slots: dict[tuple[str, str | None], dt.datetime | None] = {}
        # the room ``room`` gives a channel, kept while only that channel sends (a send
        # takes from the daily total and the credits every channel shares)
        rooms: dict[str, tuple[int, str | None]] = {}
        for index, item in enumerate(items):
            place, count, step, tz, contacts = item
            channel = channel_of[step]
            if channel in full:
                held[channel].append(item)
                continue
            if not is_test:
                if (channel, tz) not in slots:
                    at = (shape, now, channel, tz)
                    if at not in self.slots:
                        self.slots[at] = next_slot(now, plan.window, channel, tz)
                    slots[(channel, tz)] = self.slots[at]
                slot = slots[(channel, tz)]
                if slot is None:
                    out.failed_per_step[step] += count
                    continue
                if slot != now:
                    self.schedule(run, slot, item)
                    continue
            if channel not in rooms:
                rooms[channel] = self.room(plan, channel, day, now)
            room, refused = rooms[channel]
            sent = min(room, count)
            if sent:
                self.send(run, channel, step, sent, now, day)
                self.advance(run, (place, sent, step, tz, contacts), now)
                rooms.clear()
                rooms[channel] = (room - sent, refused)
            if sent < count:
                full[channel] = refused or "daily_limit"
                held[channel] = [(place + sent, count - sent, step, tz, contacts)]
                if len(full) == len(channels):  # nothing more goes now: hold the rest
                    if len(channels) == 1:
                        held[channel] += items[index + 1:]
                    else:
                        for rest in items[index + 1:]:
                            held[channel_of[rest[2]]].append(rest)
                    break
        for channel, kept in held.items():
            self.hold(run, zone, kept, channel, full[channel], now)

    def hold(self, run: int, zone: str, items: list[_Item], channel: str, refused: str,
             now: dt.datetime) -> None:
        """Keep steps the limit refuses (to the next day's first slot, together: they
        share a zone and a channel) or the credits do (they stop)."""
        plan, out = self.runs[run].plan, self.out[run]
        if refused == "credits" or plan.client in self.exhausted:
            self.exhausted.add(plan.client)
            out.blocked += sum(item[1] for item in items)
            return
        at = (self.shape[run], now, channel, items[0][3])
        if at not in self.next_days:
            self.next_days[at] = next_day_start(now, plan.window, channel, items[0][3])
        later = self.next_days[at]
        if later is None:
            for item in items:
                out.failed_per_step[item[2]] += item[1]
            return
        key = (later, run, zone)
        batch = self.batches.get(key)
        if batch is None:
            self.batches[key] = list(items)
            heapq.heappush(self.heap, key)
        else:
            batch.extend(items)

    def send(self, run: int, channel: str, step: int, n: int, now: dt.datetime,
             day: dt.date) -> None:
        plan, out = self.runs[run].plan, self.out[run]
        self.budget.take(plan, channel, n)
        boxes = self.mailboxes(plan, channel, now) if self.senders else []
        for _ in range(n if boxes else 0):  # each to the sender with the most room left
            key, _limit = max(boxes, key=lambda box: box[1] - self.mailed[box[0]])
            self.mailed[key] += 1
        if self.test[run]:
            return
        out.per_day[(day, channel)] += n
        out.sent_per_step[step] += n
        if out.first_send is None or now < out.first_send:
            out.first_send, out.first_batch = now, n
        elif now == out.first_send:
            out.first_batch += n
        if out.last_send is None or now > out.last_send:
            out.last_send = now
        if self.budget.credits.get(plan.client, 0) - self.budget.charged[plan.client] <= 0:
            self.exhausted.add(plan.client)
            for forecast, r in zip(self.out, self.runs, strict=True):
                if r.plan.client == plan.client and forecast.credits_out is None:
                    forecast.credits_out = day

    # -------------------------------------------------- the clock

    def run_continuous(self, now: dt.datetime, until: dt.datetime) -> None:
        """Each batch goes the moment it is due (an overdue one: now)."""
        while self.heap and self.heap[0][0] <= until:
            key = heapq.heappop(self.heap)
            self.process(key, max(key[0], now))

    def run_ticks(self, ticks: Iterable[dt.datetime]) -> None:
        for tick in ticks:
            while self.heap and self.heap[0][0] <= tick:
                self.process(heapq.heappop(self.heap), tick)

    def leftovers(self) -> None:
        for (_due, run, _zone), items in self.batches.items():
            left = sum(item[1] for item in items)
            if self.runs[run].plan.client in self.exhausted:
                self.out[run].blocked += left
            else:
                self.out[run].unfinished += left


def shape_of(plan: RunPlan) -> str:
    """What the walk reads of a plan: window, steps, type, limits (and, for a test run,
    where its messages go)."""
    return repr((plan.window, plan.steps, plan.run_type, plan.daily_limit,
                 sorted(plan.allocation.items()),
                 plan.config.get("campaign", {}).get("spec", {}).get("testRecipients")
                 if plan.is_test else None))
