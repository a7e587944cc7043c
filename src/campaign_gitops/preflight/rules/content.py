"""Rules on message content: placeholders and the unsubscribe link."""

from __future__ import annotations

from collections.abc import Iterator

from campaign_gitops.config.bundle import Entry, Key
from campaign_gitops.config.models import CampaignSpec
from campaign_gitops.config.placeholders import (
    PLACEHOLDERS,
    SMART_PLACEHOLDERS,
    Placeholder,
    unclosed_openings,
)
from campaign_gitops.config.schema import did_you_mean
from campaign_gitops.config.unsubscribe import has_unsubscribe_link
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, W, always, rule

TEXT_FIELDS = ("subject", "body")
_KNOWN = sorted(PLACEHOLDERS)


def _texts(template: Entry) -> Iterator[tuple[str, str]]:
    for field_name in TEXT_FIELDS:
        text = getattr(template.resource.spec, field_name, None)
        if text:
            yield field_name, text


@rule("PF012", ("Campaign",), always(E),
      description="{{SMART_PROMPT}} with a writer that is not AI")
def smart_prompt_without_ai(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """``{{SMART_PROMPT}}`` and ``{{SMART_PROMPT_SUBJECT}}`` are filled by an ``anthropic``
    writer; a ``template`` writer would leave them empty. Reported at the placeholder in
    each Template the campaign uses (its own and its steps')."""
    spec: CampaignSpec = entry.resource.spec
    client = entry.key.client
    writer = ctx.get(client, "Writer", spec.writer)
    if writer is None or writer.resource.spec.type == "anthropic":
        return
    for name in ctx.templates_used(entry):
        template = ctx.get(client, "Template", name)
        if template is None:
            continue
        for field_name, text, p in _smart_placeholders(template, ctx):
            where = ctx.locate_in_scalar(template, ("spec", field_name), text, p.offset,
                                         p.length)
            yield Hit(f"{{{{{p.name}}}}} needs an AI writer, but writer {spec.writer!r} "
                      "only renders templates", ("spec", field_name), "use an anthropic "
                      "writer or write the text into the template", location=where,
                      entry=template)


def _smart_placeholders(template: Entry, ctx: RuleContext) -> list[tuple[str, str, Placeholder]]:
    """(field, text, placeholder) of each smart placeholder of a template (cached)."""
    cache: dict[Key, list[tuple[str, str, Placeholder]]] = ctx.memo("PF012", dict)
    found = cache.get(template.key)
    if found is None:
        found = cache[template.key] = [
            (field_name, text, p) for field_name, text in _texts(template)
            for p in ctx.placeholders(template, field_name) if p.name in SMART_PLACEHOLDERS]
    return found


@rule("PF013", ("Template",), always(E), description="unknown placeholder")
def unknown_placeholder(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """Placeholders are ``{{ name }}`` or ``{{ name | fallback }}`` with a known name:
    first_name, last_name, company, title, sender_name, sender_email, unsubscribe_url,
    SMART_PROMPT, SMART_PROMPT_SUBJECT. A ``{{`` that is never closed is reported too."""
    for field_name, text in _texts(entry):
        path = ("spec", field_name)
        for p in ctx.placeholders(entry, field_name):
            if p.name not in PLACEHOLDERS:
                where = ctx.locate_in_scalar(entry, path, text, p.offset, p.length)
                hint = did_you_mean(p.name, _KNOWN) or f"known: {', '.join(_KNOWN)}"
                yield Hit(f"unknown placeholder {{{{{p.name}}}}}", path, hint, location=where)
        for offset in unclosed_openings(text):
            where = ctx.locate_in_scalar(entry, path, text, offset, 2)
            yield Hit("placeholder opened with {{ but never closed with }}", path,
                      "close it: {{ name }} or {{ name | fallback }}", location=where)


@rule("PF015", ("Template",), always(W),
      description="email template without an unsubscribe placeholder or link")
def email_without_unsubscribe(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """An email Template's body carries ``{{unsubscribe_url}}`` or a link that says
    unsubscribe or opt-out (``https://…/unsubscribe?id=1``, ``mailto:…?subject=unsubscribe``;
    ``config/unsubscribe.py``)."""
    spec = entry.resource.spec
    if spec.channel != "email":
        return
    if any(p.name == "unsubscribe_url" for p in ctx.placeholders(entry, "body")):
        return
    if has_unsubscribe_link(spec.body):
        return
    yield Hit(f"email template {entry.key.name!r} has no unsubscribe link", ("spec", "body"),
              "add {{unsubscribe_url}} to the body")
