"""Senders' caps in the forecast (SPEC 9): each sender's ``dailyLimit`` holds across all
the client's campaigns on the client's day, a campaign emails only from the senders it
may use (the client's ``spec.senders`` narrowed by its ``senders``), and ``plan`` reads
the senders from the Client and the campaign as they are now."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from campaign_gitops.reconcile.forecast import (
    Cohort,
    SimRun,
    allowed_senders,
    mailboxes,
    simulate,
)
from campaign_gitops.runs.sequences import RunPlan
from tests.e2e.test_runs_three_weeks import moment_at
from tests.forecast.forecast_helpers import forecast_per_day, three_week_repo

NOW = dt.datetime(2026, 3, 2, 6, 30, tzinfo=dt.UTC)  # a Monday
WEEKDAYS = {"timezone": "UTC", "workHours": {"start": "09:00", "end": "17:00"},
            "workDays": [1, 2, 3, 4, 5]}


def _config(campaign_id: int, caps: list[int], narrow: list[str] | None,
            limit: int = 50, client_tz: str = "UTC") -> dict[str, Any]:
    spec: dict[str, Any] = {"dailyLimit": limit}
    if narrow is not None:
        spec["senders"] = narrow
    return {"campaign": {"client": "acme", "name": f"c{campaign_id}", "spec": spec},
            "client": {"timezone": client_tz, "senders": [
                {"name": f"S{i}", "email": f"S{i}@acme.test", "dailyLimit": cap}
                for i, cap in enumerate(caps)]},
            "schedule": WEEKDAYS, "steps": [{"channel": "email", "delayDays": 0}]}


def _run(run_id: int, config: dict[str, Any], leads: int) -> SimRun:
    plan = RunPlan.from_config(run_id, f"r{run_id}", "run", -run_id, config)
    return SimRun(plan, NOW, (Cohort(leads),))


def _days(forecast: Any) -> list[int]:
    return [n for (_day, _channel), n in sorted(forecast.per_day.items())]


def test_allowed_senders_narrow_the_clients_in_its_order() -> None:
    config = _config(1, [5, 5, 5], ["s2@ACME.test", "s0@acme.test"])
    assert allowed_senders(config) == ("s0@acme.test", "s2@acme.test")
    assert allowed_senders(_config(1, [5], None)) == ("s0@acme.test",)
    assert allowed_senders({"campaign": {"spec": {}}, "client": {}}) == ()
    assert mailboxes({"client": {"senders": []}}) is None


def test_two_senders_of_five_a_day_send_fifteen_leads_in_two_days() -> None:
    config = _config(1, [5, 5], None)
    runs = [_run(1, config, 15)]
    (out,) = simulate(NOW, runs, credits={"acme": 100},
                      senders={"acme": mailboxes(config)})
    assert _days(out) == [10, 5]
    (free,) = simulate(NOW, runs, credits={"acme": 100})  # no senders given: no caps
    assert _days(free) == [15]


def test_caps_hold_across_campaigns_and_a_narrowed_one_waits_for_its_sender() -> None:
    both, only_b = _config(1, [5, 5], None), _config(2, [5, 5], ["s1@acme.test"])
    first, second = simulate(NOW, [_run(1, both, 15), _run(2, only_b, 12)],
                             credits={"acme": 100}, senders={"acme": mailboxes(both)})
    # Monday: the first campaign takes both senders' 10; Tuesday its last 5 (s0 3, s1 2)
    # leave s1 3 for the second; then 5 a day from s1 alone
    assert _days(first) == [10, 5]
    assert [(d.isoformat(), n) for (d, _c), n in sorted(second.per_day.items())] == [
        ("2026-03-03", 3), ("2026-03-04", 5), ("2026-03-05", 4)]


def test_what_a_sender_sent_today_and_the_clients_day_count() -> None:
    config = _config(1, [5, 5], None)
    boxes = mailboxes(config, {"s0@acme.test": 4, "s1@acme.test": 5})
    (out,) = simulate(NOW, [_run(1, config, 12)], credits={"acme": 100},
                      senders={"acme": boxes})
    assert _days(out) == [1, 10, 1]
    # the client's day in Tokyo: 09:00-17:00 UTC Monday straddles two Tokyo days, and
    # the cap counts per Tokyo day (Monday 18:00 Tokyo onwards is Tuesday's share: no)
    tokyo = _config(1, [5], None, client_tz="Asia/Tokyo")
    tokyo["schedule"] = {"timezone": "UTC", "workHours": {"start": "09:00", "end": "17:00"}}
    (out,) = simulate(NOW, [_run(1, tokyo, 12)], credits={"acme": 100},
                      senders={"acme": mailboxes(tokyo)})
    assert _days(out) == [5, 5, 2]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caps=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       narrow=st.lists(st.one_of(st.none(), st.sets(st.integers(0, 2), min_size=1)),
                       min_size=1, max_size=3),
       leads=st.lists(st.integers(0, 60), min_size=3, max_size=3),
       limit=st.integers(1, 40))
def test_no_day_goes_over_the_allowed_senders_caps(
        caps: list[int], narrow: list[set[int] | None], leads: list[int],
        limit: int) -> None:
    configs = [_config(i + 1, caps, None if n is None else [f"s{k}@acme.test" for k in n],
                       limit) for i, n in enumerate(narrow)]
    runs = [_run(i + 1, c, leads[i]) for i, c in enumerate(configs)]
    out = simulate(NOW, runs, credits={"acme": 10 ** 6}, horizon_days=4000,
                   senders={"acme": mailboxes(configs[0])})
    total: Counter[dt.date] = Counter()
    for config, forecast, run in zip(configs, out, runs, strict=True):
        allowed = allowed_senders(config)
        # none of the client's senders allowed: tick sends from the transport's
        # fromAddress (PF020 otherwise), no sender cap
        cap = sum(caps[int(e[1])] for e in allowed) if allowed else limit
        assert all(n <= min(cap, limit) for n in forecast.per_day.values())
        for (day, _channel), n in forecast.per_day.items():
            if allowed:
                total[day] += n
        assert forecast.credits == run.audience  # everyone is reached in the end
    assert all(n <= sum(caps) for n in total.values())


def _with_senders(root: Path, narrow: list[str] | None) -> None:
    """The three-week repo's Client gets two senders (5 and 4 a day); the campaign may
    narrow them."""
    for path in (root / "campaigns").rglob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            if doc and doc["kind"] == "Client":
                doc["spec"]["senders"] = [
                    {"name": "Isla", "email": "isla@mail.acme.test", "dailyLimit": 5},
                    {"name": "Noah", "email": "noah@mail.acme.test", "dailyLimit": 4}]
            if doc and doc["kind"] == "Campaign" and narrow is not None:
                doc["spec"]["senders"] = narrow
        path.write_text("---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs))


@pytest.mark.parametrize(("narrow", "cap"), [(None, 9), (["noah@mail.acme.test"], 4)],
                         ids=["both", "narrowed"])
def test_plan_forecasts_within_the_clients_senders(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        narrow: list[str] | None, cap: int) -> None:
    root, run = three_week_repo(db_url, tmp_path, monkeypatch)
    _with_senders(root, narrow)
    (change,) = [c for c in run.json("plan", "--now", moment_at(0, 7))["changes"]
                 if c["action"] == "run"]
    emails = [c.get("email", 0) for c in forecast_per_day(change["forecast"]).values()]
    # without senders the campaign's email share is 16 a day (40 x 40%)
    assert max(emails) == cap and emails[0] == cap
