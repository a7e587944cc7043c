"""The forecast's inputs read from the database (the service layer's half).

``reconcile.forecast.simulate`` is pure; this module reads what it needs: the
audience a run would take (``runs.forecast_pool``), the clients' credits and what each
campaign sent today (``gate.load_budget``, the numbers tick uses), each client's
senders, and the active enrollments of a running run (for ``next_send``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign_gitops.reconcile.forecast_model import Cohort, Mailboxes, SimRun
from campaign_gitops.runs.forecast_pool import Pool, contact_columns, contacts_of
from campaign_gitops.runs.gate import load_budget
from campaign_gitops.runs.sequences import RunPlan
from campaign_gitops.state.tables import Enrollment, Lead

leads = Lead.__table__
enrollments = Enrollment.__table__


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
    from campaign_gitops.reconcile.forecast_model import mailboxes
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
    query = (select(e.c.next_due_at, e.c.next_step, *contact_columns(leads))
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
        cohorts.append(Cohort(1, tz or None, contacts_of(*flags), int(step), due))
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
    from campaign_gitops.reconcile.forecast import attach, simulate
    from campaign_gitops.reconcile.forecast_warnings import freeze_warnings

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
