"""The placeholder grammar shared by preflight (PF012, PF013, PF015) and the renderer."""

from __future__ import annotations

import pytest

from campaign_gitops.config.placeholders import (
    MissingPlaceholderValue,
    Placeholder,
    parse_placeholders,
    render,
    unclosed_openings,
)


def test_parse_names_fallbacks_and_offsets() -> None:
    text = "Hi {{first_name | there}}, {{ company }}!{{SMART_PROMPT}}"
    assert parse_placeholders(text) == [
        Placeholder("first_name", "there", 3, 22),
        Placeholder("company", None, 27, 13),
        Placeholder("SMART_PROMPT", None, 41, 16),
    ]


def test_empty_fallback_is_a_fallback() -> None:
    assert parse_placeholders("{{title|}}") == [Placeholder("title", "", 0, 10)]


def test_unclosed_openings() -> None:
    assert unclosed_openings("a {{first_name}} b {{company c") == [19]
    assert unclosed_openings("no braces") == []


def test_render_uses_values_then_fallbacks() -> None:
    text = "Hi {{first_name | there}} at {{company}}"
    assert render(text, {"first_name": "Ada", "company": "Acme"}) == "Hi Ada at Acme"
    assert render(text, {"first_name": "", "company": "Acme"}) == "Hi there at Acme"


def test_render_missing_value_without_fallback_is_a_clear_error() -> None:
    with pytest.raises(MissingPlaceholderValue, match=r"no value for placeholder \{\{company\}\}"):
        render("at {{ company }}", {})
