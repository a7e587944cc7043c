"""The steps a campaign walks: its own Sequence, or the default 5-step sequence.

The default (SPEC section 2): day 0 email intro, day 3 voice connect (skip if the
phone is missing), day 5 LinkedIn connect (skip if the LinkedIn URL is missing),
day 8 email value-add, day 12 SMS breakup (skip if the phone is missing). It keeps
only the campaign's channels that the client has a sending resource for; the days
stay as listed, so ``delayDays`` of a kept step counts from the previous *kept* step
(day 8 after day 0 is ``delayDays: 8`` when the steps in between are dropped).

Used by preflight (PF011, PF019, PF010), plan (the revision's effective steps) and
runs (what an enrollment walks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from campaign_gitops.config.models import CampaignSpec, ClientSpec, Step

if TYPE_CHECKING:
    from campaign_gitops.config.bundle import Bundle, Entry

# (day, channel, purpose, skipIf) of the default sequence, days from the start.
DEFAULT_STEPS: tuple[tuple[int, str, str, tuple[str, ...]], ...] = (
    (0, "email", "intro", ()),
    (3, "voice", "connect", ("phone_missing",)),
    (5, "linkedin", "connect", ("linkedin_url_missing",)),
    (8, "email", "value_add", ()),
    (12, "sms", "breakup", ("phone_missing",)),
)


def default_sequence(campaign: CampaignSpec, client: ClientSpec | None) -> list[Step]:
    """The default 5-step sequence adapted to the campaign's channels and the client.

    With ``client`` None (the client is unknown; preflight reports that as PF008)
    only the campaign's channels filter the steps.
    """
    wanted = set(campaign.channels())
    if client is not None:
        wanted &= client.channels_available()
    steps: list[Step] = []
    previous_day = 0
    for day, channel, purpose, skip_if in DEFAULT_STEPS:
        if channel not in wanted:
            continue
        steps.append(Step(channel=channel, delay_days=day - previous_day,  # type: ignore[arg-type]
                          purpose=purpose, skip_if=list(skip_if)))  # type: ignore[arg-type]
        previous_day = day
    return steps


def primary_channel(campaign: CampaignSpec) -> str:
    """The campaign's primary channel: ``channel``, unless an allocation leaves it out
    (then the allocation's first channel)."""
    if campaign.allocation and campaign.channel not in campaign.allocation:
        return next(iter(campaign.allocation))
    return campaign.channel


def step_template(step: Step, campaign: CampaignSpec) -> str | None:
    """The Template a step is written from: its own, else the campaign's for steps of
    the campaign's primary channel, else none (only an AI writer can write it)."""
    if step.template is not None:
        return step.template
    if step.channel == primary_channel(campaign):
        return campaign.template
    return None


def effective_steps(entry: Entry, bundle: Bundle) -> list[Step]:
    """The steps a campaign entry walks right now.

    Its Sequence's steps when ``sequence`` is set (an empty list when that Sequence
    does not exist in the client: PF008), else the default sequence.
    """
    spec = entry.resource.spec
    if spec.sequence is not None:
        sequence = bundle.get(entry.key.client, "Sequence", spec.sequence)
        return list(sequence.resource.spec.steps) if sequence else []
    return default_sequence(spec, bundle.client_spec(entry.key.client))
