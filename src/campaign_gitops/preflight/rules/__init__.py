"""Every preflight rule, listed explicitly: id -> Rule."""

from __future__ import annotations

from campaign_gitops.preflight.registry import Rule
from campaign_gitops.preflight.rules import campaign, meta

RULES: dict[str, Rule] = {r.id: r for r in (
    meta.SCHEMA,
    meta.DISABLE,
    campaign.goal_missing,
    campaign.writer_missing,
    campaign.reviewer_missing,
    campaign.template_missing,
    campaign.segment_missing,
    campaign.not_active,
    campaign.allocation_sum,
    campaign.test_run_without_recipients,
)}
