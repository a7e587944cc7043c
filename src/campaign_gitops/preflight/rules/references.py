"""Rules on references between resources: they resolve inside the client, channels agree."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry, Key
from campaign_gitops.config.models import CAMPAIGN_REFERENCES, KINDS, CampaignSpec
from campaign_gitops.config.schema import did_you_mean
from campaign_gitops.config.sequences import primary_channel
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, always, rule

NOT_CLIENT = tuple(k for k in KINDS if k != "Client")
_CAMPAIGN_REFERENCES = tuple(CAMPAIGN_REFERENCES.items())


def _hint(name: str, kind: str, candidates: list[str], client: str) -> str:
    close = did_you_mean(name, candidates)
    if close:
        return close
    if not candidates:
        return f"client {client!r} has no {kind} yet: add one or fix the name"
    shown = ", ".join(sorted(candidates)[:5]) + (", ..." if len(candidates) > 5 else "")
    return f"{kind}s of client {client!r}: {shown}"


def _unresolved(ctx: RuleContext, client: str, kind: str, name: str,
                path: tuple[str | int, ...]) -> Hit:
    broken = ctx.bundle.invalid.get(Key(client, kind, name))
    if broken is not None:  # it exists, but its own errors keep it from loading
        return Hit(f"{kind} {name!r} does not load (error at {broken})", path,
                   f"fix the error at {broken} first", value=True)
    return Hit(f"{kind} {name!r} does not exist in client {client!r}", path,
               _hint(name, kind, ctx.names(client, kind), client), value=True)


@rule("PF008", NOT_CLIENT, always(E),
      description="reference to a resource that does not exist in the client")
def unresolved_reference(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """Every reference resolves inside the resource's own client.

    Checked: ``metadata.client`` (a Client of that name exists), a campaign's goal,
    segment, writer, reviewer, template, sequence and schedule, and the templates of
    a Sequence's steps. The hint suggests the closest name of that kind in the client.
    A resource that is in the files but does not load (a schema error, a duplicate key,
    a tag, a syntax error) is named as such, with the place of its first error.
    """
    client = entry.key.client
    if not ctx.has_client(client):
        broken = ctx.bundle.invalid.get(Key(client, "Client", client))
        if broken is not None:
            yield Hit(f"Client {client!r} does not load (error at {broken})",
                      ("metadata", "client"), f"fix the error at {broken} first", value=True)
        else:
            yield Hit(f"client {client!r} does not exist", ("metadata", "client"),
                      did_you_mean(client, ctx.client_names())
                      or f"add a Client resource named {client!r}", value=True)
    spec = entry.resource.spec
    entries = ctx.bundle.entries
    if entry.key.kind == "Campaign":
        for field_name, kind in _CAMPAIGN_REFERENCES:
            name = getattr(spec, field_name)
            if name is not None and (client, kind, name) not in entries:
                yield _unresolved(ctx, client, kind, name, ("spec", field_name))
    elif entry.key.kind == "Sequence":
        for i, step in enumerate(spec.steps):
            name = step.template
            if name is not None and (client, "Template", name) not in entries:
                yield _unresolved(ctx, client, "Template", name, ("spec", "steps", i, "template"))


@rule("PF010", ("Campaign", "Sequence"), always(E),
      description="template channel differs from the step/campaign channel")
def template_channel(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A campaign's ``template`` serves its primary channel; a step's, the step's channel."""
    client, spec = entry.key.client, entry.resource.spec
    if entry.key.kind == "Campaign":
        campaign: CampaignSpec = spec
        template = ctx.get(client, "Template", campaign.template)
        channel = primary_channel(campaign)
        if template is not None and template.resource.spec.channel != channel:
            yield Hit(f"template {campaign.template!r} is for "
                      f"{template.resource.spec.channel}, but the campaign's primary channel "
                      f"is {channel}", ("spec", "template"),
                      f"use a {channel} template, or give the steps their own", value=True)
        return
    for i, step in enumerate(spec.steps):
        template = ctx.get(client, "Template", step.template)
        if template is not None and template.resource.spec.channel != step.channel:
            yield Hit(f"step {i + 1} sends {step.channel} with template {step.template!r}, "
                      f"which is for {template.resource.spec.channel}",
                      ("spec", "steps", i, "template"),
                      f"use a {step.channel} template for this step", value=True)
