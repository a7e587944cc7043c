"""The forecast's inputs read from the database (the service layer's half).

``reconcile.forecast.simulate`` is pure; this module reads what it needs: the
audience a run would take (the leads ``allocate`` would pick, best first, in the
order their enrollments get ids, as groups of alike leads), the clients' credits and
what each campaign sent today (``gate.load_budget``, the numbers tick uses), and the
active enrollments of a running run (for ``next_send``).

Runs of the same plan that share a client and a segment take consecutive slices of
the same best-first list, as apply would allocate them one after the other.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, or_, select, true
from sqlalchemy.orm import Session

from campaign_gitops.reconcile.forecast import ALL_CONTACTS, CONTACTS, Cohort, Mailboxes, SimRun
from campaign_gitops.runs.allocation import BEST_FIRST, _filter, count_matching, run_size
from campaign_gitops.runs.gate import load_budget
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.state.tables import Enrollment, Lead

leads = Lead.__table__
enrollments = Enrollment.__table__


def _present(column: Any) -> Any:
    return case((func.coalesce(column, "") != "", 1), else_=0)


def _contact_columns(table: Any) -> list[Any]:
    mail = or_(func.coalesce(table.c.first_name, "") != "",
               func.coalesce(table.c.last_name, "") != "",
               func.coalesce(table.c.company, "") != "")
    return [table.c.timezone, _present(table.c.email), _present(table.c.phone),
            _present(table.c.linkedin_url), case((mail, 1), else_=0)]


def _contacts(email: int, phone: int, linkedin: int, mail: int) -> frozenset[str]:
    have = (("email", email), ("phone", phone), ("linkedin_url", linkedin), ("mail", mail))
    return frozenset(name for name, flag in have if flag)


def runs_of_alike(rows: Iterable[tuple[Any, ...]]) -> list[Cohort]:
    """Consecutive rows (timezone, contact flags...) -> cohorts (run-length)."""
    cohorts: list[Cohort] = []
    last: tuple[Any, ...] | None = None
    count = 0
    for row in rows:
        key = tuple(row)
        if key == last:
            count += 1
            continue
        if last is not None:
            cohorts.append(Cohort(count, last[0] or None, _contacts(*last[1:5])))
        last, count = key, 1
    if last is not None:
        cohorts.append(Cohort(count, last[0] or None, _contacts(*last[1:5])))
    return cohorts


# Up to this many leads per (client, segment) the forecast follows them one by one, in
# allocation order; past it, in bands of enrichment confidence (1/BANDS wide: each band's
# mix of contacts and timezones kept, the order inside a band not).
EXACT_LEADS = 50_000
BANDS = 1000


@dataclass
class Pool:
    """The pool as a plan's runs would take it, one after the other."""

    session: Session
    matching: dict[tuple[str, str], int] = field(default_factory=dict)

    def audiences(self, configs: list[dict[str, Any]]) -> list[list[Cohort]]:
        """The leads each run of ``configs`` would be allocated now, in order (a run
        after the runs before it with the same client and segment), as cohorts."""
        keyed: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for index, config in enumerate(configs):
            client = config["campaign"]["client"]
            segment = config.get("segment")
            key = (client, json.dumps(segment, sort_keys=True, default=str))

            def matching(key: tuple[str, str] = key, segment: Any = segment,
                         client: str = client) -> int:
                if key not in self.matching:
                    self.matching[key] = count_matching(self.session, segment, client)
                return self.matching[key]

            keyed.setdefault(key, []).append((index, run_size(self.session, config, matching)))
        out: list[list[Cohort]] = [[] for _ in configs]
        large = [(key, sum(w for _, w in wants)) for key, wants in keyed.items()
                 if sum(w for _, w in wants) > EXACT_LEADS]
        blocks = self._blocks(large, read_contacts(configs)) if large else {}
        for key, wants in keyed.items():
            client, segment_json = key
            total = sum(w for _, w in wants)
            if total <= 0:
                continue
            groups = (blocks.get(key, []) if total > EXACT_LEADS
                      else self._exact(json.loads(segment_json), client, total))
            for (index, wanted), part in zip(wants, _slices(groups, [w for _, w in wants]),
                                             strict=True):
                out[index] = part if wanted > 0 else []
        return out

    def _exact(self, segment: Any, client: str, total: int) -> list[Cohort]:
        query = (select(*_contact_columns(leads)).where(*_filter(self.session, segment, client))
                 .order_by(*BEST_FIRST).limit(total))
        return runs_of_alike(self.session.execute(query))

    def _blocks(self, wanted: list[tuple[tuple[str, str], int]],
                read: frozenset[str] = ALL_CONTACTS) -> dict[tuple[str, str], list[Cohort]]:
        """The audiences of large (client, segment) keys in one pass over the pool, no
        sort: each lead goes to the first key (in plan order) whose filter it matches,
        grouped by band of ``enrichment_confidence`` (``BANDS`` of them, best first) and
        alike contacts (those in ``read``: the others change no step); a key takes bands
        from the best down to its total. (Keys whose segments overlap: a shared lead
        counts for the first one only.)"""
        parts = [_filter(self.session, json.loads(seg), client) for (client, seg), _ in wanted]
        common = _common(parts)  # once in WHERE, not in every WHEN
        label = case(*((and_(true(), *(c for c in part if not _among(c, common))), i)
                       for i, part in enumerate(parts))).label("k")
        # one integer per (key, band, contacts) and the timezone: a narrow sort key
        # the band is floor(confidence * BANDS) on both backends: SQLite's CAST truncates,
        # PostgreSQL's rounds (which made a half band at each end and other slices)
        scaled = leads.c.enrichment_confidence * BANDS
        if self.session.get_bind().dialect.name == "postgresql":
            scaled = func.floor(scaled)
        band = func.coalesce(cast(scaled, Integer), -1)
        _tz, *flags = _contact_columns(leads)
        packed = (label * (BANDS + 2) + band + 1) * 16
        for bit, (name, flag) in zip((8, 4, 2, 1), zip(CONTACTS, flags, strict=True),
                                     strict=True):
            if name in read:
                packed = packed + flag * bit
        packed = packed.label("packed")
        inner = select(packed, leads.c.timezone.label("tz")).where(*common).subquery("p")
        # no WHERE on the key: SQLite would evaluate the CASE twice; the leads of no key
        # (packed NULL) form a group skipped here
        query = select(inner.c.packed, inner.c.tz, func.count()).group_by(inner.c.packed,
                                                                          inner.c.tz)
        groups = []
        for value, tz, n in self.session.execute(query):
            if value is None:
                continue
            rest, bits = divmod(int(value), 16)
            k, band_plus = divmod(rest, BANDS + 2)
            groups.append((k, -band_plus, tz or "", bits, tz, int(n)))
        groups.sort(key=lambda g: g[:4])  # key, best band first, timezone, contacts
        out: dict[tuple[str, str], list[Cohort]] = {key: [] for key, _ in wanted}
        left = [total for _, total in wanted]
        for index, _band, _order, bits, tz, n in groups:
            take = min(n, left[index])
            if take > 0:
                left[index] -= take
                out[wanted[index][0]].append(Cohort(take, tz or None, _contacts(
                    bits >> 3 & 1, bits >> 2 & 1, bits >> 1 & 1, bits & 1)))
        return out


