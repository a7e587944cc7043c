"""Secrets do not belong in git: API keys and passwords anywhere in a document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from campaign_gitops.config.bundle import Entry
from campaign_gitops.config.models import KINDS
from campaign_gitops.preflight.context import RuleContext
from campaign_gitops.preflight.registry import E, Hit, always, rule

# Token formats with a recognisable prefix (anchored so "task-..." is no "sk-...").
_EDGE = r"(?<![A-Za-z0-9_-])"
TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API key", re.compile(_EDGE + r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI-style API key", re.compile(_EDGE + r"sk-(?!ant-)(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("AWS access key id", re.compile(_EDGE + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])")),
    ("GitHub token", re.compile(_EDGE + r"gh[pousr]_[A-Za-z0-9]{30,}")),
    ("Slack token", re.compile(_EDGE + r"xox[abprs]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
# "password: hunter2" inside a text; the value needs a digit or symbol ("Password: click
# here" in an email body is no secret).
INLINE_PASSWORD = re.compile(
    r"(?i)\b(?:password|passwd|pwd|api[_-]?key|secret)\s*[:=]\s*(?=\S*[0-9!@#$%^&*])(\S{6,})")
# Keys whose value is a secret; keys naming where a secret lives (passwordEnv) are fine.
SECRET_KEY = re.compile(
    r"(?i)(?:password|passwd|pwd|secret|api[_-]?key|apikey|token|private[_-]?key|"
    r"access[_-]?key)$")
# Cheap test on the whole document's lowercased repr before the exact walk (a
# case-insensitive pattern is several times slower than lower() and this one).
PREFILTER = re.compile(
    r"sk-|akia|asia|gh[pousr]_|xox|private key|passw|pwd|secret|api[_-]?key|apikey|token|"
    r"access")


def _mask(secret: str) -> str:
    return f"{secret[:6]}… ({len(secret)} characters)"


def _in_text(text: str) -> Iterator[tuple[str, int, int]]:
    """(what, offset, length) of every secret-looking piece of a string."""
    for what, pattern in TOKEN_PATTERNS:
        for m in pattern.finditer(text):
            yield what, m.start(), m.end() - m.start()
    for m in INLINE_PASSWORD.finditer(text):
        yield "password", m.start(1), m.end(1) - m.start(1)


def _walk(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any,
                                                                     str | None]]:
    """(path, scalar, key) of every scalar; key is the mapping key that holds it."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _walk(value, (*path, key))
            else:
                yield (*path, key), value, key
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _walk(value, (*path, i))
            else:
                yield (*path, i), value, None


@rule("PF016", KINDS, always(E),
      description="what looks like a secret (API key, password) in a file")
def secret_in_file(entry: Entry, ctx: RuleContext) -> Iterator[Hit]:
    """No credentials in git: API keys (sk-ant-, sk-, AKIA, ghp_, xox…, private keys), a
    ``password: …`` inside a text, or a key such as ``password``/``apiKey``/``token``
    with a value, anywhere in the document (metadata too). Keep secrets in the
    environment; campaign-gitops.yaml names the variables (``passwordEnv``)."""
    data = entry.document.data
    if not PREFILTER.search(repr(data).lower()):
        return
    for path, value, key in _walk(data, ()):
        if key is not None and SECRET_KEY.search(key) and value not in (None, "", False) \
                and not (isinstance(value, str) and value.lstrip().startswith(("${", "{{"))):
            yield Hit(f"{key!r} holds what looks like a secret ({_mask(str(value))})", path,
                      "keep secrets out of git: use an environment variable", value=True)
            continue
        if not isinstance(value, str):
            continue
        for what, offset, length in _in_text(value):
            where = ctx.locate_in_scalar(entry, path, value, offset, length)
            yield Hit(f"this looks like a {what} ({_mask(value[offset:offset + length])})",
                      path, "remove it and rotate it; keep secrets in the environment",
                      location=where)
