"""Rules on a campaign's own fields: what it needs before it can run."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.models import CampaignSpec
from campaign_gitops.config.sequences import primary_channel
from campaign_gitops.findings import Severity
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import Conditional, E, Hit, W, always, rule

CAMPAIGN = ("Campaign",)


def _missing(entry: Entry, field_name: str, what: str, hint: str) -> Iterator[Hit]:
    if getattr(entry.resource.spec, field_name) is None:
        yield Hit(f"campaign {entry.key.name!r} has no {what}", ("spec", field_name), hint)


@rule("PF001", CAMPAIGN, always(E), description="goal missing")
def goal_missing(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A campaign needs a ``goal``: what a reply, a meeting or a conversion counts as."""
    yield from _missing(entry, "goal", "goal", "add goal: <name of a Goal of this client>")


@rule("PF002", CAMPAIGN, always(E), description="writer missing")
def writer_missing(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A campaign needs a ``writer``: nothing writes its messages otherwise."""
    yield from _missing(entry, "writer", "writer",
                        "add writer: <name of a Writer of this client>")


@rule("PF003", CAMPAIGN, always(E),
      description="reviewer missing (email, sms, linkedin, mail; not voice)")
def reviewer_missing(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """Every written channel needs a ``reviewer``; a voice-only campaign does not.

    The channels are the campaign's (allocation or channel) and its steps' channels.
    """
    spec: CampaignSpec = entry.resource.spec
    if spec.reviewer is not None:
        return
    channels = set(spec.channels()) | {s.channel for s in ctx.steps(entry)}
    written = sorted(channels - {"voice"})
    if written:
        yield Hit(f"campaign {entry.key.name!r} sends {', '.join(written)} without a reviewer",
                  ("spec", "reviewer"), "add reviewer: <name of a Reviewer of this client>")


def _warning_if_active(entry: Entry) -> Severity:
    return Severity.WARNING if entry.resource.spec.status == "active" else Severity.ERROR


WARNING_IF_ACTIVE = Conditional("warning if the campaign is active, else error",
                                _warning_if_active)


@rule("PF004", CAMPAIGN, {"test_run": WARNING_IF_ACTIVE, "run": E, "schedule": E},
      description="template missing on an email campaign")
def template_missing(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """An email campaign (primary channel email) needs a ``template``: subject and frame."""
    spec: CampaignSpec = entry.resource.spec
    if spec.template is None and primary_channel(spec) == "email":
        yield Hit(f"email campaign {entry.key.name!r} has no template",
                  ("spec", "template"), "add template: <name of an email Template>")


@rule("PF005", CAMPAIGN, {"run": E, "schedule": E}, description="segment missing")
def segment_missing(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A real run allocates leads from the campaign's ``segment``."""
    yield from _missing(entry, "segment", "segment",
                        "add segment: <name of a Segment of this client>")


@rule("PF006", CAMPAIGN, {"lint": W, "run": E, "schedule": E},
      description="campaign not active")
def not_active(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A run starts only on an active campaign; in lint a non-active one is a warning."""
    status = entry.resource.spec.status
    if status != "active":
        yield Hit(f"campaign {entry.key.name!r} is {status}, not active", ("spec", "status"),
                  "set status: active to start its runs",
                  value="status" in entry.resource.spec.model_fields_set)


@rule("PF007", CAMPAIGN, always(E), description="allocation does not sum to 100")
def allocation_sum(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """The percentages of ``allocation`` must add up to exactly 100."""
    allocation = entry.resource.spec.allocation
    if allocation:
        total = sum(allocation.values())
        if total != 100:
            yield Hit(f"allocation sums to {total}, not 100", ("spec", "allocation"),
                      "make the percentages add up to 100")


@rule("PF009", CAMPAIGN, {"test_run": E}, description="test run without testRecipients")
def test_run_without_recipients(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """A test run delivers only to ``testRecipients``: without any it has nowhere to go."""
    if not entry.resource.spec.test_recipients:
        yield Hit(f"campaign {entry.key.name!r} has no testRecipients for a test run",
                  ("spec", "testRecipients"), "add testRecipients: [you@example.com]")
