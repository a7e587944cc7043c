"""Rules on the steps a campaign walks: a sending resource and a writer for each."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.models import CampaignSpec
from campaign_gitops.config.sequences import step_template
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, W, always, rule

# The Client resource field that lets a channel send.
CHANNEL_RESOURCE = {"email": "emailDomain", "sms": "phoneNumber", "voice": "phoneNumber",
                    "linkedin": "linkedinSeat"}


def _resource(channel: str) -> str:
    return CHANNEL_RESOURCE.get(channel, "sending resource")


@rule("PF011", ("Campaign",), {"lint": W, "test_run": W, "run": E, "schedule": E},
      description="step channel the client has no resource for, without a skip rule")
def channel_without_resource(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """Each step's channel needs the client's sending resource (emailDomain, phoneNumber,
    linkedinSeat), unless the step has a ``skipIf``.

    A campaign on the default sequence is checked on its own channels: the default
    sequence drops the steps of a channel the client cannot send on, so such a channel
    would silently send nothing.
    """
    client = ctx.client_spec(entry.key.client)
    if client is None:
        return  # PF008 reports the missing client
    available = client.channels_available()
    spec: CampaignSpec = entry.resource.spec
    name = entry.key.client
    if spec.sequence is None:
        for channel in spec.channels():
            if channel not in available:
                path = ("spec", "allocation", channel) if spec.allocation else ("spec", "channel")
                needed = _resource(channel)
                yield Hit(f"client {name!r} has no {needed}, so the default "
                          f"sequence drops every {channel} step of this campaign", path,
                          f"add resources.{needed} to client {name!r} or "
                          f"remove {channel} from the campaign",
                          value=not spec.allocation and "channel" in spec.model_fields_set)
        return
    sequence = ctx.get(name, "Sequence", spec.sequence)
    if sequence is None:
        return  # PF008
    for i, step in enumerate(ctx.steps(entry)):
        if step.channel not in available and not step.skip_if:
            needed = _resource(step.channel)
            yield Hit(f"step {i + 1} sends {step.channel}, but client {name!r} has no "
                      f"{needed}", ("spec", "steps", i, "channel"),
                      f"add resources.{needed} to the client or a "
                      "skipIf to the step", value=True, entry=sequence)


def _default_day(step_index: int, entry: Entry, ctx: RuleContext) -> int:
    steps = ctx.steps(entry)
    return sum(s.delay_days for s in steps[:step_index + 1])


@rule("PF019", ("Campaign",), always(E),
      description="a step with neither a Template nor an AI writer (nothing can write it)")
def step_without_writer(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A ``template`` writer only renders Templates: every step needs one (its own, or the
    campaign's ``template`` for steps of the campaign's primary channel). An
    ``anthropic`` writer writes the whole message where there is no Template.
    """
    spec: CampaignSpec = entry.resource.spec
    client = entry.key.client
    writer = ctx.get(client, "Writer", spec.writer)
    if writer is None or writer.resource.spec.type == "anthropic":
        return  # PF002 / PF008 report a missing writer
    sequence = ctx.get(client, "Sequence", spec.sequence)
    for i, step in enumerate(ctx.steps(entry)):
        if step_template(step, spec) is not None:
            continue
        if sequence is not None:
            yield Hit(f"step {i + 1} ({step.channel}) has no template, and writer "
                      f"{spec.writer!r} of a campaign using this sequence is not an AI writer",
                      ("spec", "steps", i), "give the step a template or use an anthropic "
                      "writer", entry=sequence)
        else:
            day = _default_day(i, entry, ctx)
            yield Hit(f"the default sequence's {step.channel} {step.purpose} step (day {day}) "
                      f"has no template, and writer {spec.writer!r} is not an AI writer",
                      ("spec", "writer"), "use an anthropic writer, a sequence with a template "
                      f"per step, or drop {step.channel} from the campaign", value=True)

