"""The resolved snapshot a campaign run is pinned to.

A run must keep walking the configuration it started with, whatever the files say
later. ``resolve_campaign`` follows every reference of a campaign entry inside its
client and returns plain canonical JSON (what ``campaign_runs.config`` stores):

    {"campaign": {"client", "name", "spec"}, "client": {...} | None,
     "goal", "segment", "writer", "reviewer", "schedule", "template": {...} | None,
     "steps": [canonical Step, ...],
     "templates": {name: canonical Template spec, ...}}

``steps`` are the campaign's Sequence steps or the default sequence adapted to the
client (``config.sequences.effective_steps``); ``templates`` holds every Template a
step or the campaign names. ``config_hash`` is its content hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from campaign_gitops.config.models import canonical_spec, content_hash
from campaign_gitops.config.sequences import effective_steps

if TYPE_CHECKING:
    from campaign_gitops.config.bundle import Bundle, Entry

# Single references of a campaign that the snapshot embeds, field -> kind.
EMBEDDED: dict[str, str] = {
    "goal": "Goal",
    "segment": "Segment",
    "writer": "Writer",
    "reviewer": "Reviewer",
    "schedule": "Schedule",
    "template": "Template",
}


def _spec_of(bundle: Bundle, client: str, kind: str, name: str | None) -> dict[str, Any] | None:
    entry = bundle.get(client, kind, name)
    return canonical_spec(entry.resource.spec) if entry is not None else None


def resolve_campaign(entry: Entry, bundle: Bundle) -> dict[str, Any]:
    """The campaign with every reference resolved, as canonical JSON."""
    client = entry.key.client
    spec = entry.resource.spec
    client_entry = bundle.get(client, "Client", client)
    resolved: dict[str, Any] = {
        "campaign": {"client": client, "name": entry.key.name, "spec": canonical_spec(spec)},
        "client": canonical_spec(client_entry.resource.spec) if client_entry else None,
    }
    for field_name, kind in EMBEDDED.items():
        resolved[field_name] = _spec_of(bundle, client, kind, getattr(spec, field_name))
    steps = effective_steps(entry, bundle)
    resolved["steps"] = [canonical_spec(step) for step in steps]
    names = {step.template for step in steps if step.template}
    if spec.template:
        names.add(spec.template)
    templates: dict[str, Any] = {}
    for name in sorted(names):
        found = _spec_of(bundle, client, "Template", name)
        if found is not None:
            templates[name] = found
    resolved["templates"] = templates
    return resolved


def config_hash(resolved: dict[str, Any]) -> str:
    """The content hash of a resolved snapshot (what ``campaign_runs.config_hash`` stores)."""
    return content_hash(resolved)


def resolve_with_hash(entry: Entry, bundle: Bundle) -> tuple[dict[str, Any], str]:
    resolved = resolve_campaign(entry, bundle)
    return resolved, config_hash(resolved)
