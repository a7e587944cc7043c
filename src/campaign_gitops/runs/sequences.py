"""What a run walks, read from its pinned snapshot: steps, window, limits, recipients.

``RunPlan`` is built once per run from ``campaign_runs.config`` (the resolved
snapshot); tick asks it which template a step uses, who receives a step, whether a
step is skipped for a lead, when the next step is due and how many messages a day
each channel may send. Pure: no database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from campaign_gitops.inbound.tokens import Links
from campaign_gitops.runs.calendar import Window, due_at

# Where each channel delivers, from the lead's fields.
RECIPIENT_FIELD = {"email": "email", "sms": "phone", "voice": "phone",
                   "linkedin": "linkedin_url", "mail": None}
SKIP_RULES = {"phone_missing": "phone", "linkedin_url_missing": "linkedin_url"}
DEFAULT_DAILY_LIMIT = 50


def daily_limit(campaign_spec: Mapping[str, Any], schedule_spec: Mapping[str, Any] | None) -> int:
    """A campaign's daily limit (SPEC): its own ``dailyLimit``, else its schedule's, else 50.
    tick gates by it (``RunPlan.daily_limit``); the web UI shows it."""
    return int(campaign_spec.get("dailyLimit") or (schedule_spec or {}).get("dailyLimit")
               or DEFAULT_DAILY_LIMIT)


@dataclass(frozen=True, slots=True)
class RunPlan:
    run_id: int
    run_name: str
    run_type: str
    campaign_id: int
    campaign: str
    client: str
    steps: tuple[dict[str, Any], ...]
    window: Window
    daily_limit: int
    allocation: dict[str, int] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # Where recipients reach us (publicUrl and the signing keys): tick sets it from
    # campaign-gitops.yaml and the environment; None keeps the unserved legacy link.
    links: Links | None = None

    @classmethod
    def from_config(cls, run_id: int, run_name: str, run_type: str, campaign_id: int,
                    config: dict[str, Any]) -> RunPlan:
        spec = config["campaign"]["spec"]
        schedule = config.get("schedule") or {}
        return cls(
            run_id=run_id, run_name=run_name, run_type=run_type, campaign_id=campaign_id,
            campaign=config["campaign"]["name"], client=config["campaign"]["client"],
            steps=tuple(config.get("steps") or ()),
            window=Window.from_schedule(schedule or None),
            daily_limit=daily_limit(spec, schedule),
            allocation=dict(spec.get("allocation") or {}),
            config=config,
        )

    @property
    def is_test(self) -> bool:
        return self.run_type == "test_run"

    @property
    def primary_channel(self) -> str:
        return str(self.config["campaign"]["spec"].get("channel") or "email")

    def template_for(self, step: dict[str, Any]) -> dict[str, Any] | None:
        """The step's Template, else the campaign's for steps of its primary channel."""
        name = step.get("template")
        templates = self.config.get("templates") or {}
        if name:
            return templates.get(name)  # type: ignore[no-any-return]
        if step["channel"] == self.primary_channel:
            return self.config.get("template")
        return None

    def channel_limit(self, channel: str) -> int:
        """The channel's share of the daily limit (its allocation percent, when set)."""
        if not self.allocation or channel not in self.allocation:
            return self.daily_limit
        return max(1, self.daily_limit * int(self.allocation[channel]) // 100)

    def recipients(self, channel: str, lead: dict[str, Any]) -> list[str]:
        """Who receives this step: the lead's contact, or the testRecipients of a test run."""
        if self.is_test:
            return test_recipients(self.config["campaign"]["spec"].get("testRecipients")
                                   or [], channel)
        key = RECIPIENT_FIELD.get(channel)
        if key is None:
            parts = [lead.get("first_name"), lead.get("last_name"), lead.get("company")]
            address = ", ".join(p for p in parts if p)
            return [address] if address else []
        value = lead.get(key)
        return [str(value)] if value else []

    def skip_reason(self, step: dict[str, Any], lead: dict[str, Any]) -> str | None:
        """The step's first skip rule that applies to the lead (test runs never skip)."""
        if self.is_test:
            return None
        for rule in step.get("skipIf") or ():
            if not lead.get(SKIP_RULES.get(rule, rule)):
                return str(rule)
        return None

    def next_due(self, step_index: int, anchor: dt.datetime,
                 lead_timezone: str | None) -> dt.datetime | None:
        """When step ``step_index`` is due after the previous step at ``anchor``."""
        if self.is_test:
            return anchor
        step = self.steps[step_index]
        return due_at(anchor, int(step.get("delayDays") or 0), self.window, step["channel"],
                      lead_timezone)


def test_recipients(recipients: list[str], channel: str) -> list[str]:
    """The testRecipients able to receive ``channel``: emails or phone numbers."""
    emails = [r for r in recipients if "@" in r]
    phones = [r for r in recipients if "@" not in r]
    if channel == "email":
        return emails
    if channel in ("sms", "voice"):
        return phones
    return list(recipients)
