"""The forecast: what runs will send, day by day, before they start. Pure: no database.

``simulate`` forecasts runs (in enrollment order) from the same rules ``tick`` applies:
it splits them into parts that cannot meet and walks each part through the calendar
(``forecast_walk``: windows, steps, skips, daily limits and allocation shares, credits,
senders' caps), then adds the warnings (``forecast_warnings``). The values it reads and
returns are in ``forecast_model``; the text and markdown forms in ``forecast_text``;
``runs.forecasting`` reads the inputs from the database. The names importers use are
re-exported here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from campaign_gitops.reconcile.forecast_model import (
    ALL_CONTACTS,
    CONTACTS,
    HORIZON_DAYS,
    Cohort,
    Mailboxes,
    RunForecast,
    SimRun,
    allowed_senders,
    mailboxes,
)
from campaign_gitops.reconcile.forecast_text import forecast_line, forecast_markdown
from campaign_gitops.reconcile.forecast_walk import Walk, shape_of
from campaign_gitops.reconcile.forecast_warnings import freeze_warnings, limit_warnings

__all__ = ["ALL_CONTACTS", "CONTACTS", "HORIZON_DAYS", "Cohort", "Mailboxes", "RunForecast",
           "SimRun", "allowed_senders", "attach", "forecast_line", "forecast_markdown",
           "freeze_warnings", "mailboxes", "simulate"]


def simulate(now: dt.datetime, runs: Sequence[SimRun], *,
             credits: Mapping[str, int],
             used_today: Mapping[tuple[int, str], int] | None = None,
             ticks: Iterable[dt.datetime] | None = None,
             horizon_days: int = HORIZON_DAYS,
             senders: Mapping[str, Mailboxes] | None = None) -> list[RunForecast]:
    """Forecast ``runs`` (in enrollment order: earlier runs' enrollments first).

    ``credits``: the clients' credits now; ``used_today``: messages each campaign
    already sent today, by (campaign id, channel); ``ticks``: explicit tick times
    (default: a step goes out the moment it is due); the walk stops after
    ``horizon_days``; ``senders``: each client's mailboxes and their caps (a client not
    in it: no sender caps).
    """
    used, boxes = used_today or {}, senders or {}
    moments = None if ticks is None else list(ticks)  # every part walks the same ticks
    out: list[RunForecast | None] = [None] * len(runs)
    memo: dict[Any, list[RunForecast]] = {}
    shared: dict[str, Any] = {}
    for part in _apart(runs, credits, boxes):
        key = _memo_key(runs, part, used, credits, boxes)
        done = memo.get(key) if key is not None else None
        if done is None:
            sim = Walk([runs[i] for i in part], credits, used, now, boxes, shared)
            sim.enrol()
            if moments is None:
                sim.run_continuous(now, now + dt.timedelta(days=horizon_days))
            else:
                sim.run_ticks(moments)
            sim.leftovers()
            done = sim.out
            if key is not None:
                memo[key] = done
        for i, forecast in zip(part, done, strict=True):
            out[i] = _copy(forecast)
    final = [f for f in out if f is not None]
    for forecast in final:
        limit_warnings(forecast, horizon_days)
    return final


def _apart(runs: Sequence[SimRun], credits: Mapping[str, int],
           senders: Mapping[str, Mailboxes]) -> list[list[int]]:
    """The runs in parts that cannot meet (indexes in order): runs of one campaign share
    its daily limit; a client's campaigns share its credits and senders, unless the
    client has no senders and more credits than its runs could ever spend (a message a
    step for each enrollment). Each part walks on its own: same result, less to sort,
    and alike parts are walked once (``_memo_key``)."""
    spend: Counter[str] = Counter()
    for run in runs:
        spend[run.plan.client] += run.audience * len(run.plan.steps)
    coupled = {c for c in spend if c in senders or credits.get(c, 0) <= spend[c]
               or any(r.plan.is_test for r in runs if r.plan.client == c)}
    parts: dict[Any, list[int]] = {}
    for index, run in enumerate(runs):
        plan = run.plan
        key = ("client", plan.client) if plan.client in coupled else ("campaign",
                                                                       plan.campaign_id)
        parts.setdefault(key, []).append(index)
    return list(parts.values())


def _memo_key(runs: Sequence[SimRun], part: list[int], used: Mapping[tuple[int, str], int],
              credits: Mapping[str, int], senders: Mapping[str, Mailboxes]) -> Any:
    """What a part's walk depends on, without the names and ids that differ between
    alike campaigns (None: not remembered, e.g. a part whose credits may run out)."""
    plans = [runs[i].plan for i in part]
    clients = {p.client for p in plans}
    if len(clients) != 1 or any(p.is_test for p in plans):
        return None
    (client,) = clients
    if client in senders:
        return None
    spend = sum(runs[i].audience * len(runs[i].plan.steps) for i in part)
    if credits.get(client, 0) <= spend:
        return None
    campaigns: dict[int, int] = {}
    for p in plans:
        campaigns.setdefault(p.campaign_id, len(campaigns))
    used_key = tuple(sorted((campaigns[cid], channel, n)
                            for (cid, channel), n in used.items() if cid in campaigns))
    return (used_key, tuple(
        (campaigns[runs[i].plan.campaign_id], shape_of(runs[i].plan), runs[i].start,
         runs[i].cohorts) for i in part))


def _copy(forecast: RunForecast) -> RunForecast:
    return RunForecast(
        audience=forecast.audience, per_day=Counter(forecast.per_day),
        sent_per_step=Counter(forecast.sent_per_step),
        skipped_per_step=Counter(forecast.skipped_per_step),
        failed_per_step=Counter(forecast.failed_per_step), first_send=forecast.first_send,
        first_batch=forecast.first_batch, last_send=forecast.last_send,
        blocked=forecast.blocked, unfinished=forecast.unfinished,
        credits_out=forecast.credits_out, warnings=list(forecast.warnings),
        next_fires=list(forecast.next_fires))


def attach(plan: Any, forecasts: Mapping[int, RunForecast]) -> Any:
    """``plan`` with ``forecasts`` (by change index) on its run changes."""
    from dataclasses import replace

    changes = tuple(replace(c, forecast=forecasts[i].as_json()) if i in forecasts else c
                    for i, c in enumerate(plan.changes))
    return replace(plan, changes=changes)
