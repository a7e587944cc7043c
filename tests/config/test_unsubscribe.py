"""One unsubscribe-link detector: PF015, the rules reviewer and List-Unsubscribe agree."""

from __future__ import annotations

import pytest

from campaign_gitops.config.unsubscribe import find_unsubscribe_link, has_unsubscribe_link


@pytest.mark.parametrize(("body", "link"), [
    ("Opt out: https://mail.example/unsubscribe?u=1", "https://mail.example/unsubscribe?u=1"),
    ("Any thoughts? https://acme.test/email/Unsubscribe?id=1.",
     "https://acme.test/email/Unsubscribe?id=1."),
    ("<a href=\"https://x.example/Opt-Out/9\">stop</a>", "https://x.example/Opt-Out/9"),
    ("[stop](https://x.example/optout) or (http://y.example/opt_out)",
     "https://x.example/optout"),
    ("mailto:list@acme.example?subject=unsubscribe",
     "mailto:list@acme.example?subject=unsubscribe"),
    ("see https://acme.example/pricing then https://acme.example/u/unsubscribe",
     "https://acme.example/u/unsubscribe"),
    ("To unsubscribe, reply STOP.", ""),  # the word, but no link
    ("https://acme.example/pricing", ""),
    ("ftp://acme.example/unsubscribe", ""),
])
def test_the_first_link_that_says_unsubscribe(body: str, link: str) -> None:
    assert find_unsubscribe_link(body) == link
    assert has_unsubscribe_link(body) is bool(link)


def test_the_recipients_own_link_counts_whatever_it_says() -> None:
    own = "https://acme.example/u/abc123"
    assert has_unsubscribe_link(f"bye: {own}", own)
    assert not has_unsubscribe_link(f"bye: {own}")
