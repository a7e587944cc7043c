"""Every prompt text sent to Claude, in one module, versioned.

Change ``PROMPT_VERSION`` whenever a text here changes: it is recorded on every
suggested campaign (annotation ``campaign-gitops/suggested-by``), so a reviewer can
tell which prompt produced a file. The client context is assembled from the models
(``ClientSpec``, its ICP and tier), never pasted from YAML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from campaign_gitops.config.models import ClientSpec

PROMPT_VERSION = "suggest-2026-11-22.1"

SUGGEST_TOOL_NAME = "propose_campaigns"
SUGGEST_TOOL_DESCRIPTION = (
    "Propose outbound campaign segments for one client. Each suggestion becomes a "
    "Segment and a draft Campaign file that a person reviews in a pull request."
)

SUGGEST_SYSTEM = """\
You are a B2B outbound strategist. From a client's ideal customer profile (ICP) you \
propose distinct outreach campaigns, each aimed at one coherent segment of buyers.

Rules for every answer:
- Call the propose_campaigns tool exactly once; do not answer in prose.
- Each campaign targets a narrower slice of the ICP than the whole: combine industries, \
titles, company sizes and locations so that the campaigns overlap as little as possible.
- Only use industries, titles, sizes and locations that fit the ICP; every target list \
has at least one entry.
- Company sizes are employee ranges written "11-50", "51-200" or "1000+".
- Names are lowercase letters, digits and hyphens (at most 63 characters, starting and \
ending with a letter or digit), unique, and not one of the names already taken.
- leadAllocationPct is the share of the client's leads each campaign gets: whole \
numbers that add up to exactly 100 over all campaigns.
- priority 1 is the campaign to launch first.
- reasoning explains in two or three sentences why this segment should respond, \
citing the client's pain points or keywords.
"""


@dataclass(frozen=True, slots=True)
class ExistingCampaign:
    """A campaign the client already has, so suggestions do not repeat it."""

    name: str
    type: str
    description: str


def _line(label: str, values: Sequence[str]) -> str:
    return f"- {label}: {', '.join(values) if values else '(not specified)'}"


def client_context(name: str, spec: ClientSpec, channels: Sequence[str],
                   existing: Sequence[ExistingCampaign]) -> str:
    """The client as Claude sees it: tier, channels and ICP, from the models."""
    icp = spec.icp
    lines = [
        f"Client: {name} (tier {spec.tier}, timezone {spec.timezone})",
        _line("Sending channels available", list(channels)),
        "Ideal customer profile:",
        "  " + _line("Industries", icp.industries),
        "  " + _line("Titles", icp.titles),
        "  " + _line("Company sizes", icp.company_sizes),
        "  " + _line("Locations", icp.locations),
        "  " + _line("Pain points", icp.pain_points),
        "  " + _line("Keywords", icp.keywords),
    ]
    if existing:
        lines.append("Existing campaigns (do not repeat them):")
        lines += [f"  - {c.name} ({c.type}): {c.description or 'no description'}"
                  for c in existing]
    return "\n".join(lines)


def suggest_request(context: str, count: int, taken_names: Sequence[str]) -> str:
    """The user turn asking for ``count`` suggestions."""
    taken = ", ".join(sorted(taken_names)) or "(none)"
    return (
        f"{context}\n\n"
        f"Propose exactly {count} campaign(s) for this client. "
        f"Names already taken: {taken}. "
        f"Their leadAllocationPct values must add up to 100."
    )


def invalid_answer_reply(errors: str) -> str:
    """The tool_result (is_error) sent back once when an answer failed validation."""
    return (
        "Your propose_campaigns input was rejected:\n"
        f"{errors}\n"
        "Call propose_campaigns again with the whole corrected list."
    )
