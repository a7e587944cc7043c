"""Rules whose findings are born outside a rule function: in the loader, in the engine."""

from __future__ import annotations

from campaign_gitops.preflight.registry import E, W, always, meta_rule

SCHEMA = meta_rule(
    "SCHEMA", always(E), "JSON Schema violation, duplicate key, unknown field, bad YAML",
    "Reported by the loader and the bundle: YAML syntax, duplicate keys, tags that are not "
    "plain data, bounds, schema violations with a did-you-mean hint, duplicate identities "
    "and client-folder mismatches.")

DISABLE = meta_rule(
    "DISABLE", always(W), "a campaign-gitops/disable annotation that silences nothing",
    "Reported by the engine: the annotation names an unknown rule id, or (in lint) a rule "
    "that reported no warning on this resource, like sqlfluff's unused noqa. Errors can "
    "never be disabled.")
