"""Every preflight rule, listed explicitly: id -> Rule (one small function each)."""

from __future__ import annotations

from campaign_gitops.preflight.registry import Rule
from campaign_gitops.preflight.rules import (
    campaign,
    channels,
    content,
    limits,
    meta,
    references,
    schedule,
    secrets,
    senders,
)

RULES: dict[str, Rule] = {r.id: r for r in (
    campaign.goal_missing,                    # PF001
    campaign.writer_missing,                  # PF002
    campaign.reviewer_missing,                # PF003
    campaign.template_missing,                # PF004
    campaign.segment_missing,                 # PF005
    campaign.not_active,                      # PF006
    campaign.allocation_sum,                  # PF007
    references.unresolved_reference,          # PF008
    campaign.test_run_without_recipients,     # PF009
    references.template_channel,              # PF010
    channels.channel_without_resource,        # PF011
    content.smart_prompt_without_ai,          # PF012
    content.unknown_placeholder,              # PF013
    limits.tier_limit,                        # PF014
    content.email_without_unsubscribe,        # PF015
    secrets.secret_in_file,                   # PF016
    schedule.invalid_schedule,                # PF017
    schedule.quiet_hours,                     # PF018
    channels.step_without_writer,             # PF019
    senders.campaign_without_sender,          # PF020
    senders.sender_domain,                    # PF021
    senders.sender_without_transport,         # PF022
    meta.SCHEMA,
    meta.DISABLE,
)}


def all_rules() -> list[Rule]:
    """Every rule, sorted by id (``lint --list-rules``, SARIF rule metadata)."""
    return sorted(RULES.values(), key=lambda r: r.id)


def get_rule(rule_id: str) -> Rule | None:
    return RULES.get(rule_id)
