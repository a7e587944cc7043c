"""A campaign's daily limit has one home (runs/sequences.daily_limit): tick's RunPlan and
the web UI's overview read it there."""

from __future__ import annotations

from typing import Any

import pytest

from campaign_gitops.runs.sequences import DEFAULT_DAILY_LIMIT, RunPlan, daily_limit


@pytest.mark.parametrize(("campaign", "schedule", "limit"), [
    ({"dailyLimit": 60}, {"dailyLimit": 80}, 60),  # the campaign's own wins
    ({}, {"dailyLimit": 80}, 80),  # else its schedule's
    ({}, {}, DEFAULT_DAILY_LIMIT),
    ({}, None, DEFAULT_DAILY_LIMIT),  # no schedule
    ({"dailyLimit": None}, {"dailyLimit": 25}, 25),
])
def test_daily_limit_is_the_campaigns_else_its_schedules_else_50(
        campaign: dict[str, Any], schedule: dict[str, Any] | None, limit: int) -> None:
    assert DEFAULT_DAILY_LIMIT == 50
    assert daily_limit(campaign, schedule) == limit
    config = {"campaign": {"name": "q1", "client": "acme", "spec": campaign},
              "schedule": schedule}
    assert RunPlan.from_config(1, "launch", "run", 1, config).daily_limit == limit
