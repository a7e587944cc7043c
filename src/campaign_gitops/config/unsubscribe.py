"""The unsubscribe link: the one detector preflight (PF015), the rules reviewer and the
``List-Unsubscribe`` fallback of the SMTP transport use.

A link is an ``http(s)://`` or ``mailto:`` URL, up to a blank, a quote, ``<``, ``>``,
``)`` or ``]`` (so a link in HTML, Markdown or parentheses ends where the link does);
it is an unsubscribe link when it says ``unsubscribe`` or ``opt-out`` (``optout``,
``opt_out``), in any case, anywhere in it: ``https://x.example/Opt-Out/9``,
``mailto:list@x.example?subject=unsubscribe``. The word alone ("reply STOP to
unsubscribe") is no link. The ``{{unsubscribe_url}}`` placeholder is
``config/placeholders.py``'s.
"""

from __future__ import annotations

import re

UNSUBSCRIBE_LINK = re.compile(
    r"(?:https?://|mailto:)[^\s<>\"')\]]*?(?:unsubscribe|opt[-_]?out)[^\s<>\"')\]]*",
    re.IGNORECASE)


def find_unsubscribe_link(text: str) -> str:
    """The first unsubscribe link of ``text``, else ''."""
    found = UNSUBSCRIBE_LINK.search(text)
    return found.group(0) if found else ""


def has_unsubscribe_link(body: str, unsubscribe_url: str = "") -> bool:
    """The body holds the recipient's ``unsubscribe_url``, or an unsubscribe link."""
    if unsubscribe_url and unsubscribe_url in body:
        return True
    return UNSUBSCRIBE_LINK.search(body) is not None