def _among(clause: Any, clauses: list[Any]) -> bool:
    return any(clause.compare(other) for other in clauses)


def _common(parts: list[list[Any]]) -> list[Any]:
    """The conditions every one of ``parts`` has (e.g. the pool's free, verified leads)."""
    return [c for c in parts[0] if all(_among(c, part) for part in parts[1:])] \
        if parts else []


def read_contacts(configs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The contacts any step of ``configs`` looks at (its recipient, its skip rules):
    whether a lead has another one changes nothing in the forecast."""
    from campaign_gitops.runs.sequences import RECIPIENT_FIELD, SKIP_RULES

    found: set[str] = set()
    for config in configs:
        for step in config.get("steps") or ():
            found.add(RECIPIENT_FIELD.get(str(step.get("channel"))) or "mail")
            rules = step.get("skipIf") or ()
            for rule in [rules] if isinstance(rules, str) else rules:
                found.add(SKIP_RULES.get(rule, rule))
    return frozenset(c if c in CONTACTS else "mail" for c in found)


def _slices(groups: list[Cohort], sizes: list[int]) -> list[list[Cohort]]:
    """Cut the cohorts, in order, into consecutive parts of ``sizes`` leads (a cohort
    across a boundary is split; fewer leads than asked: the last parts get less)."""
    parts: list[list[Cohort]] = []
    queue = list(reversed(groups))
    for size in sizes:
        part: list[Cohort] = []
        while size > 0 and queue:
            cohort = queue.pop()
            if cohort.count > size:
                queue.append(Cohort(cohort.count - size, cohort.timezone, cohort.contacts))
                cohort = Cohort(size, cohort.timezone, cohort.contacts)
            part.append(cohort)
            size -= cohort.count
        parts.append(part)
    return parts


def budget_now(session: Session, plans: list[RunPlan], now: dt.datetime,
               default_credits: int) -> tuple[dict[str, int], dict[tuple[int, str], int]]:
    """(credits by client, messages sent today by (campaign id, channel)): what tick's
    ``load_budget`` would read now; a client not in the database has the defaults."""
    budget = load_budget(session, [p for p in plans if p.campaign_id > 0], now, lock=False)
    credits = {p.client: budget.credits.get(p.client, default_credits) for p in plans}
    return credits, dict(budget.used)


def senders_now(session: Session, plans: list[RunPlan],
                now: dt.datetime) -> dict[str, Mailboxes]:
    """Each client's mailboxes (SPEC 9) from the newest of ``plans``' configs (the last
    one of the client) and the emails each sender already sent on the client's day,
    all campaigns, test runs left out (what tick's book counts). Before messages record
    their sender (no ``sender`` column), nothing counts as sent today."""
    from campaign_gitops.reconcile.forecast import mailboxes
    from campaign_gitops.runs.calendar import day_bounds
    from campaign_gitops.runs.gate import COUNTED
    from campaign_gitops.state.tables import CampaignRun, Message

    found: dict[str, Mailboxes] = {}
    for plan in plans:
        boxes = mailboxes(plan.config)
        if boxes is not None:
            found[plan.client] = boxes
    messages, runs = Message.__table__, CampaignRun.__table__
    column = messages.c.get("sender")
    if column is None:
        return found
    for client, boxes in found.items():
        start, end = day_bounds(now, boxes.timezone)
        rows = session.execute(
            select(func.lower(column), func.count())
            .join(runs, runs.c.id == messages.c.run_id)
            .where(messages.c.client == client, func.lower(column).in_(list(boxes.limits)),
                   runs.c.type != "test_run", messages.c.status.in_(COUNTED),
                   messages.c.scheduled_for >= start, messages.c.scheduled_for < end)
            .group_by(func.lower(column)))
        found[client] = Mailboxes(boxes.timezone, boxes.limits,
                                  {str(email): int(n) for email, n in rows})
    return found


def active_cohorts(session: Session, run_id: int) -> list[Cohort]:
    """A running run's active enrollments as cohorts (due, step, timezone, contacts), in
    the order tick claims them (oldest due first, then enrollment id)."""
    e = enrollments
    query = (select(e.c.next_due_at, e.c.next_step, *_contact_columns(leads))
             .join(leads, leads.c.id == e.c.lead_id)
             .where(e.c.run_id == run_id, e.c.state == "active",
                    e.c.next_due_at.is_not(None))
             .order_by(e.c.next_due_at, e.c.id))
    cohorts: list[Cohort] = []
    last: tuple[Any, ...] | None = None
    for row in session.execute(query):
        key = tuple(row)
        if key == last:
            previous = cohorts[-1]
            cohorts[-1] = Cohort(previous.count + 1, previous.timezone, previous.contacts,
                                 previous.step, previous.due)
            continue
        due, step, tz, *flags = key
        cohorts.append(Cohort(1, tz or None, _contacts(*flags), int(step), due))
        last = key
    return cohorts


def in_flight(session: Session, clients: Iterable[str], now: dt.datetime) -> list[SimRun]:
    """The runs walking now for these clients (running, not test runs, campaign active,
    client not halted), oldest first, with their active enrollments: what shares the
    daily limits and the credits with a run about to start."""
    from campaign_gitops.state.tables import Campaign, CampaignRun, Client, Resource

    names = sorted(set(clients))
    if not names:
        return []
    runs, campaigns = CampaignRun.__table__, Campaign.__table__
    clients_t, resources = Client.__table__, Resource.__table__
    rows = session.execute(
        select(runs.c.id, runs.c.name, runs.c.type, runs.c.campaign_id, runs.c.config)
        .join(campaigns, campaigns.c.resource_id == runs.c.campaign_id)
        .join(resources, resources.c.id == runs.c.campaign_id)
        .join(clients_t, clients_t.c.name == resources.c.client)
        .where(resources.c.client.in_(names), runs.c.status == "running",
               runs.c.type != "test_run", campaigns.c.status == "active",
               clients_t.c.halted.is_(False))
        .order_by(runs.c.id)).all()
    sims = [SimRun(RunPlan.from_config(r.id, r.name, r.type, r.campaign_id, r.config), now,
                   tuple(active_cohorts(session, r.id))) for r in rows]
    return [s for s in sims if s.cohorts]


def next_send(session: Session, run_ids: list[int], now: dt.datetime,
              default_credits: int = 0) -> dict[str, Any] | None:
    """When the next messages of these running runs go out and how many:
    ``{"at": ISO, "messages": N}`` from the forecast of every run walking for their
    clients (the same simulation as plan's: they share limits and credits), or None when
    nothing will (no active enrollment, the campaign not active, delivery or the client
    halted, no credits left)."""
    from campaign_gitops.reconcile.forecast import simulate
    from campaign_gitops.state import kv
    from campaign_gitops.state.tables import CampaignRun, Resource

    if kv.global_halt(session) is not None or not run_ids:
        return None
    runs, resources = CampaignRun.__table__, Resource.__table__
    clients = session.execute(select(resources.c.client).join(
        runs, runs.c.campaign_id == resources.c.id).where(runs.c.id.in_(run_ids))).scalars()
    sims = in_flight(session, clients, now)
    wanted = set(run_ids)
    if not any(s.plan.run_id in wanted for s in sims):
        return None
    credits, used = budget_now(session, [s.plan for s in sims], now, default_credits)
    senders = senders_now(session, [s.plan for s in sims], now)
    out = [f for f, s in zip(simulate(now, sims, credits=credits, used_today=used,
                                      horizon_days=60, senders=senders), sims, strict=True)
           if s.plan.run_id in wanted]
    firsts = [f.first_send for f in out if f.first_send is not None]
    if not firsts:
        return None
    at = min(firsts)
    return {"at": at.isoformat(),
            "messages": sum(f.first_batch for f in out if f.first_send == at)}


def run_starts(plan: Any, bundle: Any, snapshot: Any,
               now: dt.datetime) -> list[tuple[int, SimRun, list[dt.datetime]]]:
    """The runs ``plan`` would start, as (change index, run to simulate, next fires of a
    recurring series); the audience is filled in by ``forecast_plan``. Test runs are left
    out: they go to ``testRecipients`` at once, outside windows and limits."""
    from campaign_gitops.config.cron import first_fire, next_fire
    from campaign_gitops.config.resolved import resolve_campaign
    from campaign_gitops.runs.start import recurrence, scheduled_time

    out: list[tuple[int, SimRun, list[dt.datetime]]] = []
    for index, change in enumerate(plan.changes):
        if change.action != "run":  # a cancel is its own action
            continue
        entry = bundle.entries.get(change.key)
        decl = next((r for r in entry.resource.spec.runs if r.name == change.to), None) \
            if entry is not None else None
        if decl is None or decl.type == "test_run":
            continue
        config = resolve_campaign(entry, bundle)
        state = snapshot.resources.get(change.key)
        campaign_id = state.id if state is not None else -(index + 1)
        run_plan = RunPlan.from_config(-(index + 1), str(change.to), decl.type, campaign_id,
                                       config)
        start, fires = now, []
        if decl.type == "schedule":
            recurring = recurrence(config)
            at = scheduled_time(config, str(change.to))
            if recurring is not None:
                cron, timezone = recurring
                first = first_fire(cron, timezone, at, now)
                if first is None:
                    continue
                start, fires = first, [first]
                while len(fires) < 3:
                    following = next_fire(cron, timezone, fires[-1])
                    if following is None:
                        break
                    fires.append(following)
            elif at is not None and at > now:
                start = at
        out.append((index, SimRun(run_plan, start, ()), fires))
    return out


def forecast_plan(session: Session, plan: Any, bundle: Any, snapshot: Any,
                  now: dt.datetime, config: Any) -> Any:
    """``plan`` with a forecast on every run it would start (see ``reconcile.forecast``)."""
    from campaign_gitops.reconcile.forecast import attach, freeze_warnings, simulate

    starts = run_starts(plan, bundle, snapshot, now)
    if not starts:
        return plan
    audiences = Pool(session).audiences([sim.plan.config for _, sim, _ in starts])
    sims = [SimRun(sim.plan, sim.start, tuple(audience))
            for (_, sim, _), audience in zip(starts, audiences, strict=True)]
    walking = in_flight(session, {s.plan.client for s in sims}, now)
    everything = [*walking, *sims]  # their enrollments come first: lower ids
    credits, used = budget_now(session, [s.plan for s in everything], now,
                               config.client_defaults.credits)
    senders = senders_now(session, [s.plan for s in everything], now)
    forecasts = simulate(now, everything, credits=credits, used_today=used,
                         senders=senders)[len(walking):]
    by_change = {}
    for (index, _sim, fires), forecast in zip(starts, forecasts, strict=True):
        freeze_warnings(forecast, config.freeze_windows)
        if fires:
            forecast.next_fires = fires
        by_change[index] = forecast
    return attach(plan, by_change)


def next_send_of_run(session: Session, run_id: int, now: dt.datetime) -> dict[str, Any] | None:
    """``next_send`` of a run (of a recurring series: of its running occurrences)."""
    from campaign_gitops.state.tables import CampaignRun

    runs = CampaignRun.__table__
    ids = [run_id, *session.execute(select(runs.c.id).where(
        runs.c.series_id == run_id, runs.c.status == "running")).scalars()]
    return next_send(session, ids, now)


def next_send_of_campaign(session: Session, client: str, name: str,
                          now: dt.datetime) -> dict[str, Any] | None:
    """``next_send`` over every running run of the campaign ``client/name``."""
    from campaign_gitops.state.tables import CampaignRun, Resource

    runs, resources = CampaignRun.__table__, Resource.__table__
    ids = list(session.execute(select(runs.c.id).join(
        resources, resources.c.id == runs.c.campaign_id).where(
        resources.c.client == client, resources.c.name == name, resources.c.kind == "Campaign",
        runs.c.status == "running")).scalars())
    return next_send(session, ids, now) if ids else None


def next_send_text(value: dict[str, Any] | None) -> str:
    """One line for people: ``12 message(s) at 2026-12-01 09:00 UTC`` or ``nothing due``."""
    if value is None:
        return "nothing to send"
    when = value["at"][:16].replace("T", " ")
    return f"{value['messages']} message(s) at {when} UTC"
