"""Template placeholders: the one grammar preflight checks and the runs' renderer uses.

Grammar: ``{{ name }}`` or ``{{ name | fallback }}`` (spaces optional). The fallback is
used when the value is missing or empty. ``{{`` without a closing ``}}`` is *unclosed*
(see ``unclosed_openings``); preflight reports it as PF013.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from campaign_gitops.findings import CampaignGitopsError

PLACEHOLDERS: frozenset[str] = frozenset({
    "first_name", "last_name", "company", "title", "sender_name", "sender_email",
    "unsubscribe_url", "SMART_PROMPT", "SMART_PROMPT_SUBJECT",
})
# Filled by an AI writer, never by the template renderer.
SMART_PLACEHOLDERS: frozenset[str] = frozenset({"SMART_PROMPT", "SMART_PROMPT_SUBJECT"})

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}|]*?)\s*(?:\|\s*([^{}]*?)\s*)?\}\}")


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    fallback: str | None
    offset: int  # where ``{{`` starts in the text (0-based)
    length: int  # of the whole ``{{ ... }}``


class MissingPlaceholderValue(CampaignGitopsError):
    """A placeholder without fallback has no value to render."""

    exit_code = 1


def parse_placeholders(text: str) -> list[Placeholder]:
    """Every well-formed placeholder of ``text``, in order."""
    if "{{" not in text:
        return []
    return [Placeholder(m.group(1), m.group(2), m.start(), m.end() - m.start())
            for m in _PLACEHOLDER.finditer(text)]


def unclosed_openings(text: str) -> list[int]:
    """Offsets of ``{{`` that start no well-formed placeholder."""
    if "{{" not in text:
        return []
    covered = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
    bad: list[int] = []
    start = text.find("{{")
    while start != -1:
        inside = next((end for s, end in covered if s <= start < end), None)
        if inside is None:
            bad.append(start)
            start = text.find("{{", start + 2)
        else:
            start = text.find("{{", inside)
    return bad


def render(text: str, values: Mapping[str, str | None]) -> str:
    """Fill every placeholder from ``values`` (missing or empty: the fallback).

    Raises MissingPlaceholderValue when a placeholder has neither a value nor a fallback.
    """
    def fill(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        value = values.get(name)
        if value:
            return value
        if fallback is not None:
            return fallback
        if value is not None:  # present but empty, no fallback: render it empty
            return value
        raise MissingPlaceholderValue(
            f"no value for placeholder {{{{{name}}}}}",
            hint=f"give it a fallback, e.g. {{{{{name} | there}}}}, or provide {name!r}")

    if "{{" not in text:
        return text
    return _PLACEHOLDER.sub(fill, text)
