"""Properties of the pure forecast (reconcile/forecast.simulate) over random calendars,
limits and audiences: no local day ever goes over the campaign's daily limit or a
channel's allocation share or the client's credits, and with credits to spare every
step accounts for the whole audience: sent + skipped (exactly the leads a skip rule or
a missing contact stops) + failed (a window that never opens)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.reconcile.forecast import ALL_CONTACTS, Cohort, SimRun, simulate
from campaign_gitops.runs.sequences import RunPlan

NOW = dt.datetime(2026, 3, 2, 6, 30, tzinfo=dt.UTC)
CHANNELS = ("email", "sms", "voice", "linkedin", "mail")
ZONES = (None, "UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
SKIPS = {"sms": ["phone_missing"], "voice": ["phone_missing"],
         "linkedin": ["linkedin_url_missing"]}

steps_st = st.lists(st.builds(
    lambda channel, delay, skip: {"channel": channel, "delayDays": delay,
                                  **({"skipIf": SKIPS.get(channel, [])} if skip else {})},
    st.sampled_from(CHANNELS), st.integers(0, 4), st.booleans()), min_size=1, max_size=5)
schedule_st = st.builds(
    lambda tz, start, length, days, skip: {
        "timezone": tz, "workHours": {"start": f"{start:02d}:00",
                                      "end": f"{min(24, start + length):02d}:00"},
        "workDays": sorted(days),
        "skipDates": [(NOW.date() + dt.timedelta(days=d)).isoformat() for d in skip]},
    st.sampled_from(ZONES[1:]), st.integers(0, 22), st.integers(1, 12),
    st.sets(st.integers(1, 7), min_size=1), st.sets(st.integers(0, 30), max_size=5))
cohort_st = st.builds(
    Cohort, st.integers(1, 60), st.sampled_from(ZONES),
    st.sets(st.sampled_from(sorted(ALL_CONTACTS))).map(frozenset))


def _plan(run_id: int, campaign_id: int, steps: list[dict[str, Any]],
          schedule: dict[str, Any], limit: int, allocation: dict[str, int]) -> RunPlan:
    config = {"campaign": {"client": "acme", "name": f"c{campaign_id}",
                           "spec": {"dailyLimit": limit, "allocation": allocation}},
              "schedule": schedule, "steps": steps}
    return RunPlan.from_config(run_id, f"r{run_id}", "run", campaign_id, config)


allocation_st = st.dictionaries(st.sampled_from(CHANNELS), st.integers(1, 100), max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_st, schedule=schedule_st, limit=st.integers(1, 40),
       allocation=allocation_st, cohorts=st.lists(cohort_st, max_size=6),
       credits=st.integers(0, 400), two_runs=st.booleans())
def test_limits_hold_and_steps_sum_to_the_audience(
        steps: list[dict[str, Any]], schedule: dict[str, Any], limit: int,
        allocation: dict[str, int], cohorts: list[Cohort], credits: int,
        two_runs: bool) -> None:
    plan = _plan(-1, 7, steps, schedule, limit, allocation)
    runs = [SimRun(plan, NOW, tuple(cohorts))]
    if two_runs:  # a second run of the same campaign shares its limits
        runs.append(SimRun(_plan(-2, 7, steps, schedule, limit, allocation),
                           NOW + dt.timedelta(hours=5), tuple(reversed(cohorts))))
    ample = 10 ** 6
    for pot in (credits, ample):
        out = simulate(NOW, runs, credits={"acme": pot}, horizon_days=40_000)
        per_day: Counter[dt.date] = Counter()
        per_channel: Counter[tuple[dt.date, str]] = Counter()
        for forecast in out:
            for (day, channel), n in forecast.per_day.items():
                per_day[day] += n
                per_channel[(day, channel)] += n
        assert all(n <= limit for n in per_day.values())
        assert all(n <= plan.channel_limit(channel)
                   for (_day, channel), n in per_channel.items())
        assert sum(f.credits for f in out) <= pot
    for run, forecast in zip(runs, out, strict=True):
        assert forecast.unfinished == 0 and forecast.blocked == 0
        reaching = run.audience
        for index, step in enumerate(steps):
            knowable = sum(c.count for c in run.cohorts if plan.skip_reason(step, _lead(c))
                           or not plan.recipients(step["channel"], _lead(c)))
            if forecast.failed_per_step[index]:  # the window never opens: nobody passes
                assert forecast.failed_per_step[index] == reaching
                assert forecast.sent_per_step[index] == 0
                break
            assert forecast.skipped_per_step[index] == knowable
            assert forecast.sent_per_step[index] + knowable == reaching


def _lead(cohort: Cohort) -> dict[str, Any]:
    lead: dict[str, Any] = {k: "x" for k in cohort.contacts if k != "mail"}
    if "mail" in cohort.contacts:
        lead["company"] = "x"
    return lead


def test_credits_run_out_on_a_day_and_say_so() -> None:
    plan = _plan(-1, 7, [{"channel": "email", "delayDays": 0}],
                 {"timezone": "UTC", "workHours": {"start": "09:00", "end": "17:00"},
                  "workDays": [1, 2, 3, 4, 5]}, 10, {})
    (out,) = simulate(NOW, [SimRun(plan, NOW, (Cohort(50),))], credits={"acme": 25})
    assert [(d.isoformat(), n) for (d, _c), n in sorted(out.per_day.items())] == [
        ("2026-03-02", 10), ("2026-03-03", 10), ("2026-03-04", 5)]
    assert out.credits == 25 and out.blocked == 25
    assert out.warnings == ["credits run out on 2026-03-04: 25 enrollment(s) stop there"]


def test_an_empty_audience_and_a_window_that_never_opens_are_warned() -> None:
    sms = _plan(-1, 7, [{"channel": "sms", "delayDays": 0}],
                {"timezone": "UTC", "workHours": {"start": "21:00", "end": "23:00"}}, 10, {})
    (empty, never) = simulate(NOW, [SimRun(sms, NOW, ()), SimRun(sms, NOW, (Cohort(3),))],
                              credits={"acme": 100})
    assert empty.warnings == ["the audience is 0: no lead of the pool matches"]
    assert never.failed == 3 and never.credits == 0
    assert never.warnings == ["3 step(s) can never be sent: the sending window never "
                              "opens for their channel"]


def test_used_today_counts_against_the_day() -> None:
    plan = _plan(-1, 7, [{"channel": "email", "delayDays": 0}],
                 {"timezone": "UTC", "workHours": {"start": "09:00", "end": "17:00"},
                  "workDays": [1, 2, 3, 4, 5]}, 10, {})
    (out,) = simulate(NOW, [SimRun(plan, NOW, (Cohort(20),))], credits={"acme": 100},
                      used_today={(7, "email"): 6})
    assert out.per_day[(NOW.date(), "email")] == 4


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps_st, schedule=schedule_st, limit=st.integers(1, 40),
       allocation=allocation_st, cohorts=st.lists(cohort_st, min_size=1, max_size=4),
       scarce=st.integers(0, 60), ticked=st.booleans())
def test_a_runs_forecast_is_the_same_beside_runs_it_cannot_meet(
        steps: list[dict[str, Any]], schedule: dict[str, Any], limit: int,
        allocation: dict[str, int], cohorts: list[Cohort], scarce: int,
        ticked: bool) -> None:
    """The walk goes in parts (a campaign; a client whose credits may run out) and walks
    alike parts once: a run's forecast beside other campaigns and clients (some alike,
    some sharing scarce credits) equals its forecast alone."""
    def plan(run_id: int, campaign_id: int, client: str) -> RunPlan:
        config = {"campaign": {"client": client, "name": f"c{campaign_id}",
                               "spec": {"dailyLimit": limit, "allocation": allocation}},
                  "schedule": schedule, "steps": steps}
        return RunPlan.from_config(run_id, f"r{run_id}", "run", campaign_id, config)

    runs = [SimRun(plan(-1, 1, "acme"), NOW, tuple(cohorts)),
            SimRun(plan(-2, 2, "acme"), NOW, tuple(cohorts)),         # alike, ample
            SimRun(plan(-3, 3, "initech"), NOW, tuple(cohorts)),      # scarce credits
            SimRun(plan(-4, 4, "initech"), NOW, tuple(reversed(cohorts)))]
    credits = {"acme": 10 ** 6, "initech": scarce}
    ticks = [NOW + dt.timedelta(hours=6 * i) for i in range(4 * 60)] if ticked else None

    def walk(chosen: list[SimRun]) -> list[dict[str, Any]]:
        out = simulate(NOW, chosen, credits=credits, horizon_days=60,
                       ticks=iter(ticks) if ticks is not None else None)
        return [{**f.as_json(), "blocked": f.blocked, "unfinished": f.unfinished,
                 "failed": dict(f.failed_per_step), "sent": dict(f.sent_per_step)}
                for f in out]

    together = walk(runs)
    assert together[0] == walk([runs[0]])[0] == together[1]
    assert together[2:] == walk(runs[2:])
