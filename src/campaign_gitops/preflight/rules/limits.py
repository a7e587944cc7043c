"""Rules on what a client's tier allows."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry, Key
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, always, rule

TYPE_LABEL = {"ai_suggested": "AI-suggested", "custom": "custom"}


def _over_limit(ctx: RuleContext) -> dict[Key, str]:
    """Campaign key -> message, for every campaign beyond its client's tier limit."""
    over: dict[Key, str] = {}
    for client, campaigns in ctx.campaigns_by_client.items():
        client_spec = ctx.client_spec(client)
        if client_spec is None:
            continue  # PF008 reports the missing client
        tier = client_spec.tier
        limits = dict(zip(("ai_suggested", "custom"), ctx.tier_limits(tier), strict=True))
        by_type: dict[str, list[Entry]] = {"ai_suggested": [], "custom": []}
        for entry in campaigns:
            if entry.resource.spec.status != "completed":
                by_type[entry.resource.spec.type].append(entry)
        for kind, entries in by_type.items():
            limit = limits[kind]
            if len(entries) <= limit:
                continue
            entries.sort(key=lambda e: e.key.name)
            for rank, entry in enumerate(entries[limit:], start=limit + 1):
                over[entry.key] = (
                    f"client {client!r} (tier {tier}) allows {limit} {TYPE_LABEL[kind]} "
                    f"campaigns; this is number {rank} of {len(entries)} (by name, not "
                    f"counting completed ones)")
    return over


@rule("PF014", ("Campaign",), always(E),
      description="more campaigns of a type than the client's tier allows")
def tier_limit(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A client's tier caps its campaigns that are not completed, per type: ignition 3
    AI-suggested + 2 custom, velocity 6 + 4, dominance 12 + 8 (``tiers`` in
    campaign-gitops.yaml overrides). The campaigns beyond the cap, by name, are reported.
    """
    over = ctx.memo("PF014", lambda: _over_limit(ctx))
    message = over.get(entry.key)
    if message:
        yield Hit(message, ("spec", "type"), "complete or remove a campaign, or move the "
                  "client to a higher tier", value="type" in entry.resource.spec.model_fields_set)
